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

import sympy as sp

from verify.interpret.auxiliary import EXP, MAX_SELECT, SQRT, substitute
from verify.errors import BadInput
from verify.model.core import Act, Attention, DiagonalLinear, Dense, Model, NormalizedDense, Normalize, Pool, Residual

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


class _Layers:
    """Forward state shared by nested blocks: region list, auxiliaries and unique symbol names."""

    def __init__(self, P, point: int, regions: list, aux: dict):
        self.P, self.point, self.regions, self.aux = P, point, regions, aux
        self.suffix = f"^{point}" if point else ""
        self.hidden = 0  # activation layers seen (names s{hidden}_{unit}, as before)
        self.count = 0  # other region-making layers seen (pool / norm / attention names)

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


def _dense_weight(layer: Dense, P) -> sp.Matrix:
    if layer.pattern is None:
        return P[layer.weight]
    v = P[layer.weight]
    return sp.Matrix(len(layer.pattern), len(layer.pattern[0]),
                     lambda i, j: v[layer.pattern[i][j] - 1] if layer.pattern[i][j] else 0)


def _run(layers, a: sp.Matrix, st: _Layers) -> sp.Matrix:
    P = st.P
    for layer in layers:
        if isinstance(layer, Dense):
            a = _dense_weight(layer, P) * a
            if layer.bias is not None:
                a = a + P[layer.bias]
        elif isinstance(layer, NormalizedDense):
            W = P[layer.weight]
            if W.cols < 2:
                raise BadInput(f"Weight-normalised {layer.weight!r} has one column, so each row normalises to its "
                               "sign; give it at least 2 inputs or use a plain dense layer.")
            roots = [st.sqrt(sp.Add(*[w**2 for w in W.row(i)]), f"weight-normalised {layer.weight}[{i},:]")
                     for i in range(W.rows)]
            a = sp.Matrix(W.rows, 1, lambda i, _: sp.Add(*[W[i, j] * a[j] for j in range(W.cols)]) / roots[i])
            if layer.bias is not None:
                a = a + P[layer.bias]
        elif isinstance(layer, Act):
            st.hidden += 1
            act = layer.activation
            if act.is_identity:
                continue
            if act.is_homogeneous:
                zs = []
                for u in range(a.rows):
                    s = sp.Symbol(f"s{st.hidden}_{u}{st.suffix}", real=True)
                    st.regions.append(Region(s, a[u], act, st.point))
                    zs.append(act.sympy_region(a[u], s))
                a = sp.Matrix(zs)
            else:
                a = a.applyfunc(act.sympy_closed)
        elif isinstance(layer, DiagonalLinear):
            w = _product(P, layer.factors)
            if layer.minus:
                w = w - _product(P, layer.minus)
            a = sp.Matrix([[sum(w[i] * a[i] for i in range(a.rows))]])
        elif isinstance(layer, Pool):
            st.count += 1
            a = sp.Matrix([_pool(layer.kind, [a[i] for i in win], k, st) for k, win in enumerate(layer.windows)])
        elif isinstance(layer, Residual):
            a = a + _run(layer.block, a, st)
        elif isinstance(layer, Normalize):
            st.count += 1
            if a.rows < 2:
                raise BadInput(f"Normalising a width-{a.rows} layer gives its sign; normalise a layer of width >= 2.")
            if layer.kind == "l2":
                a = a / st.sqrt(sp.Add(*[z**2 for z in a]), "l2 normalisation")
            else:
                c = a - sp.ones(a.rows, 1) * (sp.Add(*a) / a.rows)
                a = sp.sqrt(a.rows) * c / st.sqrt(sp.Add(*[z**2 for z in c]), "layer normalisation")
        elif isinstance(layer, Attention):
            st.count += 1
            d = a.rows // layer.tokens
            X = sp.Matrix(layer.tokens, d, lambda i, j: a[i * d + j])
            S = X * P[layer.query] * P[layer.key].T * X.T
            E = S.applyfunc(st.exp)
            A = sp.Matrix(layer.tokens, layer.tokens, lambda i, j: E[i, j] / sp.Add(*E.row(i)))
            Y = A * X * (P[layer.value] if layer.value is not None else sp.eye(d))
            a = sp.Matrix(Y.rows * Y.cols, 1, lambda k, _: Y[k // Y.cols, k % Y.cols])
    return a


def _product(P, names) -> sp.Matrix:
    w = P[names[0]]
    for f in names[1:]:
        w = w.multiply_elementwise(P[f])
    return w


def _pool(kind: str, zs: list, k: int, st: _Layers) -> sp.Expr:
    """Average: the mean. Max: sum_j s_j z_j + (1 - sum_j s_j) z_last with 0/1 selection symbols s_j
    (j < last), constant on each region where the window's arg-max is fixed; exact on every region,
    and the region where the last entry wins is s = 0."""
    if kind == "avg":
        return sp.Add(*zs) / len(zs)
    out, rest = zs[-1], sp.Integer(1)
    for j, z in enumerate(zs[:-1]):
        s = sp.Symbol(f"m{st.count}_{k}_{j}{st.suffix}", real=True)
        st.regions.append(Region(s, sp.Tuple(z, *(zs[:j] + zs[j + 1:])), MAX_SELECT, st.point))
        out += s * (z - zs[-1])
    return out


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
        outputs.append(_run(model.layers, x, _Layers(P, point, regions, aux)))
    names = tuple(tuple(sp.Symbol(f"dl{p}_{j}" if n_data > 1 else f"dl_{j}", real=True) for j in range(out.rows))
                  for p, out in enumerate(outputs))
    gradient = {t: sp.Add(*[dl * out[j].diff(t) for out, dls in zip(outputs, names) for j, dl in enumerate(dls)])
                for t in theta}
    if aux:
        # SymPy has differentiated sqrt/exp itself; only now are they renamed to auxiliary symbols.
        outputs = [out.applyfunc(lambda e: substitute(e, aux)) for out in outputs]
        gradient = {t: substitute(g, aux) for t, g in gradient.items()}
        regions = [Region(r.symbol, substitute(r.preactivation, aux), r.activation, r.point) for r in regions]
    relations = tuple((sym, base) for base, (kind, sym) in aux.items() if kind == "sqrt")
    return SymbolicNet(model, P, theta, tuple(inputs), tuple(outputs), tuple(regions), names, gradient, relations)


def gradient_via_undefined_loss(net: SymbolicNet) -> dict[sp.Symbol, sp.Expr]:
    """dL/dtheta from SymPy's diff of L = sum_p ell_p(f(x_p)) with ell_p undefined functions,
    SymPy's d ell_p/d y_j objects renamed to the net's dl symbols (the reference route)."""
    n_data = len(net.outputs)
    ells = [sp.Function(f"ell{p}" if n_data > 1 else "ell") for p in range(n_data)]
    loss = sum((ell(*out) for ell, out in zip(ells, net.outputs)), sp.Integer(0))
    return {t: _name_loss_derivatives(loss.diff(t), ells, net.loss_derivatives) for t in net.theta}
