"""Elementwise scale y = a o x with a learned vector a (one gain per unit).

A scale between two dense layers adds a rescaling symmetry per unit (W_h[i,:] -> c W_h[i,:],
a_i -> a_i / c), so ||W_h[i,:]||^2 - a_i^2 is conserved under gradient flow (proven by
``verify check``; tests/test_layer_scale.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from verify.errors import ShapeMismatch
from verify.model.layers._base import ExactState, GenericState, LayerBase, NoGenericRule, NumericState, Shapes, SpecContext, SpecRule, SymbolicState, shape_of
from verify.model.param import Param

__all__ = ["Scale", "SPEC"]


@dataclass(frozen=True)
class Scale(LayerBase):
    """y = a o x; ``gain`` names the vector parameter a (shape (d,))."""

    keeps_width: ClassVar[bool] = True

    gain: str

    def param_names(self) -> tuple[str, ...]:
        return (self.gain,)

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        if shape_of(shapes, self.gain, where) != (d,):
            raise ShapeMismatch(f"Layer {where}: gain {self.gain!r} must have shape ({d},), got "
                                f"{shape_of(shapes, self.gain, where)}.")
        return d

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        if self.gain in gs.names:
            raise NoGenericRule(f"layer {where} (scale) holds {self.gain}: no generic rule for learned gains")
        if not gs.depends(x):
            return None, d
        A = sp.MatrixSymbol(f"A_{where}", x.shape[0], x.shape[0])
        gs.hyp.append(f"layer {where} (scale by {self.gain}) is x -> A x with A = diag({self.gain}) (any matrix in the proof)")
        return A * x, d

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        return a.multiply_elementwise(st.P[self.gain])

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        return A * P[self.gain], None

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        grads[self.gain] += (dA * A_in).sum(axis=0)
        return dA * P[self.gain]

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        return ex.mod(a * P[self.gain]), None

    def exact_backward(self, P, a_in, cache, d, grads, ex: ExactState) -> np.ndarray:
        grads[self.gain] = ex.mod(grads[self.gain] + ex.mod(d * a_in))
        return ex.mod(d * P[self.gain])

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple[LayerBase, list[Param], int]:
        return cls(f"a{n}"), [Param(f"a{n}", (d,))], d


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    n = ctx.next_n()
    ctx.params.append(Param(f"a{n}", (dim,)))
    return Scale(f"a{n}"), dim


SPEC = {"scale": SpecRule(frozenset(), _parse)}
