"""``verify.check``: the property-testing job for a user's model and quantity.

The quantity is text in the safe quantity language (``verify.lang.quantity``; never evaluated), the
same text already parsed (``verify.lang.quantity.parse_quantity``), or a
``verify.prove.concrete.QuantityFn``. Under GD the claimed increment is text in the same language, where
``G_<param>`` names the loss gradient dL/d<param> (e.g. ``G_W1``) and ``eta`` the step, or a
``verify.prove.concrete.Increment``. The verdict is the same certificate the proof job returns.

Two routes (``method``): ``symbolic`` expands the residual in SymPy (``Proven`` is a polynomial
identity); ``randomized`` evaluates the forward and backward pass exactly in a prime field at random
points (``ProvenRandomized``, with its error probability; ``verify.prove.randomized``). ``auto``
takes the symbolic route for models of at most ``AUTO_SYMBOLIC_MAX_ENTRIES`` parameter entries
(times data points) and the randomized one above. A verdict of the randomized route says so (its
kind, or "[randomized route]" in the title); where a layer, the loss or the quantity has no exact
form in a prime field (a norm of values that already hold a square root, a norm of a rational
function, sqrt / abs / exp / log / tanh inside the quantity), the symbolic route is taken and the
title says why. GD always takes the symbolic route: its proofs need a batch of >= 2 points and the
batch argument of ``verify.prove.batch``, which the randomized route does not make.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from verify.certificates import Verdict
from verify.model import Model
from verify.model.layout import layout
from verify.lang.quantity import Quantity as ParsedQuantity
from verify.prove.concrete import DEFAULT_BUDGET_OPS, Increment, QuantityFn, prove_conserved

__all__ = ["check", "as_quantity", "stated_family", "as_increment", "exact_build", "METHODS", "MODES",
           "AUTO_SYMBOLIC_MAX_ENTRIES", "choose_method",
           "STEP_NAME", "GRADIENT_PREFIX"]

#: Names the increment language adds to the parameters: the step and the gradients G_<param>.
STEP_NAME = "eta"
GRADIENT_PREFIX = "G_"

Method = Literal["symbolic", "randomized", "auto"]
METHODS = ("symbolic", "randomized", "auto")
Mode = Literal["concrete", "generic"]
MODES = ("concrete", "generic")
#: ``auto`` expands symbolically up to this many parameter entries x data points. From
#: benchmarks/bench_randomized.py: the randomized route is faster at every width, but up to here the
#: symbolic route takes about a second (3-w-2 ReLU with bias, 50 entries at w = 8: 1.25 s under load)
#: and its certificate is deterministic; above it the symbolic route grows much faster (w = 64: 10.6 s).
AUTO_SYMBOLIC_MAX_ENTRIES = 64


def as_quantity(quantity: str | ParsedQuantity | QuantityFn, model: Model) -> QuantityFn:
    """Parse quantity text (or take it parsed) against ``model``'s parameter shapes (velocities
    ``<name>_dot`` allowed)."""
    if isinstance(quantity, QuantityFn):
        return quantity
    from verify.lang.quantity import parse_quantity
    q = quantity if isinstance(quantity, ParsedQuantity) else parse_quantity(quantity)
    return _TextQuantity(q.text, _text_build(q, model), parts=(("", q.text),))


def stated_family(model: Model, texts: Mapping[str, str]) -> QuantityFn:
    """Several quantities in the quantity language checked as one, each entry labelled by its key,
    e.g. ``{"[h=1]": "norm(W1)**2 - norm(W2)**2", "[h=2]": "norm(W2)**2 - norm(W3)**2"}``: how the
    catalog states "for every layer h" on a concrete net. Every text can be pasted into ``verify check``."""
    from verify.lang.quantity import parse_quantity
    builds = [(label, _text_build(parse_quantity(text), model)) for label, text in texts.items()]

    def build(P):
        return {_join(label, key): val for label, b in builds for key, val in b(P).items()}
    return _TextQuantity("; ".join(texts.values()), build, parts=tuple(texts.items()))


def _text_build(q: ParsedQuantity, model: Model):
    from verify.lang.quantity import instantiate
    shapes = _shapes(model)

    def build(P):
        present = {k: v for k, v in P.items() if k in q.names or k in shapes}
        out = instantiate(q, present, shapes={k: shapes[k] for k in present})
        return {_label(key): val for key, val in out.items()}
    return build


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


def exact_build(quantity: str | QuantityFn, model: Model):
    """The quantity's ``build`` on exact matrices (``verify.prove.exact_quantity``): text goes through
    the exact interpreter of the quantity language; a ``QuantityFn`` object's own ``build`` is used as is."""
    if isinstance(quantity, QuantityFn) and not isinstance(quantity, _TextQuantity):
        return quantity.build
    from verify.lang.quantity import parse_quantity
    from verify.lang.quantity_exact import exact_builder
    parts = quantity.parts if isinstance(quantity, _TextQuantity) else (("", quantity),)
    shapes = _shapes(model)
    builds = [(label, exact_builder(parse_quantity(text), shapes)) for label, text in parts]
    return lambda P: {_join(label, _label(key)): val for label, b in builds for key, val in b(P).items()}


@dataclasses.dataclass(frozen=True)
class _TextQuantity(QuantityFn):
    """A quantity made from text by ``as_quantity`` / ``stated_family``: ``parts`` are its (label,
    text) pieces, which the exact route parses again."""

    parts: tuple[tuple[str, str], ...] = ()


def choose_method(model: Model, n_data: int = 1) -> str:
    """``auto``'s choice: symbolic for small models, randomized above (see the module docstring)."""
    size = sum(slot.size for slot in layout(model)) * n_data
    return "symbolic" if size <= AUTO_SYMBOLIC_MAX_ENTRIES else "randomized"


def _shapes(model: Model) -> dict[str, tuple[int, ...]]:
    """Parameter shapes, and the velocities ``<name>_dot`` a momentum quantity may name."""
    shapes = {p.name: p.shape for p in model.params}
    shapes.update({f"{p.name}_dot": p.shape for p in model.params})
    return shapes


def _join(label: str, key: str) -> str:
    """``[h=1]`` and ``[i=0]`` -> ``[h=1,i=0]``."""
    return f"{label[:-1]},{key[1:]}" if label.endswith("]") and key.startswith("[") else label + key


def _label(key) -> str:
    return "[" + ",".join(f"{a}={b}" for a, b in key) + "]" if key else ""


def check(model: Model, quantity: str | ParsedQuantity | QuantityFn, *, dynamics: str = "flow", weight_decay=None,
          seed: int = 0, budget_ops: int = DEFAULT_BUDGET_OPS, n_data: int | None = None, loss: str | None = None,
          increment: str | Increment | None = None, method: Method = "auto", points: int | None = None,
          mode: Mode = "concrete", build=None) -> Verdict:
    """Conserved or not, with a certificate (``Proven``, or ``ProvenRandomized`` from the randomized
    route / ``Refuted`` with exact witness / ``Undecided``).

    Args:
        model: a ``verify.model.Model`` (Python API or ``verify.lang.spec.load_spec``).
        quantity: e.g. ``"sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"``; a free index means
            "for every i", a matrix value means "every entry".
        dynamics: ``flow``, ``gd`` (Q changes by ``increment``, default 0, in one step) or
            ``momentum`` (heavy-ball flow; the quantity may use velocities ``<param>_dot``).
        weight_decay: None, ``True`` (symbolic lambda) or a number.
        budget_ops: residuals larger than this many operations are not expanded (-> Undecided
            unless a witness is found).
        loss: overrides ``model.loss`` (square, logistic, exponential, cross_entropy); with
            neither, the loss is arbitrary and a proof covers every loss.
        n_data: data points of the proof (None: 1 for flow, the batch ``verify.prove.batch`` needs for GD).
        increment: the claimed exact change of Q in one GD step (text with ``G_<param>``, ``eta``).
        method: ``symbolic``, ``randomized`` or ``auto`` (see the module docstring).
        points: points of the randomized test (default ``verify.prove.randomized.POINTS``).
        mode: ``concrete`` (the spec's sizes) or ``generic``: the proof for every width and any depth
            (``verify.testing.generic_check``); where no generic rule applies or the generic residual
            does not reduce, the concrete verdict is returned with the reason in its title.
        build: the quantity on exact matrices for the randomized route (default ``exact_build``; a
            caller whose ``QuantityFn`` builds SymPy matrices only, e.g. verify.torch's layouts).
    """
    from verify.errors import BadInput
    if method not in METHODS:
        raise BadInput(f"Got method={method!r}; use one of {', '.join(METHODS)}.")
    if mode not in MODES:
        raise BadInput(f"Got mode={mode!r}; use one of {', '.join(MODES)}.")
    if loss is not None:
        model = dataclasses.replace(model, loss=loss)
    if isinstance(quantity, str):  # parsed once: the generic and the concrete routes read the same tree
        from verify.lang.quantity import parse_quantity
        quantity = parse_quantity(quantity)
    q = as_quantity(quantity, model)
    inc = as_increment(increment, model) if increment is not None else None
    if mode == "generic":
        from verify.testing.generic_check import generic_proof
        outcome = generic_proof(model, quantity if isinstance(quantity, ParsedQuantity) else q,
                                dynamics=dynamics, weight_decay=weight_decay, increment=increment)
        if outcome.proven:
            assert outcome.verdict is not None
            return outcome.verdict
        v = check(model, q, dynamics=dynamics, weight_decay=weight_decay, seed=seed, budget_ops=budget_ops,
                  n_data=n_data, increment=inc, method=method, points=points, build=build)
        return dataclasses.replace(v, title=f"{v.title} [no generic proof: {outcome.reason}; concrete sizes]")

    def symbolic() -> Verdict:
        return prove_conserved(model, q, dynamics=dynamics, weight_decay=weight_decay, seed=seed,
                               budget_ops=budget_ops, n_data=n_data, claim_id="check", increment=inc,
                               title=f"{q.text} on {model.name}")
    points_used = n_data or 1
    route = choose_method(model, points_used) if method == "auto" else method
    if route == "symbolic":
        return _symbolic_within_budget(symbolic, method, lambda: check(
            model, q, dynamics=dynamics, weight_decay=weight_decay, seed=seed, budget_ops=budget_ops, n_data=n_data,
            increment=inc, method="randomized", points=points), dynamics == "gd" or inc is not None)
    _randomized_budget(model, points_used, points, budget_ops)
    if dynamics == "gd" or inc is not None:
        v = symbolic()  # see the module docstring: GD needs the batch argument
        return dataclasses.replace(v, title=f"{v.title} [symbolic route: GD proofs need a batch argument the "
                                            "randomized route does not make]")
    from verify.model.layers._base import NoExactForm
    from verify.prove.randomized import POINTS, prove_randomized
    try:
        return prove_randomized(model, q, build=build or exact_build(q, model), dynamics=dynamics, weight_decay=weight_decay,
                                seed=seed, n_data=points_used, claim_id="check", title=f"{q.text} on {model.name}",
                                points=POINTS if points is None else points,
                                # a witness from the symbolic route only where that route is quick
                                fallback=symbolic if choose_method(model, points_used) == "symbolic" else None)
    except NoExactForm as exc:
        v = symbolic()
        return dataclasses.replace(v, title=f"{v.title} [symbolic route: the randomized route has no exact form here: "
                                            f"{exc}]")


def _randomized_budget(model: Model, n_data: int, points: int | None, budget_ops: int) -> None:
    """Refuse (one line, before any work) a randomized route over budget: one exact forward and
    backward pass per point and data point, ``verify.prove.cost.forward_ops`` multiply-adds each."""
    from verify.prove.cost import check_budget, forward_ops
    from verify.prove.randomized import POINTS
    ops = forward_ops(model) * n_data * (POINTS if points is None else points)
    check_budget(f"the randomized route on {model.name!r} ({n_data} data point(s))", ops, budget_ops,
                 f"use a smaller model, fewer --points, or raise --budget to {ops:.2g}")


def _symbolic_within_budget(symbolic, method: str, randomized, gd: bool) -> Verdict:
    """The symbolic route; with ``auto``, a residual whose expansion is over budget (refused before
    expanding, ``verify.prove.cost``) goes to the randomized route instead, and the title says why."""
    from verify.errors import BudgetExceeded
    from verify.model.layers._base import NoExactForm
    try:
        return symbolic()
    except BudgetExceeded as exc:
        if method != "auto" or gd:
            raise
        try:
            v = randomized()
        except NoExactForm:
            raise exc from None
        return dataclasses.replace(v, title=f"{v.title} [randomized route: the symbolic route was over budget: "
                                            f"{str(exc).split(';')[0]}]")
