"""Diagonal (Hadamard) linear model x -> <w, x> with w = u1 o ... o uL - m1 o ... o mK.

References:
    Woodworth et al. (2020), "Kernel and rich regimes in overparametrized models" (w = u^2 - v^2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from verify.errors import BadInput, ShapeMismatch
from verify.model.param import Param
from verify.model.layers._base import ExactState, JetState, LayerBase, NumericState, Shapes, SpecContext, SpecRule, SymbolicState, shape_of
from verify.model.layers._values import spec_choice, spec_int

__all__ = ["DiagonalLinear", "SPEC"]


@dataclass(frozen=True)
class DiagonalLinear(LayerBase):
    """Diagonal (Hadamard) linear model x -> <w, x>, one output, with the parametrisation
    w = u1 o ... o uL - m1 o ... o mK (``factors`` u, ``minus`` m; a name may repeat, so
    ``factors=("u", "u"), minus=("v", "v")`` is w = u o u - v o v)."""

    factors: tuple[str, ...]
    minus: tuple[str, ...] = ()

    def param_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.factors + self.minus))

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        if not self.factors:
            raise BadInput(f"Layer {where}: a diagonal layer needs at least one factor.")
        for f in self.factors + self.minus:
            if shape_of(shapes, f, where) != (d,):
                raise ShapeMismatch(f"Layer {where}: factor {f!r} must have shape ({d},), got "
                                    f"{shape_of(shapes, f, where)}.")
        return 1

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        w = _sym_product(st.P, self.factors)
        if self.minus:
            w = w - _sym_product(st.P, self.minus)
        return sp.Matrix([[sum(w[i] * a[i] for i in range(a.rows))]])

    def weights(self, P: Mapping[str, np.ndarray]) -> np.ndarray:
        w = _num_product(P, self.factors)
        return w - _num_product(P, self.minus) if self.minus else w

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        w = self.weights(P)
        return (A @ w)[:, None], w

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        gw = (dA * A_in).sum(axis=0)
        for names, sign in ((self.factors, 1.0), (self.minus, -1.0)):
            for k, f in enumerate(names):  # product rule over positions (a name may repeat)
                others = _num_product(P, names[:k] + names[k + 1:]) if len(names) > 1 else 1.0
                grads[f] += sign * gw * others
        return dA @ cache[None, :]


    def jet_support(self) -> str | None:
        if self.minus:
            return "discover handles w = u1 o ... o uL only, not differences"
        return None

    def jet_degree(self, deg: int) -> int:
        return deg + len(self.factors)

    def jet_forward(self, P, a, ac, js: JetState) -> tuple[Any, bool, Any]:
        us = [P[f] for f in self.factors]
        w = us[0]
        for u in us[1:]:
            w, _ = js.mul(w, False, u, False)
        out, outc = js.mm(a, ac, w[:, :, None], False)
        return out, outc, (us, w, a, ac)

    def jet_backward(self, P, record, d, dc, js: JetState) -> tuple[Any, bool]:
        us, w, a_in, c_in = record
        g = d[..., 0]
        dw, dwc = js.mm(g[:, None, :], dc, a_in, c_in)
        dw = dw[:, 0, :]
        for i, f in enumerate(self.factors):
            gi, gic = dw, dwc
            for j, u in enumerate(us):
                if j != i:
                    gi, gic = js.mul(gi, gic, u, False)
            js.put(f, gi, gic)
        return js.mul(g[..., None], dc, w[:, None, :], False)

    def exact_weights(self, P, ex: ExactState) -> np.ndarray:
        w = _exact_product(P, self.factors, ex)
        return ex.mod(w - _exact_product(P, self.minus, ex)) if self.minus else w

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        w = self.exact_weights(P, ex)
        return np.array([ex.matmul(w, a)], dtype=object), w

    def exact_backward(self, P, a_in, w, d, grads, ex: ExactState) -> np.ndarray:
        gw = ex.mod(d[0] * a_in)
        for names, sign in ((self.factors, 1), (self.minus, -1)):
            for k, f in enumerate(names):  # product rule over positions (a name may repeat)
                others = _exact_product(P, names[:k] + names[k + 1:], ex) if len(names) > 1 else ex.const(1)
                grads[f] = ex.mod(grads[f] + ex.const(sign) * ex.mod(gw * others))
        return ex.mod(d[0] * w)


def _exact_product(P, names: Sequence[str], ex: ExactState):
    w = P[names[0]]
    for f in names[1:]:
        w = ex.mod(w * P[f])
    return w


def _sym_product(P: Mapping[str, sp.Matrix], names: Sequence[str]) -> sp.Matrix:
    w = P[names[0]]
    for f in names[1:]:
        w = w.multiply_elementwise(P[f])
    return w


def _num_product(P: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.prod([P[f] for f in names], axis=0)


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    depth = spec_int(d, "depth", ctx.where, default=2)
    form = spec_choice(d, "form", ("product", "difference"), ctx.where, "product")
    if form == "difference":  # w = u^L - v^L entrywise (u o u - v o v for depth 2)
        ctx.params.extend([Param("u", (dim,)), Param("v", (dim,))])
        return DiagonalLinear(("u",) * depth, ("v",) * depth), 1
    factors = tuple(f"u{k}" for k in range(1, depth + 1))
    ctx.params.extend(Param(f, (dim,)) for f in factors)
    return DiagonalLinear(factors), 1


SPEC = {"diagonal": SpecRule(frozenset({"depth", "form"}), _parse)}
