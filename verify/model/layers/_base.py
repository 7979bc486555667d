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
* ``jet_support()``, ``jet_degree(deg)``, ``jet_forward(P, a, ac, js)`` / ``jet_backward(P, record, d, dc, js)``:
  whether law discovery can evaluate it, its polynomial degree in theta, and its batched forward and
  reverse pass on truncated Taylor jets over a ring (``js`` is :class:`JetState`,
  ``verify.interpret.jets``);
* ``generic(x, d, gs, where, out_width)``: its forward pass on matrix words with symbolic widths
  (``gs`` is :class:`GenericState`, ``verify.prove.generic_net``), the rule a proof for every width
  uses, with the hypothesis it cites; the default has none and says so (:class:`NoGenericRule`);
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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np
    import sympy as sp

    from verify.model.param import Param

__all__ = ["LayerBase", "block_cost", "SymbolicState", "NumericState", "ExactState", "JetState", "GenericState",
           "NoGenericRule", "NoExactForm", "SpecContext", "SpecRule",
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


class JetState(Protocol):
    """What law discovery's interpreter (``verify.interpret.jets``) gives a layer.

    Values are batched arrays ``(n, m, width)`` over a ring (float64 or integers mod p), or
    truncated Taylor jets of them, each paired with a flag "free of theta" (a constant needs no jet
    product). ``n`` is the number of parameter points; ``P`` holds ``(n, *shape)`` arrays."""

    n: int

    @property
    def ring(self) -> Any:
        """The number system (``verify.interpret.jets.Ring``): ``reduce``, ``matmul``, ``modulus``."""

    def mul(self, x: Any, xc: bool, y: Any, yc: bool) -> tuple[Any, bool]:
        """Elementwise product (broadcasting), reduced."""

    def mm(self, x: Any, xc: bool, y: Any, yc: bool) -> tuple[Any, bool]:
        """Batched matrix product, reduced."""

    def put(self, name: str, g: Any, gc: bool) -> None:
        """Add ``g`` (batched like parameter ``name``) to the gradient of ``name``."""

    def slopes(self, act: Any, z: Any) -> Any:
        """Region constants s (phi(z) = s z**k) of the next activation layer at pre-activation z."""


class NoGenericRule(Exception):
    """No generic rule applies; the message names the layer and the part of the model or quantity."""


class GenericState(Protocol):
    """What the generic model builder (``verify.prove.generic_net``) gives a layer: the walk around
    the quantity's parameters. A value is a SymPy matrix expression (matrix words with symbolic
    widths), or None when it does not depend on the quantity's parameters."""

    names: frozenset
    shapes: Mapping[str, tuple[int, ...]]
    symbols: dict  # quantity name -> its generic MatrixSymbol
    biases: dict   # bias name -> (B, c): b enters as B c (the bias trick, see generic_net)
    shared: dict   # shared vector name -> its layer's matrix W(v)
    acts: list     # (z, D, degree or None, layer) of the one activation between the parameters
    zero: list     # (J, value) with J value = 0 (scale invariance)
    hyp: list      # hypotheses cited, as text
    abstract: list  # what was abstracted, as text

    def width(self, concrete: int) -> Any:
        """A fresh symbolic width n_k, recorded with the spec's ``concrete`` width."""

    def depends(self, x: Any) -> bool:
        """Does value ``x`` depend on the quantity's parameters?"""

    def concrete(self, x: Any, d: int, what: str) -> Any:
        """``x``, or a fresh abstract vector of width ``d`` standing for it when it is None."""

    def vector(self, n: Any, concrete: int, what: str) -> Any:
        """A fresh abstract vector of symbolic width ``n``."""

    def holds(self, layer: "LayerBase") -> bool:
        """Does ``layer`` (sub-layers included) hold one of the quantity's parameters?"""

    def run(self, layers: Sequence["LayerBase"], x: Any, d: int, prefix: str, out_width: Any = None) -> Any: ...


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

    #: The output has the input's width by construction (activations, residual blocks, scalings,
    #: normalisations): the generic model gives it no width of its own.
    keeps_width: ClassVar[bool] = False
    #: N(c z) = N(z) for c > 0 (a normalisation): its input's law may need J z = 0.
    scale_invariant: ClassVar[bool] = False

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

    def jet_support(self) -> str | None:
        """None when law discovery can evaluate this layer (it is polynomial in theta on each
        activation region), else the reason it cannot, for a one-line error."""
        return f"law discovery has no jet hooks for {type(self).__name__} layers yet"

    def jet_degree(self, deg: int) -> int:
        """Degree in theta of this layer's output, given its input's degree ``deg``."""
        raise NotImplementedError

    def jet_forward(self, P: Mapping[str, Any], a: Any, ac: bool, js: JetState) -> tuple[Any, bool, Any]:
        """``(output, output is free of theta, record for jet_backward)``."""
        raise NoExactForm(f"{type(self).__name__} layers have no jet form")

    def jet_backward(self, P: Mapping[str, Any], record: Any, d: Any, dc: bool, js: JetState) -> tuple[Any, bool]:
        """Gradient with respect to this layer's input (``js.put`` the parameters' gradients)."""
        raise NoExactForm(f"{type(self).__name__} layers have no jet form")

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        """``(output, output width)`` on matrix words; the default: a layer off the path between the
        quantity's parameters is skipped (None), one on it has no rule."""
        kind = type(self).__name__
        d_out = self.out_dim(d, gs.shapes, where)
        if gs.holds(self):
            raise NoGenericRule(f"layer {where} ({kind}) holds the quantity's parameter(s) "
                                f"{', '.join(sorted(set(self.param_names()) & gs.names))} and no generic rule "
                                "applies there together with the other layers' parameters")
        if gs.depends(x):
            raise NoGenericRule(f"layer {where} ({kind}) lies between the quantity's parameters and its output "
                                "is not a matrix word in its input")
        return None, d_out

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
