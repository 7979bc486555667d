"""Symbolic interpretation of a ``Model``: SymPy matrices with one symbol per entry.

The loss is an *undefined* function ell_p of the outputs at each data point p (so every
differentiable loss, targets included, is covered). Its partial derivatives at the outputs are
independent symbols ``dl{p}_{j}`` (ell is arbitrary, so they are), and the gradient is the chain
rule dL/dtheta = sum_{p,j} dl{p}_{j} * d f_j(x_p)/dtheta with every d f_j/dtheta derived by SymPy.
This is exactly what SymPy's own ``diff`` of ell(f(theta)) returns, with its Subs/Derivative
objects renamed; ``gradient_via_undefined_loss`` computes it that way and the tests check both
routes agree (the direct route is 2-3x slower, so the engine uses the chain-rule form). Homogeneous activations are represented exactly on each activation
region: phi(z) = s*z**k with a fresh region symbol s per unit and data point (s is constant on the
region, so its derivative is 0); one proof then covers every activation pattern.

References:
    Du, Hu & Lee (2018), eq. (4) (the loss) and Sec 2.1 (homogeneity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .model import Act, DiagonalLinear, Dense, Model

__all__ = ["Region", "SymbolicNet", "symbolic_net", "param_matrices", "gradient_via_undefined_loss"]


@dataclass(frozen=True)
class Region:
    """A region symbol s: the unit's activation is s*z**k where z = ``preactivation``."""

    symbol: sp.Symbol
    preactivation: sp.Expr
    activation: object  # Activation
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
    """

    model: Model
    params: Mapping[str, sp.Matrix]
    theta: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Matrix, ...]
    outputs: tuple[sp.Matrix, ...]
    regions: tuple[Region, ...]
    loss_derivatives: tuple[tuple[sp.Symbol, ...], ...]
    gradient: Mapping[sp.Symbol, sp.Expr]

    def grad_matrix(self, name: str) -> sp.Matrix:
        """dL/d(param) with the parameter's own shape."""
        return self.params[name].applyfunc(lambda e: self.gradient[e])


def param_matrices(model: Model) -> dict[str, sp.Matrix]:
    """One real symbol per parameter entry, named like ``W1[0,1]``."""
    out = {}
    for p in model.params:
        if p.shape == ():
            out[p.name] = sp.Matrix([[sp.Symbol(p.name, real=True)]])
        elif len(p.shape) == 1:
            out[p.name] = sp.Matrix(p.shape[0], 1, lambda i, _: sp.Symbol(f"{p.name}[{i}]", real=True))
        else:
            out[p.name] = sp.Matrix(*p.shape, lambda i, j: sp.Symbol(f"{p.name}[{i},{j}]", real=True))
    return out


def _forward(model: Model, P: Mapping[str, sp.Matrix], x: sp.Matrix, point: int, regions: list):
    a = x
    hidden = 0
    for layer in model.layers:
        if isinstance(layer, Dense):
            if layer.pattern is not None:
                v = P[layer.weight]
                W = sp.Matrix(len(layer.pattern), len(layer.pattern[0]),
                              lambda i, j: v[layer.pattern[i][j] - 1] if layer.pattern[i][j] else 0)
            else:
                W = P[layer.weight]
            a = W * a
            if layer.bias is not None:
                a = a + P[layer.bias]
        elif isinstance(layer, Act):
            hidden += 1
            act = layer.activation
            if act.is_identity:
                continue
            if act.is_homogeneous:
                zs = []
                for u in range(a.rows):
                    s = sp.Symbol(f"s{hidden}_{u}" + (f"^{point}" if point else ""), real=True)
                    regions.append(Region(s, a[u], act, point))
                    zs.append(act.sympy_region(a[u], s))
                a = sp.Matrix(zs)
            else:
                a = a.applyfunc(act.sympy_closed)
        elif isinstance(layer, DiagonalLinear):
            w = P[layer.factors[0]]
            for f in layer.factors[1:]:
                w = w.multiply_elementwise(P[f])
            a = sp.Matrix([[sum(w[i] * a[i] for i in range(a.rows))]])
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
    inputs, outputs = [], []
    for point in range(n_data):
        suffix = f"^{point}" if point else ""
        x = sp.Matrix(model.input_dim, 1, lambda i, _: sp.Symbol(f"x{suffix}[{i}]", real=True))
        inputs.append(x)
        outputs.append(_forward(model, P, x, point, regions))
    names = tuple(tuple(sp.Symbol(f"dl{p}_{j}" if n_data > 1 else f"dl_{j}", real=True) for j in range(out.rows))
                  for p, out in enumerate(outputs))
    gradient = {t: sp.Add(*[dl * out[j].diff(t) for out, dls in zip(outputs, names) for j, dl in enumerate(dls)])
                for t in theta}
    return SymbolicNet(model, P, theta, tuple(inputs), tuple(outputs), tuple(regions), names, gradient)


def gradient_via_undefined_loss(net: SymbolicNet) -> dict[sp.Symbol, sp.Expr]:
    """dL/dtheta from SymPy's diff of L = sum_p ell_p(f(x_p)) with ell_p undefined functions,
    SymPy's d ell_p/d y_j objects renamed to the net's dl symbols (the reference route)."""
    n_data = len(net.outputs)
    ells = [sp.Function(f"ell{p}" if n_data > 1 else "ell") for p in range(n_data)]
    loss = sum((ell(*out) for ell, out in zip(ells, net.outputs)), sp.Integer(0))
    return {t: _name_loss_derivatives(loss.diff(t), ells, net.loss_derivatives) for t in net.theta}
