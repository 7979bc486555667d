"""Pointwise activation a -> phi(a).

On the symbolic side a homogeneous activation is written exactly on each activation region as
s*z**k with a fresh region symbol s per unit and data point (constant on the region, so its
derivative is 0), which makes one proof cover every activation pattern; any other activation is
its closed SymPy form.

References:
    Du, Hu & Lee (2018), Sec 2.1 (homogeneity phi(z) = phi'(z) z).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from verify.model.activations import Z, Activation
from verify.model.layers._base import ExactState, GenericState, JetState, LayerBase, NoGenericRule, NumericState, Shapes, SpecContext, SpecRule, SymbolicState

__all__ = ["Act", "SPEC"]


@dataclass(frozen=True)
class Act(LayerBase):
    """Pointwise activation."""

    keeps_width: ClassVar[bool] = True

    activation: Activation

    def hypothesis(self) -> str:
        return self.activation.property_text()

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        return d

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        hidden = st.next_index("hidden")  # counted for identity layers too: names stay s{layer}_{unit}
        act = self.activation
        if act.is_identity:
            return a
        if act.is_homogeneous:
            return sp.Matrix([act.sympy_region(a[u], st.region(f"s{hidden}_{u}", a[u], act)) for u in range(a.rows)])
        return a.applyfunc(act.sympy_closed)

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        act = self.activation
        if not gs.depends(x):
            return None, d  # independent of the quantity's parameters: an abstract vector when needed
        if act.is_identity:
            return x, d
        if gs.acts:
            raise NoGenericRule(f"layer {where} ({act.name}) is a second activation between the quantity's "
                                f"parameters (after layer {gs.acts[0][3]}); the generic engine differentiates "
                                "through one")
        D = sp.MatrixSymbol("D", x.shape[0], x.shape[0])
        gs.acts.append((x, D, act.degree, where))
        if act.is_homogeneous:
            k = act.degree
            how = "as declared" if act.homogeneity is None else \
                f"derived by SymPy from {act.name}'s formula, piecewise on z<0, z=0, z>0"
            gs.hyp.append(f"layer {where} ({act.name}): phi is an undefined function with "
                          f"{'' if k == 1 else f'{k} '}phi(z) = phi'(z) z (homogeneous of degree {k}, {how})")
        else:
            gs.hyp.append(f"layer {where} ({act.name}): no homogeneity declared, so phi is an undefined function "
                          "with no property (the generic engine has no rule for it)")
        return x.applyfunc(sp.Function("phi")), d

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        return self.activation.numpy(A), None

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        return dA * self.activation.numpy_derivative(A_in)

    def jet_support(self) -> str | None:
        act = self.activation
        if not act.is_homogeneous:
            return (f"activation {act.name!r} is not homogeneous; discover needs homogeneous activations "
                    "(identity, relu, leaky_relu, relu_power), where the network is polynomial on each "
                    "activation region")
        if act.slopes is None:
            return f"activation {act.name!r} has no concrete slopes; use relu, leaky_relu(a), identity or relu_power(k)"
        return None

    def jet_degree(self, deg: int) -> int:
        assert self.activation.degree is not None, "see jet_support"
        return deg * self.activation.degree

    def jet_forward(self, P, a, ac, js: JetState) -> tuple[Any, bool, Any]:
        k = self.activation.degree
        assert k is not None, "jets evaluate homogeneous activations only (phi(z) = s z**k)"
        s = js.slopes(self.activation, a)
        ak, akc = a, ac
        for _ in range(k - 1):
            ak, akc = js.mul(ak, akc, a, ac)
        out, outc = js.mul(ak, akc, s, True)
        return out, outc, (k, s, a, ac)

    def jet_backward(self, P, record, d, dc, js: JetState) -> tuple[Any, bool]:
        k, s, z, c_in = record
        fac, facc = js.ring.reduce(k * s), True  # phi'(z) = k s z^(k-1)
        for _ in range(k - 1):
            fac, facc = js.mul(fac, facc, z, c_in)
        return js.mul(d, dc, fac, facc)

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        hidden = ex.next_index("hidden")  # the symbolic names s{layer}_{unit}
        act = self.activation
        if act.is_identity:
            return a, None
        if not act.is_homogeneous:
            # closed form: every non-polynomial atom of phi and phi' (tanh(z), exp(-z), erf(..), sqrt(2))
            # is a free variable per unit, as SymPy's zero test treats them (a sufficient condition)
            f, df, atoms = _closed_forms(act)
            vals = [{t: ex.atom(f"{act.name}{hidden}_{u}[{t}]", a[u]) for t in atoms} for u in range(len(a))]
            out = np.array([_evaluate(f, a[u], vals[u], ex) for u in range(len(a))], dtype=object)
            return out, [_evaluate(df, a[u], vals[u], ex) for u in range(len(a))]
        s = np.array([ex.region(f"s{hidden}_{u}", a[u], act) for u in range(len(a))], dtype=object)
        return ex.mod(s * a ** act.degree), s

    def exact_backward(self, P, a_in, s, d, grads, ex: ExactState) -> np.ndarray:
        if s is None:
            return d
        if not self.activation.is_homogeneous:
            return ex.mod(d * np.array(s, dtype=object))  # s: phi'(z) per unit
        k = self.activation.degree  # phi'(z) = k s z**(k-1) on the region (s constant)
        assert k is not None
        return ex.mod(d * s) if k == 1 else ex.mod(d * s * ex.mod(ex.const(k) * a_in ** (k - 1)))

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple[LayerBase, list, int]:
        from hypothesis import strategies as st

        from verify.model.activations import get_activation
        # positively 1-homogeneous: the premise of the balance laws a stack is usually tested for
        return cls(get_activation(draw(st.sampled_from(("identity", "relu", "leaky_relu"))))), [], d


@lru_cache(maxsize=32)
def _closed_forms(act: Activation) -> tuple[sp.Expr, sp.Expr, tuple[sp.Expr, ...]]:
    """phi(z), SymPy's phi'(z), and their atoms (sub-expressions that are not sums, products,
    integer powers, rationals or z)."""
    f = act.sympy_closed(Z)
    df = sp.diff(f, Z)
    atoms: dict = {}

    def walk(e):
        if e == Z or e.is_Rational:
            return
        if e.is_Add or e.is_Mul or (e.is_Pow and e.exp.is_Integer):
            for arg in e.args:
                walk(arg)
            return
        atoms[e] = None
    walk(f)
    walk(df)
    return f, df, tuple(atoms)


def _evaluate(e: sp.Expr, z: Any, atoms: Mapping, ex: ExactState) -> Any:
    """A closed form at z in the exact arithmetic, its atoms given."""
    if e == Z:
        return z
    if e in atoms:
        return atoms[e]
    if e.is_Rational:
        return ex.const(e)
    parts = [_evaluate(arg, z, atoms, ex) for arg in (e.args if not e.is_Pow else (e.base,))]
    if e.is_Add:
        return ex.mod(sum(parts[1:], parts[0]))
    if e.is_Mul:
        out = parts[0]
        for p in parts[1:]:
            out = ex.mod(out * p)
        return out
    k = int(e.exp)
    base = parts[0] if k >= 0 else ex.inv(np.array([parts[0]], dtype=object))[0]
    return ex.mod(base ** abs(k))


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    return Act(ctx.activation(d)), dim


SPEC = {"activation": SpecRule(frozenset({"name", "alpha", "k", "formula"}), _parse)}
