"""Residual block x + block(x); the block is a sequence of layers mapping width d back to d.

References:
    He et al. (2016), "Deep residual learning for image recognition" (identity shortcuts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from verify.errors import BadInput, ShapeMismatch, SpecError
from verify.model.layers._base import ExactState, GenericState, LayerBase, NumericState, Shapes, SpecContext, SpecRule, SymbolicState

__all__ = ["Residual", "SPEC"]


@dataclass(frozen=True)
class Residual(LayerBase):
    """x + block(x); the block is a sequence of layers mapping width d back to width d."""

    keeps_width: ClassVar[bool] = True

    block: tuple  # tuple[LayerBase, ...]

    def sublayers(self) -> tuple[LayerBase, ...]:
        return tuple(self.block)

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        from verify.model.core import block_dims  # the same walk as the whole model, one level down
        if not self.block:
            raise BadInput(f"Layer {where}: the residual block is empty; give it at least one layer.")
        inner = block_dims(self.block, d, shapes, f"{where}.")
        if inner[-1] != d:
            raise ShapeMismatch(f"Layer {where}: the residual block maps width {d} to {inner[-1]}; x + block(x) "
                                f"needs equal widths, so make the block's last layer output {d}.")
        return d

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        if not gs.holds(self) and not gs.depends(x):
            return None, d
        x = gs.concrete(x, d, f"the input of residual block {where}")
        inner = gs.run(self.block, x, d, f"{where}.", out_width=x.shape[0])
        if inner is None:  # the block does not reach the quantity's parameters: an abstract vector
            inner = gs.vector(x.shape[0], d, f"the output of residual block {where}'s branch")
        gs.hyp.append(f"layer {where} is x + block(x) (identity shortcut)")
        return x + inner, d

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        return a + st.run(self.block, a)

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        Y, caches = ns.run(self.block, P, A)
        return A + Y, caches

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        return dA + ns.back(self.block, P, cache, dA, grads)

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        y, caches = ex.run(self.block, P, a)
        return ex.mod(a + y), caches

    def exact_backward(self, P, a_in, caches, d, grads, ex: ExactState) -> np.ndarray:
        return ex.mod(d + ex.back(self.block, P, caches, d, grads))


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    block = d.get("block")
    if not isinstance(block, list) or not block:
        raise SpecError(f"{ctx.where}: a residual layer needs its block as [[layer.block]] tables "
                        "right after it (x + block(x)).")
    where = ctx.where
    inner, out = ctx.block(block, dim)
    if out != dim:
        raise SpecError(f"{where}: the residual block maps width {dim} to {out}; x + block(x) needs equal "
                        f"widths, so make the block's last layer output {dim}.")
    return Residual(tuple(inner)), dim


SPEC = {"residual": SpecRule(frozenset({"block"}), _parse)}
