"""Exact counterexamples: a rational parameter point, a data point and a concrete loss.

The residual (e.g. dQ/dt) was derived with an undefined loss; it is evaluated at a rational point
with a concrete loss: the model's chosen loss, or ell(y) = 1/2 ||y - t||^2 when the loss was left
open. Its derivatives (dl_j = f_j(x) - t_j for the square loss) are computed exactly from the
forward pass (``verify.model.chosen_loss``). Activation regions are fixed by the exact sign of each
pre-activation at the point. A rational value is exact; a transcendental one (tanh, softplus) is
certified non-zero by mpmath evaluation in ``strict`` mode (SymPy raises if it cannot guarantee
the requested digits), then checked against a margin far above the guaranteed error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp
from typing import Any

from verify.certificates import Witness
from verify.model.chosen_loss import derivatives, formula
from verify.interpret.symbolic import SymbolicNet

__all__ = ["WITNESS_MAX_DEGREE", "find_witness", "rational_point", "CERTIFY_DIGITS"]

#: Largest polynomial degree at which an exact rational witness is searched for (both routes): the exact
#: numbers at a rational point grow like degree x bits (z**64 through 3 layers is degree 262,144, issue 15).
WITNESS_MAX_DEGREE = 256

#: Digits requested from strict evalf; a value is called non-zero only if |v| > 10**-(CERTIFY_DIGITS//2).
CERTIFY_DIGITS = 40


def _rational(rng: np.random.Generator, positive: bool = False) -> sp.Rational:
    # Small numerators/denominators keep witnesses readable and exact arithmetic cheap.
    num = int(rng.integers(1 if positive else -5, 6))
    den = int(rng.integers(1, 4))
    return sp.Rational(num if num != 0 else 1, den)


def rational_point(net: SymbolicNet, rng: np.random.Generator, extra: Sequence[sp.Symbol] = (),
                   positive: bool = False):
    """A random rational point: parameters, inputs, targets and region values (None on a kink).

    ``positive=True`` draws positive parameters and inputs, so every ReLU unit is active: a residual
    that vanishes whenever some unit is off is still caught.
    """
    subs = {t: _rational(rng, positive) for t in net.theta}
    for x in net.inputs:
        subs.update({s: _rational(rng, positive) for s in x})
    for e in extra:
        subs[e] = sp.Rational(1, int(rng.integers(2, 11)))
    regions: dict = {}
    for r in net.regions:
        z = r.preactivation.xreplace(subs).xreplace(regions)
        # Avoid kinks (z == 0, or a max-pooling tie: region_value None): a witness should not
        # depend on a subgradient choice. A norm of 0 is likewise undefined.
        value = None if z == 0 else r.activation.region_value(z)
        if value is None:
            return None
        regions[r.symbol] = value
    subs.update(regions)
    targets = []
    for out, names in zip(net.outputs, net.loss_derivatives):
        dl, t = derivatives(net.model.loss, [out[j].xreplace(subs) for j in range(out.rows)], rng, _rational)
        targets.append(t)
        subs.update(zip(names, dl))
    return subs, regions, targets


def _certify(value: sp.Expr) -> tuple[bool, float, str]:
    if value.is_Rational:
        return value != 0, float(value), "exact rational"
    try:
        approx = value.evalf(CERTIFY_DIGITS, strict=True)
    except (sp.core.evalf.PrecisionExhausted, OverflowError):  # exp(exp(...)): too many digits
        return False, float("nan"), "could not certify"
    if not approx.is_real:
        # sqrt of a negative value at this point (the quantity's domain ends here): not a witness
        return False, float("nan"), "not real at this point"
    ok = abs(approx) > sp.Float(10) ** (-(CERTIFY_DIGITS // 2))
    return bool(ok), float(approx), f"non-zero certified by {CERTIFY_DIGITS}-digit strict evaluation"


def find_witness(residuals: Sequence[tuple[str, sp.Expr]], net: SymbolicNet, *, seed: int = 0,
                 tries: int = 12, extra: Sequence[sp.Symbol] = ()) -> tuple[Witness | None, float]:
    """Search rational points for an entry with an exactly non-zero residual.

    Returns:
        (witness or None, largest |residual| seen, as float evidence for an Undecided verdict).
    """
    rng = np.random.default_rng(seed)
    largest = 0.0
    for attempt in range(tries):
        try:
            drawn = rational_point(net, rng, extra, positive=attempt % 2 == 1)
        except OverflowError:  # exp(exp(exp(z))) at a rational point: too many digits to draw targets
            continue
        if drawn is None:
            continue
        subs, regions, targets = drawn
        for label, expr in residuals:
            value = expr.xreplace(subs)
            nonzero, approx, how = _certify(value)
            if approx == approx:
                largest = max(largest, abs(approx))
            if nonzero:
                params: dict[str, Any] = {name: [[str(subs[s]) for s in M.row(i)] for i in range(M.rows)]
                          for name, M in net.params.items()}
                params.update({str(e): str(subs[e]) for e in extra})
                return Witness(
                    params=params,
                    data=[[str(subs[s]) for s in x] for x in net.inputs],
                    loss=f"{formula(net.model.loss)} with t = {targets}",
                    regions={str(k): str(v) for k, v in regions.items()},
                    entry=label, value=str(value), value_float=approx, certified=how,
                ), largest
    return None, largest
