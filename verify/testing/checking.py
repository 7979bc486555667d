"""``verify.check``: the property-testing job for a user's model and quantity.

The quantity is text in the safe quantity language (``verify.lang.quantity``; never evaluated) or a
``verify.prove.concrete.Quantity``. The verdict is the same certificate the proof job returns.
"""

from __future__ import annotations

import dataclasses

from verify.certificates import Verdict
from verify.model import Model
from verify.prove.concrete import DEFAULT_BUDGET_OPS, Quantity, prove_conserved

__all__ = ["check", "as_quantity"]


def as_quantity(quantity: str | Quantity, model: Model) -> Quantity:
    """Parse quantity text against ``model``'s parameter shapes (velocities ``<name>_dot`` allowed)."""
    if isinstance(quantity, Quantity):
        return quantity
    from verify.lang.quantity import instantiate, parse_quantity
    q = parse_quantity(quantity)
    shapes = {p.name: p.shape for p in model.params}
    shapes.update({f"{p.name}_dot": p.shape for p in model.params})

    def build(P):
        present = {k: v for k, v in P.items() if k in q.names or k in shapes}
        out = instantiate(q, present, shapes={k: shapes[k] for k in present})
        return {_label(key): val for key, val in out.items()}
    return Quantity(quantity, build)


def _label(key) -> str:
    return "[" + ",".join(f"{a}={b}" for a, b in key) + "]" if key else ""


def check(model: Model, quantity: str | Quantity, *, dynamics: str = "flow", weight_decay=None, seed: int = 0,
          budget_ops: int = DEFAULT_BUDGET_OPS, n_data: int = 1, loss: str | None = None) -> Verdict:
    """Conserved or not, with a certificate (``Proven`` / ``Refuted`` with exact witness / ``Undecided``).

    Args:
        model: a ``verify.model.Model`` (Python API or ``verify.lang.spec.load_spec``).
        quantity: e.g. ``"sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"``; a free index means
            "for every i", a matrix value means "every entry".
        dynamics: ``flow``, ``gd`` (Q must not change in one step) or ``momentum`` (heavy-ball flow;
            the quantity may use velocities ``<param>_dot``).
        weight_decay: None, ``True`` (symbolic lambda) or a number.
        budget_ops: residuals larger than this many operations are not expanded (-> Undecided
            unless a witness is found).
        loss: overrides ``model.loss`` (square, logistic, exponential, cross_entropy); with
            neither, the loss is arbitrary and a proof covers every loss.
    """
    if loss is not None:
        model = dataclasses.replace(model, loss=loss)
    q = as_quantity(quantity, model)
    return prove_conserved(model, q, dynamics=dynamics, weight_decay=weight_decay, seed=seed,
                           budget_ops=budget_ops, n_data=n_data, claim_id="check",
                           title=f"{q.text} on {model.name}")


