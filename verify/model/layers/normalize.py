"""Scale-invariant normalisation of the activations: l2 (a/||a||) or layer norm without gain.

No epsilon: it would break the exact invariance a(c z) = a(z), c > 0, that the conservation laws
rest on. On the symbolic side each norm is an auxiliary t > 0 with t**2 = its square
(``verify.interpret.auxiliary``).

References:
    Ba et al. (2016), "Layer normalization" (without gain and bias).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from verify.errors import BadInput, ShapeMismatch, SpecError
from verify.model.layers._base import ExactState, GenericState, LayerBase, NumericState, Shapes, SpecContext, SpecRule, SymbolicState
from verify.model.layers._values import spec_choice

__all__ = ["Normalize", "NORM_KINDS", "SPEC"]

NORM_KINDS = ("l2", "layer")


@dataclass(frozen=True)
class Normalize(LayerBase):
    """``kind="l2"``: a -> a / ||a||. ``kind="layer"``: centring then scaling,
    a -> (a - mean(a)) / std(a) = sqrt(n) (a - mean a) / ||a - mean a|| (layer norm without gain)."""

    keeps_width: ClassVar[bool] = True
    scale_invariant: ClassVar[bool] = True

    kind: str

    def hypothesis(self) -> str:
        if self.kind == "l2":
            return "normalisation a/||a||: ||a|| = t with t > 0 and t**2 = sum a_i**2"
        return "layer norm sqrt(n)(a - mean a)/||a - mean a||: the norm is t > 0 with t**2 = its square"

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        if self.kind not in NORM_KINDS:
            raise BadInput(f"Layer {where}: normalisation kind {self.kind!r}; use one of {', '.join(NORM_KINDS)}.")
        if self.kind == "layer" and d < 2:
            raise ShapeMismatch(f"Layer {where}: layer norm of width {d} is identically 0; it needs width >= 2.")
        return d

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        if not gs.depends(x):
            return None, d
        J = sp.MatrixSymbol(f"J_{where}", x.shape[0], x.shape[0])
        gs.zero.append((J, x))
        gs.hyp.append(f"layer {where} ({self.kind} normalisation) is scale invariant, N(c z) = N(z) for c > 0: it "
                      f"enters through its Jacobian J_{where} at z (first order), and J z = 0 (Euler, degree 0)")
        return J * x, d

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        st.next_index("aux")
        if a.rows < 2:
            raise BadInput(f"Normalising a width-{a.rows} layer gives its sign; normalise a layer of width >= 2.")
        if self.kind == "l2":
            return a / st.sqrt(sp.Add(*[z**2 for z in a]), "l2 normalisation")
        c = a - sp.ones(a.rows, 1) * (sp.Add(*a) / a.rows)
        return sp.sqrt(a.rows) * c / st.sqrt(sp.Add(*[z**2 for z in c]), "layer normalisation")

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        n = A.shape[1]
        C = A - A.mean(axis=1, keepdims=True) if self.kind == "layer" else A
        r = np.linalg.norm(C, axis=1, keepdims=True)
        U = C / r
        return (np.sqrt(n) * U if self.kind == "layer" else U), (U, r)

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        U, r = cache
        if self.kind == "layer":
            dA = np.sqrt(U.shape[1]) * dA
        dC = (dA - np.sum(dA * U, axis=1, keepdims=True) * U) / r
        return dC - dC.mean(axis=1, keepdims=True) if self.kind == "layer" else dC

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        ex.next_index("aux")
        n = len(a)
        if n < 2:
            raise BadInput(f"Normalising a width-{n} layer gives its sign; normalise a layer of width >= 2.")
        c = a if self.kind == "l2" else ex.mod(a - ex.mod(ex.const(Fraction(1, n)) * sum(a, ex.const(0))))
        t = ex.sqrt(ex.mod(sum((ex.mod(z * z) for z in c), ex.const(0))),
                    "l2 normalisation" if self.kind == "l2" else "layer normalisation")
        r = ex.inv(np.array([t], dtype=object))[0]
        U = ex.mod(c * r)
        if self.kind == "l2":
            return U, (U, r, None)
        root_n = ex.sqrt(ex.const(n), f"sqrt({n})", constant=True) if math.isqrt(n) ** 2 != n else ex.const(math.isqrt(n))
        return ex.mod(root_n * U), (U, r, root_n)

    def exact_backward(self, P, a_in, cache, d, grads, ex: ExactState) -> np.ndarray:
        U, r, root_n = cache
        if root_n is not None:
            d = ex.mod(root_n * d)
        dU = ex.mod(d - ex.mod(sum(ex.mod(d * U), ex.const(0)) * U))
        dC = ex.mod(dU * r)
        if root_n is None:
            return dC
        return ex.mod(dC - ex.mod(ex.const(Fraction(1, len(dC))) * sum(dC, ex.const(0))))

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple[LayerBase, list, int]:
        from hypothesis import reject
        from hypothesis import strategies as st
        if d < 2:
            reject()  # normalising one unit gives its sign: refused by the layer itself
        # layer norm of 2 units is a constant (+-1, -+1): drawn on >= 3 units only
        return cls(draw(st.sampled_from(NORM_KINDS if d >= 3 else ("l2",)))), [], d


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    kind = spec_choice(d, "kind", NORM_KINDS, ctx.where, "l2")
    if dim < 2:
        raise SpecError(f"{ctx.where}: normalising width {dim} gives a sign or 0; normalise a layer of width >= 2.")
    return Normalize(kind), dim


SPEC = {"normalize": SpecRule(frozenset({"kind"}), _parse)}
