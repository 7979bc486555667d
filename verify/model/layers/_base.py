"""The one extension point of the model definition: what every layer kind declares.

A layer kind is one frozen dataclass, subclassing :class:`LayerBase`, in one module of this package.
The class declares, in one place:

* ``param_names()`` and ``out_dim(d, shapes, where)``: its parameters and the shapes it needs
  (validation with one-line errors);
* ``symbolic(a, st)``: its forward pass on SymPy column vectors (``st`` is the symbolic
  interpreter's state, :class:`SymbolicState`);
* ``forward(P, A, ns)`` / ``backward(P, A_in, cache, dA, grads, ns)``: its NumPy float64 forward
  and reverse-mode pass on a batch;
* ``hypothesis()``: what a proof through this layer assumes (printed with every concrete proof);
* ``SPEC``: the spec-file ``type`` names it reads, their keys and their parser (module level);
* ``draw(draw, d, n)``: a Hypothesis draw of one such layer on width d (``verify.testing``);
* ``exact_forward(P, a, ex)`` / ``exact_backward(P, a_in, cache, d, grads, ex)``: its forward and
  reverse-mode pass on one data point in exact arithmetic (``ex`` is :class:`ExactState`: a prime
  field, exact rationals or degree bounds; ``verify.interpret.modular``). Raise :class:`NoExactForm`
  where the layer has none (the randomized route then falls back to the symbolic one).

The interpreters (``verify.interpret``), the spec reader (``verify.lang.spec``) and the strategies
(``verify.testing``) only call these methods; none keeps a type switch over layer kinds. Adding a
kind is one module plus one line in ``verify/model/layers/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import sympy as sp

    from verify.model.param import Param

__all__ = ["LayerBase", "block_cost", "SymbolicState", "NumericState", "ExactState", "NoExactForm", "SpecContext", "SpecRule",
           "Shapes", "shape_of"]

Shapes = Mapping[str, tuple[int, ...]]


class SymbolicState(Protocol):
    """What the symbolic interpreter gives a layer: parameter matrices and fresh exact symbols."""

    P: Mapping[str, "sp.Matrix"]

    def region(self, name: str, preactivation: Any, rule: Any) -> "sp.Symbol":
        """A fresh real region symbol ``name`` (made unique per data point), recorded with the
        pre-activation it depends on and the rule that gives its value (an activation or a
        :mod:`verify.model.regions` value)."""

    def next_index(self, family: str) -> int:
        """1, 2, ... per family ("hidden" for activations, "aux" for pooling/norm/attention)."""

    def sqrt(self, base: "sp.Expr", label: str) -> "sp.Expr": ...

    def exp(self, arg: "sp.Expr") -> "sp.Expr": ...

    def run(self, layers: Sequence["LayerBase"], a: "sp.Matrix") -> "sp.Matrix": ...


class NumericState(Protocol):
    """What the NumPy interpreter gives a layer with sub-layers (a residual block)."""

    def run(self, layers: Sequence["LayerBase"], P: Mapping[str, "np.ndarray"], A: "np.ndarray") -> tuple: ...

    def back(self, layers: Sequence["LayerBase"], P: Mapping[str, "np.ndarray"], caches: list, dA: "np.ndarray",
             grads: dict) -> "np.ndarray": ...


class NoExactForm(Exception):
    """A layer (or a value) has no exact form in the arithmetic asked for (e.g. tanh in a prime
    field, exp among exact rationals); the message says what and why."""


class ExactState(Protocol):
    """What the exact interpreter (``verify.interpret.modular``) gives a layer.

    Values are 1-D NumPy object arrays (one data point) of the arithmetic's elements: integers
    mod p, ``Fraction`` or degree bounds; parameters are object arrays of their own shape. The
    elementwise operators + - * and integer powers work on them directly; ``mod`` brings a result
    back to canonical form (mod p in the field, nothing otherwise) and must follow every product.
    """

    def mod(self, x: Any) -> Any: ...

    def matmul(self, A: Any, B: Any) -> Any:
        """A @ B, reduced."""

    def const(self, r: Any) -> Any:
        """The exact rational ``r`` (int, Fraction or SymPy Rational) as an element."""

    def inv(self, x: Any) -> Any:
        """Elementwise 1/x (a rational function: its denominators are tracked)."""

    def zeros(self, shape: tuple[int, ...]) -> Any: ...

    def region(self, name: str, z: Any, rule: Any) -> Any:
        """The value of region symbol ``name`` (as in the symbolic interpreter) of pre-activation z:
        a free variable in the field, the real value at a witness point."""

    def next_index(self, family: str) -> int: ...

    def atom(self, name: str, z: Any) -> Any:
        """A transcendental atom of a closed-form activation at z (tanh(z), exp(-z), ...): a free
        variable, as SymPy's zero test treats it."""

    def exp(self, S: Any) -> Any:
        """Elementwise exp as auxiliary values e (free variables, as the symbolic engine treats them)."""

    def sqrt(self, base: Any, label: str, constant: bool = False) -> Any:
        """sqrt(base) as an auxiliary t with t**2 = base (``constant``: a number such as sqrt(n),
        one root shared by every data point)."""

    def run(self, layers: Sequence["LayerBase"], P: Mapping[str, Any], a: Any) -> tuple: ...

    def back(self, layers: Sequence["LayerBase"], P: Mapping[str, Any], caches: list, d: Any, grads: dict) -> Any: ...


class SpecContext(Protocol):
    """What the spec reader gives a layer's parser."""

    where: str
    params: list["Param"]

    def next_n(self) -> int:
        """The next parameter-layer number n (names W{n}, b{n}, v{n}, ...)."""

    def block(self, docs: Any, dim: int) -> tuple[list["LayerBase"], int]:
        """Parse a nested list of layer tables (a residual block) at width ``dim``."""

    def activation(self, table: Mapping[str, Any]) -> Any:
        """The activation of an ``activation`` table (names, parameters and user formulas)."""


@dataclass(frozen=True)
class SpecRule:
    """One spec ``type``: its allowed keys and the parser ``(table, width, ctx) -> (layer, width)``."""

    keys: frozenset[str]
    parse: Callable[[Mapping[str, Any], int, SpecContext], tuple["LayerBase", int]]


def shape_of(shapes: Shapes, name: str, where: str) -> tuple[int, ...]:
    """The declared shape of parameter ``name``; a one-line ``UnknownName`` when it is missing."""
    if name not in shapes:
        from verify.errors import UnknownName
        raise UnknownName("parameter", name, shapes, hint=f"(used by layer {where}); declare it in params.")
    return shapes[name]


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for k in shape:
        n *= k
    return n


def block_cost(layers: Sequence["LayerBase"], d: int, shapes: Shapes) -> int:
    """Summed ``cost`` of ``layers`` applied in order from width ``d``."""
    total = 0
    for k, layer in enumerate(layers, 1):
        out = layer.out_dim(d, shapes, str(k))
        total += layer.cost(d, out, shapes)
        d = out
    return total


class LayerBase:
    """Defaults for a layer kind without parameters, sub-layers or special hypotheses."""

    def param_names(self) -> tuple[str, ...]:
        return ()

    def sublayers(self) -> tuple["LayerBase", ...]:
        return ()

    def hypothesis(self) -> str:
        return ""

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        raise NotImplementedError

    def cost(self, d: int, out: int, shapes: Shapes) -> int:
        """Multiply-adds of one forward pass on one point, from input width ``d`` to ``out`` (the unit
        of ``verify.prove.cost``'s estimates, computed before any work). Default: a linear map
        with these parameters (at most d x out, at most out x parameter entries) plus the widths,
        and the sub-layers' own costs."""
        size = sum(_size(shapes[n]) for n in self.param_names() if n in shapes)
        linear = min(d * out, out * size) if size else 0
        inner = block_cost(self.sublayers(), d, shapes) if self.sublayers() else 0
        return linear + d + out + inner

    def symbolic(self, a: "sp.Matrix", st: SymbolicState) -> "sp.Matrix":
        raise NotImplementedError

    def forward(self, P: Mapping[str, "np.ndarray"], A: "np.ndarray", ns: NumericState) -> tuple["np.ndarray", Any]:
        raise NotImplementedError

    def backward(self, P: Mapping[str, "np.ndarray"], A_in: "np.ndarray", cache: Any, dA: "np.ndarray",
                 grads: dict, ns: NumericState) -> "np.ndarray":
        raise NotImplementedError

    def exact_forward(self, P: Mapping[str, Any], a: Any, ex: ExactState) -> tuple[Any, Any]:
        raise NoExactForm(f"{type(self).__name__} layers have no exact evaluation hook")

    def exact_backward(self, P: Mapping[str, Any], a_in: Any, cache: Any, d: Any, grads: dict,
                       ex: ExactState) -> Any:
        raise NoExactForm(f"{type(self).__name__} layers have no exact evaluation hook")

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple["LayerBase", list["Param"], int]:
        """Hypothesis hook: one layer of this kind on input width ``d`` (parameter number ``n``):
        (layer, its new parameters, output width). ``draw`` is Hypothesis's draw function."""
        raise NotImplementedError(f"{cls.__name__} has no Hypothesis draw; use a network strategy.")
