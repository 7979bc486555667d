"""``verify.check``: the property-testing job for a user's model and quantity.

The quantity is text in the safe quantity language (``verify.lang.quantity``; never evaluated) or a
``verify.prove.concrete.Quantity``. The verdict is the same certificate the proof job returns.

Two routes (``method``): ``symbolic`` expands the residual in SymPy (``Proven`` is a polynomial
identity); ``randomized`` evaluates the forward and backward pass exactly in a prime field at random
points (``ProvenRandomized``, with its error probability; ``verify.prove.randomized``). ``auto``
takes the symbolic route for models of at most ``AUTO_SYMBOLIC_MAX_ENTRIES`` parameter entries
(times data points) and the randomized one above. A verdict of the randomized route says so (its
kind, or "[randomized route]" in the title); where a layer, the loss or the quantity has no exact
form in a prime field (a norm of values that already hold a square root, a norm of a rational
function, sqrt / abs / exp / log / tanh inside the quantity), the symbolic route is taken and the
title says why.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from verify.certificates import Verdict
from verify.model import Model
from verify.prove.concrete import DEFAULT_BUDGET_OPS, Quantity, prove_conserved

__all__ = ["check", "as_quantity", "exact_build", "METHODS", "AUTO_SYMBOLIC_MAX_ENTRIES", "choose_method"]

Method = Literal["symbolic", "randomized", "auto"]
METHODS = ("symbolic", "randomized", "auto")
#: ``auto`` expands symbolically up to this many parameter entries x data points. From
#: benchmarks/bench_randomized.py: the randomized route is faster at every width, but up to here the
#: symbolic route takes about a second (3-w-2 ReLU with bias, 50 entries at w = 8: 1.25 s under load)
#: and its certificate is deterministic; above it the symbolic route grows much faster (w = 64: 10.6 s).
AUTO_SYMBOLIC_MAX_ENTRIES = 64


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
    return _TextQuantity(quantity, build)


def exact_build(quantity: str | Quantity, model: Model):
    """The quantity's ``build`` on exact matrices (``verify.prove.exact_quantity``): text goes through
    the exact interpreter of the quantity language; a ``Quantity`` object's own ``build`` is used as is."""
    if isinstance(quantity, Quantity):
        if not isinstance(quantity, _TextQuantity):
            return quantity.build
        quantity = quantity.text
    from verify.lang.quantity import parse_quantity
    from verify.lang.quantity_exact import exact_builder
    shapes = {p.name: p.shape for p in model.params}
    shapes.update({f"{p.name}_dot": p.shape for p in model.params})
    build = exact_builder(parse_quantity(quantity), shapes)
    return lambda P: {_label(key): val for key, val in build(P).items()}


@dataclasses.dataclass(frozen=True)
class _TextQuantity(Quantity):
    """A quantity made from text by ``as_quantity`` (the exact route parses the text again)."""


def choose_method(model: Model, n_data: int = 1) -> str:
    """``auto``'s choice: symbolic for small models, randomized above (see the module docstring)."""
    size = sum(_entries(p.shape) for p in model.params) * n_data
    return "symbolic" if size <= AUTO_SYMBOLIC_MAX_ENTRIES else "randomized"


def _entries(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _label(key) -> str:
    return "[" + ",".join(f"{a}={b}" for a, b in key) + "]" if key else ""


def check(model: Model, quantity: str | Quantity, *, dynamics: str = "flow", weight_decay=None, seed: int = 0,
          budget_ops: int = DEFAULT_BUDGET_OPS, n_data: int = 1, loss: str | None = None,
          method: Method = "auto", points: int | None = None) -> Verdict:
    """Conserved or not, with a certificate (``Proven``, or ``ProvenRandomized`` from the randomized
    route / ``Refuted`` with exact witness / ``Undecided``).

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
        method: ``symbolic``, ``randomized`` or ``auto`` (see the module docstring).
        points: points of the randomized test (default ``verify.prove.randomized.POINTS``).
    """
    from verify.errors import BadInput
    if method not in METHODS:
        raise BadInput(f"Got method={method!r}; use one of {', '.join(METHODS)}.")
    if loss is not None:
        model = dataclasses.replace(model, loss=loss)
    q = as_quantity(quantity, model)

    def symbolic() -> Verdict:
        return prove_conserved(model, q, dynamics=dynamics, weight_decay=weight_decay, seed=seed,
                               budget_ops=budget_ops, n_data=n_data, claim_id="check",
                               title=f"{q.text} on {model.name}")
    route = choose_method(model, n_data) if method == "auto" else method
    if route == "symbolic":
        return symbolic()
    from verify.model.layers._base import NoExactForm
    from verify.prove.randomized import POINTS, prove_randomized
    try:
        return prove_randomized(model, q, build=exact_build(q, model), dynamics=dynamics, weight_decay=weight_decay,
                                seed=seed, n_data=n_data, claim_id="check", title=f"{q.text} on {model.name}",
                                points=POINTS if points is None else points,
                                # a witness from the symbolic route only where that route is quick
                                fallback=symbolic if choose_method(model, n_data) == "symbolic" else None)
    except NoExactForm as exc:
        v = symbolic()
        return dataclasses.replace(v, title=f"{v.title} [symbolic route: the randomized route has no exact form here: "
                                            f"{exc}]")


