"""Symbolic interpretation of a ``Model``: SymPy matrices with one symbol per entry.

The loss is an *undefined* function ell_p of the outputs at each data point p (so every
differentiable loss, targets included, is covered). Its partial derivatives at the outputs are
independent symbols ``dl{p}_{j}`` (ell is arbitrary, so they are), and the gradient is the chain
rule dL/dtheta = sum_{p,j} dl{p}_{j} * d f_j(x_p)/dtheta with every d f_j/dtheta derived by SymPy.
This is exactly what SymPy's own ``diff`` of ell(f(theta)) returns, with its Subs/Derivative
objects renamed; ``gradient_via_undefined_loss`` computes it that way and the tests check both
routes agree (the direct route is 2-3x slower, so the engine uses the chain-rule form). Homogeneous activations are represented exactly on each activation
region: phi(z) = s*z**k with a fresh region symbol s per unit and data point (s is constant on the
region, so its derivative is 0); one proof then covers every activation pattern. Max pooling uses
0/1 selection symbols the same way; norms (normalisation layers) and softmax exponentials of
attention are built and differentiated by SymPy and then renamed to auxiliary symbols
(``verify.interpret.auxiliary``), so residuals stay polynomial-like and their zero test stays exact.
Residual blocks are interpreted recursively (x + block(x)).

References:
    Du, Hu & Lee (2018), eq. (4) (the loss) and Sec 2.1 (homogeneity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sympy as sp

from verify.interpret.auxiliary import substitute
from verify.model.regions import EXP, SQRT
from verify.errors import BadInput
from verify.model import Model
from verify.model.layout import entry_name

__all__ = ["Region", "SymbolicNet", "symbolic_net", "param_matrices", "gradient_via_undefined_loss"]


@dataclass(frozen=True)
class Region:
    """A region symbol s: the unit's activation is s*z**k where z = ``preactivation``."""

    symbol: sp.Symbol
    preactivation: sp.Expr
    activation: Any  # an Activation, or a verify.model.regions rule: both give region_value(z)
    point: int


@dataclass(frozen=True)
class SymbolicNet:
    """A model with every entry symbolic and an undefined loss.

    Attributes:
        params: name -> sympy.Matrix of symbols (vectors are column matrices).
        theta: every parameter symbol, in declaration order.
        inputs: one symbolic input column per data point.
        outputs: the network output at each data point.
        regions: region symbols in creation (forward) order.
        loss_derivatives: the symbols dl{p}_{j} standing for d ell_p / d y_j at f(x_p).
        gradient: theta symbol -> dL/dtheta derived by SymPy.
        relations: (t, B) for each auxiliary t = sqrt(B) of a normalisation (``verify.interpret.auxiliary``).
    """

    model: Model
    params: Mapping[str, sp.Matrix]
    theta: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Matrix, ...]
    outputs: tuple[sp.Matrix, ...]
    regions: tuple[Region, ...]
    loss_derivatives: tuple[tuple[sp.Symbol, ...], ...]
    gradient: Mapping[sp.Symbol, sp.Expr]
    relations: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()

    def grad_matrix(self, name: str) -> sp.Matrix:
        """dL/d(param) with the parameter's own shape."""
        return self.params[name].applyfunc(lambda e: self.gradient[e])


def param_matrices(model: Model) -> dict[str, sp.Matrix]:
    """One real symbol per parameter entry, named as in ``verify.model.layout`` (``W1[0,1]``);
    vectors are column matrices and scalars 1x1."""
    out = {}
    for p in model.params:
        rows, cols = (p.shape + (1, 1))[:2] if len(p.shape) < 2 else p.shape
        out[p.name] = sp.Matrix(rows, cols, lambda i, j: sp.Symbol(entry_name(p.name, (i, j)[:len(p.shape)]), real=True))
    return out


class _State:
    """The symbolic interpreter's state, shared by nested blocks (``SymbolicState`` of
    ``verify.model.layers``): parameter matrices, region list, auxiliaries, symbol counters."""

    def __init__(self, P, point: int, regions: list, aux: dict):
        self.P, self.point, self.regions, self.aux = P, point, regions, aux
        self.suffix = f"^{point}" if point else ""
        # "hidden": activation layers seen (names s{hidden}_{unit}); "aux": pool / norm / attention layers
        self._index = {"hidden": 0, "aux": 0}

    def next_index(self, family: str) -> int:
        self._index[family] += 1
        return self._index[family]

    def region(self, name: str, preactivation, rule) -> sp.Symbol:
        s = sp.Symbol(f"{name}{self.suffix}", real=True)
        self.regions.append(Region(s, preactivation, rule, self.point))
        return s

    def sqrt(self, base: sp.Expr, label: str) -> sp.Expr:
        """sqrt(base) for the forward pass, registering the auxiliary t = sqrt(base) (see ``auxiliary``)."""
        root = sp.sqrt(base)
        if not (root.is_Pow and root.base == base):
            raise BadInput(f"{label}: the norm sqrt({base}) simplifies to {root} (repeated or single entries), "
                           "so the unit is not a proper normalisation; normalise at least two distinct entries.")
        if base not in self.aux:
            t = sp.Symbol(f"t{len(self.aux) + 1}{self.suffix}", positive=True)
            self.aux[base] = ("sqrt", t)
            self.regions.append(Region(t, base, SQRT, self.point))
        return root

    def exp(self, arg: sp.Expr) -> sp.Expr:
        if arg not in self.aux:
            e = sp.Symbol(f"e{len(self.aux) + 1}{self.suffix}", positive=True)
            self.aux[arg] = ("exp", e)
            self.regions.append(Region(e, arg, EXP, self.point))
        return sp.exp(arg)

    def run(self, layers, a: sp.Matrix) -> sp.Matrix:
        for layer in layers:
            a = layer.symbolic(a, self)
        return a


def _name_loss_derivatives(expr: sp.Expr, ells, names) -> sp.Expr:
    """Replace SymPy's d ell_p/d y_j objects (Derivative or Subs of one) by the symbols dl{p}_{j}."""
    def rename(node):
        inner = node.expr if isinstance(node, sp.Subs) else node
        if not isinstance(inner, sp.Derivative) or not isinstance(inner.expr, sp.core.function.AppliedUndef):
            return None
        fn = inner.expr
        for p, ell in enumerate(ells):
            if fn.func == ell:
                (var, count), = inner.variable_count
                if count != 1:
                    return None
                return names[p][list(fn.args).index(var)]
        return None

    mapping = {}
    for node in expr.atoms(sp.Subs, sp.Derivative):
        new = rename(node)
        if new is not None:
            mapping[node] = new
    return expr.xreplace(mapping)


@lru_cache(maxsize=64)
def symbolic_net(model: Model, n_data: int = 1) -> SymbolicNet:
    """Build (and cache) the symbolic interpretation of ``model`` with ``n_data`` data points."""
    P = param_matrices(model)
    theta = tuple(s for p in model.params for s in P[p.name])
    regions: list[Region] = []
    aux: dict = {}  # non-polynomial part (sqrt base / exp argument) -> (kind, auxiliary symbol)
    inputs, outputs = [], []
    for point in range(n_data):
        suffix = f"^{point}" if point else ""
        x = sp.Matrix(model.input_dim, 1, lambda i, _: sp.Symbol(f"x{suffix}[{i}]", real=True))
        inputs.append(x)
        outputs.append(_State(P, point, regions, aux).run(model.layers, x))
    names = tuple(tuple(sp.Symbol(f"dl{p}_{j}" if n_data > 1 else f"dl_{j}", real=True) for j in range(out.rows))
                  for p, out in enumerate(outputs))
    gradient = None if aux else _ring_gradient(outputs, names, theta)
    if gradient is None:
        gradient = {t: sp.Add(*[dl * out[j].diff(t) for out, dls in zip(outputs, names) for j, dl in enumerate(dls)])
                    for t in theta}
    if aux:
        # SymPy has differentiated sqrt/exp itself; only now are they renamed to auxiliary symbols.
        outputs = [out.applyfunc(lambda e: substitute(e, aux)) for out in outputs]
        gradient = {t: substitute(g, aux) for t, g in gradient.items()}
        regions = [Region(r.symbol, substitute(r.preactivation, aux), r.activation, r.point) for r in regions]
    relations = tuple((sym, base) for base, (kind, sym) in aux.items() if kind == "sqrt")
    return SymbolicNet(model, P, theta, tuple(inputs), tuple(outputs), tuple(regions), names, gradient, relations)


def _ring_gradient(outputs, names, theta) -> dict[sp.Symbol, sp.Expr] | None:
    """dL/dtheta of L = sum_j dl_j f_j in SymPy's sparse polynomial ring over QQ (``PolyElement.diff``),
    or None when an output is not a polynomial (closed-form activations, exp/sqrt atoms).

    The same derivative as ``sp.diff`` of the nested outputs, returned expanded; on a conv/ReLU/residual
    net with 72 parameters it is about 5x cheaper (issue 17: 2,304 nested ``diff`` calls took 87% of
    the ResNet block's certificate), because the ring differentiates each monomial once."""
    from sympy.polys.polyerrors import CoercionFailed, GeneratorsError, PolynomialError
    from sympy.polys.rings import ring
    exprs = [e for out in outputs for e in out]
    gens = sorted(set().union(*[e.free_symbols for e in exprs], theta, *names), key=str)
    try:
        R = ring(gens, sp.QQ)[0]
        L = R.zero
        for out, dls in zip(outputs, names):
            for j, dl in enumerate(dls):
                L += R(dl) * R.from_expr(out[j])
    except (CoercionFailed, GeneratorsError, PolynomialError, ValueError):
        return None
    at = {g: i for i, g in enumerate(gens)}
    return {t: L.diff(R.gens[at[t]]).as_expr() for t in theta}


def gradient_via_undefined_loss(net: SymbolicNet) -> dict[sp.Symbol, sp.Expr]:
    """dL/dtheta from SymPy's diff of L = sum_p ell_p(f(x_p)) with ell_p undefined functions,
    SymPy's d ell_p/d y_j objects renamed to the net's dl symbols (the reference route)."""
    n_data = len(net.outputs)
    ells = [sp.Function(f"ell{p}" if n_data > 1 else "ell") for p in range(n_data)]
    loss = sum((ell(*out) for ell, out in zip(ells, net.outputs)), sp.Integer(0))
    return {t: _name_loss_derivatives(loss.diff(t), ells, net.loss_derivatives) for t in net.theta}
