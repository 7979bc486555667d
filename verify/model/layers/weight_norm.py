"""Weight-normalised dense layer z_i = <W[i,:], a> / ||W[i,:]|| (+ b_i).

Read from a spec as ``type = "dense"`` with ``weight_norm = true`` (``verify.model.layers.dense``).

References:
    Salimans & Kingma (2016), "Weight normalization", eq. (2) (with the gain g fixed to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from verify.errors import BadInput, ShapeMismatch
from verify.model.layers._base import ExactState, GenericState, LayerBase, NoGenericRule, NumericState, Shapes, SymbolicState, shape_of
from verify.model.layers.dense import check_bias

__all__ = ["NormalizedDense"]


@dataclass(frozen=True)
class NormalizedDense(LayerBase):
    """Weight-normalised dense layer: every row of W is a scale-invariant unit."""

    weight: str
    bias: str | None = None

    def param_names(self) -> tuple[str, ...]:
        return (self.weight,) + ((self.bias,) if self.bias else ())

    def hypothesis(self) -> str:
        return "weight normalisation W[i,:]/||W[i,:]||: each row norm is t > 0 with t**2 = its square"

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        ws = shape_of(shapes, self.weight, where)
        if len(ws) != 2 or ws[1] != d:
            raise ShapeMismatch(f"Layer {where}: weight-normalised {self.weight!r} has shape {ws}; it needs "
                                f"a matrix with {d} columns (the previous width).")
        check_bias(shapes, self.bias, ws[0], where)
        return ws[0]

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        if self.weight in gs.names:
            raise NoGenericRule(f"layer {where} (weight-normalised) holds {self.weight}; its rule (row i of "
                                f"{self.weight} alone) applies only when the quantity names no other layer's parameter")
        d_out = self.out_dim(d, gs.shapes, where)
        if not gs.depends(x) and (self.bias is None or self.bias not in gs.names):
            return None, d_out
        from verify.model.layers.dense import Dense
        old = gs.shapes  # the normalised weight, not in the quantity, is any matrix V: a plain dense layer
        gs.shapes = {**old, f"V_{where}": (d_out, d)}
        try:
            out = Dense(f"V_{where}", self.bias).generic(x, d, gs, where, out_width)
        finally:
            gs.shapes = old
        gs.abstract.append(f"V_{where} = the row-normalised {self.weight} (not in the quantity: any matrix)")
        return out

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        W = st.P[self.weight]
        if W.cols < 2:
            raise BadInput(f"Weight-normalised {self.weight!r} has one column, so each row normalises to its "
                           "sign; give it at least 2 inputs or use a plain dense layer.")
        roots = [st.sqrt(sp.Add(*[w**2 for w in W.row(i)]), f"weight-normalised {self.weight}[{i},:]")
                 for i in range(W.rows)]
        a = sp.Matrix(W.rows, 1, lambda i, _: sp.Add(*[W[i, j] * a[j] for j in range(W.cols)]) / roots[i])
        return a + st.P[self.bias] if self.bias is not None else a

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        W = P[self.weight]
        r = np.linalg.norm(W, axis=1)
        V = W / r[:, None]
        Z = A @ V.T
        return (Z + P[self.bias] if self.bias is not None else Z), (V, r)

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        W = P[self.weight]
        if W.shape[1] < 2:
            raise BadInput(f"Weight-normalised {self.weight!r} has one column, so each row normalises to its "
                           "sign; give it at least 2 inputs or use a plain dense layer.")
        roots = np.array([ex.sqrt(ex.mod(sum((ex.mod(w * w) for w in W[i]), ex.const(0))),
                                  f"weight-normalised {self.weight}[{i},:]") for i in range(W.shape[0])], dtype=object)
        r = ex.inv(roots)
        V = ex.mod(W * r[:, None])
        z = ex.matmul(V, a)
        return (ex.mod(z + P[self.bias]) if self.bias is not None else z), (V, r)

    def exact_backward(self, P, a_in, cache, d, grads, ex: ExactState) -> np.ndarray:
        V, r = cache
        gV = ex.mod(np.multiply.outer(d, a_in))
        along = np.array([ex.mod(sum(ex.mod(gV[i] * V[i]), ex.const(0))) for i in range(V.shape[0])], dtype=object)
        # d(W/||W||) is the projection orthogonal to the row, divided by its norm (as the numeric pass)
        grads[self.weight] = ex.mod(grads[self.weight] + ex.mod(ex.mod(gV - ex.mod(along[:, None] * V)) * r[:, None]))
        if self.bias is not None:
            grads[self.bias] = ex.mod(grads[self.bias] + d)
        return ex.matmul(d, V)

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        V, r = cache
        gV = dA.T @ A_in
        # d(W/||W||) is the projection orthogonal to the row, divided by its norm.
        grads[self.weight] += (gV - np.sum(gV * V, axis=1, keepdims=True) * V) / r[:, None]
        if self.bias is not None:
            grads[self.bias] += dA.sum(axis=0)
        return dA @ V
