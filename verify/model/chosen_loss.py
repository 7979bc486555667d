"""A loss the user chose (``Model.loss``), on the symbolic side.

Residuals are derived with an undefined loss whose output derivatives dl{p}_{j} are free symbols
(``verify.interpret.symbolic``). A chosen loss restricts what those derivatives can be:

* ``square`` with real targets t: dl = y - t takes every value, so nothing changes;
* ``logistic`` / ``exponential`` (one output, labels t = +-1): dl = -t*sigmoid(-t*y) or
  -t*exp(-t*y), a non-zero scalar; a proof for free dl covers it (no substitution);
* ``cross_entropy`` with targets summing to 1 (one-hot labels): dl_j = softmax(y)_j - t_j, so
  sum_j dl_j = 0 at every point. ``constraint`` substitutes the last dl by minus the sum of the
  others, so a quantity conserved only thanks to that (e.g. the sum of the output biases) is proven.

Proofs with the constraint are sufficient conditions: zero for every dl in the hyperplane implies
zero for the loss. Refutations always use the chosen loss itself, evaluated exactly at the witness
(``derivatives``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp

__all__ = ["constraint", "derivatives", "formula"]

_FORMULAS = {
    None: "ell(y) = 1/2*||y - t||^2",
    "square": "ell(y) = 1/2*||y - t||^2",
    "logistic": "ell(y) = log(1 + exp(-t*y))",
    "exponential": "ell(y) = exp(-t*y)",
    "cross_entropy": "ell(y) = -log(softmax(y)_t) (cross-entropy, class index t)",
}


def formula(loss: str | None) -> str:
    """The loss a witness uses, as text (the square loss when the loss was left open)."""
    return _FORMULAS[loss]


def constraint(loss: str | None, loss_derivatives: Sequence[Sequence[sp.Symbol]]) -> tuple[dict, str]:
    """Substitution for the dl symbols implied by ``loss``, and the reason to cite ('' if none)."""
    if loss != "cross_entropy":
        return {}, ""
    subs = {}
    for dls in loss_derivatives:
        subs[dls[-1]] = -sp.Add(*dls[:-1])
    return subs, ("cross-entropy with targets summing to 1: dl_j = softmax(y)_j - t_j, "
                  "so sum_j dl_j = 0 at every point (last dl replaced by minus the others)")


def derivatives(loss: str | None, y: Sequence[sp.Expr], rng: np.random.Generator,
                draw_rational) -> tuple[list[sp.Expr], object]:
    """Exact dl at outputs ``y`` for a drawn target: (dl list, target).

    ``draw_rational(rng)`` draws a small rational (targets of the square loss).
    """
    if loss in (None, "square"):
        t = [draw_rational(rng) for _ in y]
        return [yj - tj for yj, tj in zip(y, t)], t
    if loss in ("logistic", "exponential"):
        label = int(rng.choice([-1, 1]))
        m = label * y[0]
        return [-label / (1 + sp.exp(m)) if loss == "logistic" else -label * sp.exp(-m)], label
    c = int(rng.integers(len(y)))
    total = sp.Add(*[sp.exp(yj) for yj in y])
    dl = [sp.exp(yj) / total - (1 if j == c else 0) for j, yj in enumerate(y)]
    return dl, c
