"""``check``, ``assert_conserved`` and ``discover`` for an ``nn.Module``.

Routes: a module that maps onto the model definition (``from_module``) gets the exact engine's
verdict through ``verify.testing.checking.check``, with its rules: ``auto`` takes the symbolic route
(``Proven`` / ``Refuted`` with an exact witness / ``Undecided``) up to ``AUTO_SYMBOLIC_MAX_ENTRIES``
parameter entries and the randomized exact route above (``ProvenRandomized``, never called Proven;
its refutations carry an exact rational witness), and the verdict's title says which route and why.
Any other module, or ``method="numeric"``, gets the float64 property test (``NumericallyConserved`` /
``NumericViolation``), and a numeric violation on a mapped module is re-checked exactly.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import sympy as sp
import torch

from ._bridge import (AUTO_SYMBOLIC_MAX_ENTRIES, DEFAULT_BUDGET_OPS, BadInput, EngineQuantity, Proven,
                      ProvenRandomized, Refuted, choose_method, engine_check, exact_builder, instantiate, layout,
                      parse_quantity)
from ._numeric import LOSSES, numeric_check, setup
from ._qeval import compile_quantity
from ._trace import Mapping, from_module as _from_module
from .verdicts import NumericallyConserved, render

__all__ = ["from_module", "check", "assert_conserved", "discover", "validate_input", "NotConserved"]

#: ``exact`` is ``symbolic`` (its meaning before the randomized route was wired in).
METHODS = ("auto", "symbolic", "randomized", "exact", "numeric")


def validate_input(module: torch.nn.Module, example_input) -> torch.Tensor:
    """The example input as float64, or a one-line BadInput saying what the module expected."""
    if not isinstance(module, torch.nn.Module):
        raise BadInput(f"Got {type(module).__name__}; pass a torch.nn.Module instance.")
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 1 or example_input.shape[0] < 1:
        raise BadInput("example_input must be a tensor with a leading batch dimension, e.g. torch.randn(4, 3).")
    x = example_input.detach().double()
    try:
        with torch.no_grad():
            copy.deepcopy(module).double()(x)
    except Exception as exc:  # the user's forward may raise anything on a wrong shape
        first = next((m for m in module.modules() if hasattr(m, "in_features") or hasattr(m, "in_channels")), None)
        want = ""
        if first is not None:
            size = getattr(first, "in_features", None) or getattr(first, "in_channels", None)
            what = "features in its last dimension" if hasattr(first, "in_features") else "channels in dimension 1"
            want = f"; its first layer {type(first).__name__} expects {size} {what}"
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise BadInput(f"example_input of shape {tuple(x.shape)} does not fit {type(module).__name__} "
                       f"({msg}){want}. Pass a batch the module accepts.") from None
    return x


def from_module(module: torch.nn.Module, example_input) -> Mapping:
    """Trace ``module`` (torch.fx) and map it onto ``verify.model.Model`` (see ``verify.torch._trace``)."""
    return _from_module(module, validate_input(module, example_input))


def _label(key) -> str:
    return "[" + ",".join(f"{a}={b}" for a, b in key) + "]" if key else ""


def engine_quantity(mapping: Mapping, text: str) -> EngineQuantity:
    """The quantity (PyTorch layout) as the engine's Quantity on the mapped Model's layout."""
    q = parse_quantity(text)
    lays = {lay.name: lay for lay in mapping.layouts}

    def build(P):
        vals, shapes = {}, {}
        for name in q.names:
            base = name[:-4] if name.endswith("_dot") and name[:-4] in lays else name
            lay, M = lays[base], P[name]
            if lay.kind == "transpose":
                M = M.T
            elif lay.kind == "flat" and len(lay.torch_shape) == 2:
                M = sp.Matrix(*lay.torch_shape, list(M))
            vals[name], shapes[name] = M, lay.torch_shape
        return {_label(k): v for k, v in instantiate(q, vals, shapes=shapes).items()}
    return EngineQuantity(text, build)


def _torch_layout_witness(mapping: Mapping, v):
    if not isinstance(v, Refuted) or v.witness is None:
        return v
    lays = {lay.name: lay for lay in mapping.layouts}
    params = {}
    for name, rows in v.witness.params.items():
        base = name[:-4] if name.endswith("_dot") and name[:-4] in lays else name
        lay = lays.get(base)
        if lay is None or not isinstance(rows, list):
            params[name] = rows
            continue
        a = np.array(rows, dtype=object)
        if lay.kind == "transpose":
            a = a.T
        elif lay.kind == "flat":
            a = a.reshape(lay.torch_shape)
        elif len(lay.torch_shape) == 1:
            a = a.reshape(-1)
        params[name] = a.tolist()
    return dataclasses.replace(v, witness=dataclasses.replace(v.witness, params=params))


def exact_quantity_build(mapping: Mapping, text: str):
    """The quantity (PyTorch layout) on exact matrices in the mapped Model's layout, for the randomized
    route (``verify.lang.quantity_exact``: vectors are columns, kernels their row-major column)."""
    lays = {lay.name: lay for lay in mapping.layouts}
    shapes = {lay.name: lay.torch_shape for lay in mapping.layouts}
    shapes.update({f"{n}_dot": s for n, s in list(shapes.items())})
    build = exact_builder(parse_quantity(text), shapes)

    def run(P):
        vals = {}
        for name, M in P.items():
            lay = lays.get(name[:-4] if name.endswith("_dot") and name[:-4] in lays else name)
            if lay is not None:
                vals[name] = (M.T if lay.kind == "transpose" else
                              M.reshape(*lay.torch_shape) if lay.kind == "flat" and len(lay.torch_shape) == 2 else M)
        return {_label(k): v for k, v in build(vals).items()}
    return run


def exact_check(mapping: Mapping, text: str, *, dynamics="flow", weight_decay=None, loss=None, seed=0,
                budget_ops=DEFAULT_BUDGET_OPS, method="auto", points=None):
    """The engine's verdict on the mapped model (``verify.testing.checking.check``, its route rules);
    ``method``: auto, symbolic or randomized."""
    if mapping.model is None:  # the callers ask only when ``mapping.mapped``
        raise ValueError(f"{mapping.module} is not mapped onto the model definition; there is no exact check")
    model = mapping.model if loss is None else dataclasses.replace(mapping.model, loss=loss)
    v = engine_check(model, engine_quantity(mapping, text), dynamics=dynamics, weight_decay=weight_decay, seed=seed,
                     budget_ops=budget_ops, method=method, points=points, build=exact_quantity_build(mapping, text))
    if method == "auto" and "[symbolic route:" not in v.title:  # which route auto took and why (checking's
        # rule); a fallback to the symbolic route (GD, no exact form) is already named in the title by checking
        size = sum(slot.size for slot in layout(model))
        route = choose_method(model)
        why = (f"{size} parameter entries x 1 data point {'<=' if route == 'symbolic' else '>'} "
               f"{AUTO_SYMBOLIC_MAX_ENTRIES}")
        v = dataclasses.replace(v, title=f"{v.title} [auto: {route} route, {why}]")
    return _torch_layout_witness(mapping, v)


def _shapes(module, dynamics) -> dict:
    shapes = {n: tuple(p.shape) for n, p in module.named_parameters()}
    if dynamics == "momentum":
        shapes.update({f"{n}_dot": s for n, s in list(shapes.items())})
    return shapes


def check(module: torch.nn.Module, quantity: str, *, example_input, dynamics: str = "flow", weight_decay=None,
          loss: str | None = None, method: str = "auto", draws: int = 100, seed: int = 0,
          budget_ops: int = DEFAULT_BUDGET_OPS, points: int | None = None):
    """Is ``quantity`` (PyTorch parameter names and layout) conserved for ``module``?

    Args:
        example_input: a batch the module accepts (leading batch dimension); the numeric route draws
            data of this shape.
        dynamics: ``flow``, ``gd`` (one step leaves Q unchanged) or ``momentum`` (velocities ``<name>_dot``).
        weight_decay: None, True (drawn / symbolic lambda) or a number.
        loss: None (every loss), or square / logistic / exponential / cross_entropy.
        method: ``auto`` (when the module maps, the exact route ``verify.testing.checking.check``'s
            ``auto`` picks, symbolic or randomized, named in the title; else numeric), ``symbolic``,
            ``randomized`` (both need a mapped module), ``exact`` (= ``symbolic``) or ``numeric``.
        draws: Hypothesis draws of the numeric route.
        points: points of the randomized route (default ``verify.prove.randomized.POINTS``).

    Returns:
        ``Proven`` / ``ProvenRandomized`` / ``Refuted`` / ``Undecided`` (exact) or ``NumericallyConserved`` /
        ``NumericViolation``.
    """
    if method not in METHODS:
        raise BadInput(f"Got method={method!r}; use one of {', '.join(METHODS)}.")
    if dynamics not in ("flow", "gd", "momentum"):
        raise BadInput(f"Got dynamics={dynamics!r}; use flow, gd or momentum.")
    if loss is not None and loss not in LOSSES:
        raise BadInput(f"Got loss={loss!r}; use one of {', '.join(LOSSES)} or None (every loss).")
    if not isinstance(draws, int) or draws < 1:
        raise BadInput(f"Got draws={draws!r}; use an integer >= 1.")
    x = validate_input(module, example_input)
    program = compile_quantity(quantity, _shapes(module, dynamics))  # unknown names: closest names
    # method="numeric" traces only if a violation needs the exact re-check (tracing and cross-checking
    # a 1M-parameter module costs more than a dozen draws).
    mapping = None if method == "numeric" else _from_module(module, x)
    kw = dict(dynamics=dynamics, weight_decay=weight_decay, loss=loss, seed=seed, budget_ops=budget_ops, points=points)
    route = "symbolic" if method == "exact" else method
    if mapping is not None and mapping.mapped:
        return exact_check(mapping, quantity, method=route, **kw)
    if method in ("symbolic", "randomized", "exact"):
        assert mapping is not None  # traced above: only method="numeric" skips the tracing
        more = f" (and {len(mapping.unsupported) - 1} more)" if len(mapping.unsupported) > 1 else ""
        raise BadInput(f"{mapping.module} does not map onto the model definition: {mapping.unsupported[0]}{more}; "
                       "use method='numeric'.")
    notes = [f"not mapped: {r}" for r in mapping.unsupported] if mapping is not None else []
    if notes:
        notes.append("fallback: the numeric route (float64 property test with torch.func)")
    s = setup(module, x, dynamics=dynamics, weight_decay=weight_decay, loss=loss)
    v = numeric_check(s, program, n_draws=draws, seed=seed, title=f"{quantity} on {type(module).__name__} (torch)",
                      statement=f"Q = {quantity} is conserved" if dynamics != "gd" else
                      f"one GD step leaves Q = {quantity} unchanged", notes=notes)
    if not isinstance(v, NumericallyConserved):
        mapping = mapping if mapping is not None else _from_module(module, x)
        if mapping.mapped:
            v = dataclasses.replace(v, exact=exact_check(mapping, quantity, **kw))
    return v


class NotConserved(AssertionError):
    """Raised by ``assert_conserved``; carries the verdict."""

    def __init__(self, verdict):
        super().__init__(render(verdict))
        self.verdict = verdict


def assert_conserved(module: torch.nn.Module, quantity: str, *, example_input, **kwargs):
    """Return the ``Proven``, ``ProvenRandomized`` or ``NumericallyConserved`` verdict, or raise
    ``NotConserved`` (with the witness or evidence). ``Undecided`` is never a pass."""
    v = check(module, quantity, example_input=example_input, **kwargs)
    if not isinstance(v, (Proven, ProvenRandomized, NumericallyConserved)):
        raise NotConserved(v)
    return v


def discover(module: torch.nn.Module, example_input, **kwargs):
    """Count the independent conservation laws and find the polynomial ones (``verify.torch._discover``)."""
    from ._discover import discover_module
    return discover_module(module, validate_input(module, example_input), **kwargs)
