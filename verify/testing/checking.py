"""``verify.check``: the property-testing job for a user's model and quantity.

The quantity is text in the safe quantity language (``verify.lang.quantity``; never evaluated), the
same text already parsed (``verify.lang.quantity.parse_quantity``), or a
``verify.prove.concrete.Quantity``. Under GD the claimed increment is text in the same language, where
``G_<param>`` names the loss gradient dL/d<param> (e.g. ``G_W1``) and ``eta`` the step, or a
``verify.prove.concrete.Increment``. The verdict is the same certificate the proof job returns.
"""

from __future__ import annotations

import dataclasses

from verify.certificates import Verdict
from verify.lang.quantity import Quantity as ParsedQuantity
from verify.model import Model
from verify.prove.concrete import DEFAULT_BUDGET_OPS, Increment, Quantity, prove_conserved

__all__ = ["check", "as_quantity", "as_increment", "STEP_NAME", "GRADIENT_PREFIX"]

#: Names the increment language adds to the parameters: the step and the gradients G_<param>.
STEP_NAME = "eta"
GRADIENT_PREFIX = "G_"


def as_quantity(quantity: str | ParsedQuantity | Quantity, model: Model) -> Quantity:
    """Parse quantity text (or take it parsed) against ``model``'s parameter shapes (velocities
    ``<name>_dot`` allowed)."""
    if isinstance(quantity, Quantity):
        return quantity
    from verify.lang.quantity import instantiate, parse_quantity
    q = quantity if isinstance(quantity, ParsedQuantity) else parse_quantity(quantity)
    shapes = {p.name: p.shape for p in model.params}
    shapes.update({f"{p.name}_dot": p.shape for p in model.params})

    def build(P):
        present = {k: v for k, v in P.items() if k in q.names or k in shapes}
        out = instantiate(q, present, shapes={k: shapes[k] for k in present})
        return {_label(key): val for key, val in out.items()}
    return Quantity(q.text, build)


def as_increment(increment: str | Increment, model: Model) -> Increment:
    """Parse a GD increment: the quantity language over the parameters, ``G_<param>`` (the loss
    gradient, same shape as the parameter) and the step ``eta``; e.g.
    ``eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)``."""
    if isinstance(increment, Increment):
        return increment
    from verify.errors import BadInput
    from verify.lang.quantity import instantiate, parse_quantity, quantity_shape
    shapes = {p.name: p.shape for p in model.params}
    grads = {f"{GRADIENT_PREFIX}{name}": name for name in shapes}
    clash = sorted(n for n in (*grads, STEP_NAME) if n in shapes)
    if clash:
        raise BadInput(f"increment: the model has a parameter named {clash[0]!r}, which the increment language "
                       f"reserves for {'the GD step' if clash[0] == STEP_NAME else 'a loss gradient'}; rename the "
                       "parameter in the spec.")
    all_shapes = {**shapes, **{g: shapes[p] for g, p in grads.items()}, STEP_NAME: ()}
    try:
        q = parse_quantity(increment)
        quantity_shape(q, all_shapes)  # unknown names and shape errors now, not mid-proof
    except BadInput as exc:
        # Same grammar as the quantity: say which of the two texts the message is about.
        text = str(exc)
        text = text.removeprefix("quantity: ").replace("the quantity", "the increment")
        exc.args = ("increment: " + text,)
        raise

    def build(P, G, eta):
        values = {**P, **{g: G[p] for g, p in grads.items()}, STEP_NAME: eta}
        present = {k: v for k, v in values.items() if k in q.names or k in all_shapes}
        out = instantiate(q, present, shapes={k: all_shapes[k] for k in present})
        return {_label(key): val for key, val in out.items()}
    return Increment(increment, build)


def _label(key) -> str:
    return "[" + ",".join(f"{a}={b}" for a, b in key) + "]" if key else ""


def check(model: Model, quantity: str | ParsedQuantity | Quantity, *, dynamics: str = "flow", weight_decay=None,
          seed: int = 0, budget_ops: int = DEFAULT_BUDGET_OPS, n_data: int | None = None, loss: str | None = None,
          increment: str | Increment | None = None) -> Verdict:
    """Conserved or not, with a certificate (``Proven`` / ``Refuted`` with exact witness / ``Undecided``).

    Args:
        model: a ``verify.model.Model`` (Python API or ``verify.lang.spec.load_spec``).
        quantity: e.g. ``"sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"``, or that text parsed by
            ``parse_quantity``; a free index means "for every i", a matrix value means "every entry".
        dynamics: ``flow``, ``gd`` (one step changes Q by ``increment``, default 0) or ``momentum``
            (heavy-ball flow; the quantity may use velocities ``<param>_dot``).
        increment: GD only: the claimed exact change of Q in one step, e.g.
            ``"eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)"`` (``G_<param>`` = dL/d<param>, ``eta`` = step).
        n_data: data points of the symbolic batch; default 1 for flow / momentum (dQ/dt is linear
            in L) and, for GD, the residual's degree in the gradient, at least 2 (``verify.prove.batch``).
        weight_decay: None, ``True`` (symbolic lambda) or a number.
        budget_ops: residuals larger than this many operations are not expanded (-> Undecided
            unless a witness is found).
        loss: overrides ``model.loss`` (square, logistic, exponential, cross_entropy); with
            neither, the loss is arbitrary and a proof covers every loss.
    """
    if loss is not None:
        model = dataclasses.replace(model, loss=loss)
    q = as_quantity(quantity, model)
    inc = as_increment(increment, model) if increment is not None else None
    return prove_conserved(model, q, dynamics=dynamics, weight_decay=weight_decay, seed=seed,
                           budget_ops=budget_ops, n_data=n_data, claim_id="check", increment=inc,
                           title=f"{q.text} on {model.name}")


