"""Single-head bilinear softmax attention on ``tokens`` tokens of width d (token-major input).

X is the (tokens x d) input, scores S = X Wq Wk^T X^T (Wq, Wk of shape (d, k)), A = softmax of
each row of S, output A X Wv (or A X without ``value``), flattened token-major. On the symbolic
side each exp(score) is an independent positive symbol (a sufficient condition for 0).

References:
    Vaswani et al. (2017), eq. (1) (without the 1/sqrt(k) scale, which only rescales Wq).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from verify.errors import ShapeMismatch, SpecError
from verify.model.param import Param
from verify.model.layers._base import ExactState, LayerBase, NumericState, Shapes, SpecContext, SpecRule, SymbolicState, shape_of
from verify.model.layers._values import spec_int

__all__ = ["Attention", "SPEC"]


@dataclass(frozen=True)
class Attention(LayerBase):
    """Attention with query/key (and optional value) parameter names."""

    query: str
    key: str
    tokens: int
    value: str | None = None

    def param_names(self) -> tuple[str, ...]:
        return (self.query, self.key) + ((self.value,) if self.value else ())

    def hypothesis(self) -> str:
        return "softmax attention: each exp(score) is an independent positive symbol e (sufficient for 0)"

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        if self.tokens < 1 or d % self.tokens:
            raise ShapeMismatch(f"Layer {where}: attention over {self.tokens} tokens needs an input width that "
                                f"is a multiple of {self.tokens}; the previous width is {d}.")
        width = d // self.tokens
        qs, ks = shape_of(shapes, self.query, where), shape_of(shapes, self.key, where)
        if len(qs) != 2 or qs != ks or qs[0] != width:
            raise ShapeMismatch(f"Layer {where}: query {self.query!r} {qs} and key {self.key!r} {ks} must both "
                                f"have shape ({width}, k) (token width {width}).")
        out = width
        if self.value is not None:
            vs = shape_of(shapes, self.value, where)
            if len(vs) != 2 or vs[0] != width:
                raise ShapeMismatch(f"Layer {where}: value {self.value!r} has shape {vs}; it needs ({width}, m).")
            out = vs[1]
        return self.tokens * out

    def cost(self, d: int, out: int, shapes: Shapes) -> int:
        # T x T scores of key width k, their softmax, and A X (Wv): the T**2 terms dominate
        T, w = self.tokens, d // self.tokens
        k = shapes[self.query][1]
        return 2 * T * w * k + T * T * (k + w + 1) + T * w * out // max(T, 1) + out

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        st.next_index("aux")
        P, T = st.P, self.tokens
        d = a.rows // T
        X = sp.Matrix(T, d, lambda i, j: a[i * d + j])
        S = X * P[self.query] * P[self.key].T * X.T
        E = S.applyfunc(st.exp)
        A = sp.Matrix(T, T, lambda i, j: E[i, j] / sp.Add(*E.row(i)))
        Y = A * X * (P[self.value] if self.value is not None else sp.eye(d))
        return sp.Matrix(Y.rows * Y.cols, 1, lambda k, _: Y[k // Y.cols, k % Y.cols])

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        m, T = A.shape[0], self.tokens
        X = A.reshape(m, T, -1)
        M = P[self.query] @ P[self.key].T
        S = np.einsum("mtd,de,mse->mts", X, M, X)
        E = np.exp(S - S.max(axis=-1, keepdims=True))  # shift for overflow-free exp
        Asm = E / E.sum(axis=-1, keepdims=True)
        H = Asm @ X
        Y = H @ P[self.value] if self.value is not None else H
        return Y.reshape(m, -1), (X, M, Asm, H)

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        X, M, Asm, H = cache
        dY = dA.reshape(Asm.shape[0], self.tokens, -1)
        if self.value is not None:
            grads[self.value] += np.einsum("mtd,mte->de", H, dY)
            dH = dY @ P[self.value].T
        else:
            dH = dY
        dAsm = dH @ np.swapaxes(X, 1, 2)
        dS = Asm * (dAsm - np.sum(dAsm * Asm, axis=-1, keepdims=True))
        dM = np.einsum("mtd,mts,mse->de", X, dS, X)
        grads[self.query] += dM @ P[self.key]
        grads[self.key] += dM.T @ P[self.query]
        dX = np.swapaxes(Asm, 1, 2) @ dH + dS @ X @ M.T + np.swapaxes(dS, 1, 2) @ X @ M
        return dX.reshape(dX.shape[0], -1)


    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        ex.next_index("aux")
        X = a.reshape(self.tokens, -1)
        M = ex.matmul(P[self.query], P[self.key].T)
        S = ex.matmul(ex.matmul(X, M), X.T)
        E = ex.exp(S)  # auxiliary e = exp(score): free variables, as in the symbolic engine
        inv = ex.inv(np.array([ex.mod(sum(row, ex.const(0))) for row in E], dtype=object))
        A = ex.mod(E * inv[:, None])
        H = ex.matmul(A, X)
        Y = ex.matmul(H, P[self.value]) if self.value is not None else H
        return Y.reshape(-1), (X, M, A, H)

    def exact_backward(self, P, a_in, cache, d, grads, ex: ExactState) -> np.ndarray:
        X, M, A, H = cache
        dY = d.reshape(self.tokens, -1)
        if self.value is not None:
            grads[self.value] = ex.mod(grads[self.value] + ex.matmul(H.T, dY))
            dH = ex.matmul(dY, P[self.value].T)
        else:
            dH = dY
        dA = ex.matmul(dH, X.T)
        # d exp(S) = exp(S) dS with exp(S) renamed e: the softmax Jacobian in terms of A = e / sum(e)
        rows = np.array([ex.mod(sum(r, ex.const(0))) for r in ex.mod(dA * A)], dtype=object)
        dS = ex.mod(A * ex.mod(dA - rows[:, None]))
        dM = ex.matmul(ex.matmul(X.T, dS), X)
        grads[self.query] = ex.mod(grads[self.query] + ex.matmul(dM, P[self.key]))
        grads[self.key] = ex.mod(grads[self.key] + ex.matmul(dM.T, P[self.query]))
        dX = ex.mod(ex.matmul(A.T, dH) + ex.matmul(ex.matmul(dS, X), M.T) + ex.matmul(ex.matmul(dS.T, X), M))
        return dX.reshape(-1)


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    where = ctx.where
    tokens = spec_int(d, "tokens", where)
    if dim % tokens:
        raise SpecError(f"{where}: the width {dim} is not a multiple of tokens = {tokens}; "
                        "the input must be tokens x token-width, token-major.")
    width = dim // tokens
    n = ctx.next_n()
    k = spec_int(d, "key_dim", where, width)
    ctx.params.extend([Param(f"Wq{n}", (width, k)), Param(f"Wk{n}", (width, k))])
    value = None
    out = tokens * width
    if "value_dim" in d:
        m = spec_int(d, "value_dim", where)
        ctx.params.append(Param(f"Wv{n}", (width, m)))
        value, out = f"Wv{n}", tokens * m
    return Attention(f"Wq{n}", f"Wk{n}", tokens, value), out


SPEC = {"attention": SpecRule(frozenset({"tokens", "key_dim", "value_dim"}), _parse)}
