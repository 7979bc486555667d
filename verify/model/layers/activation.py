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
from typing import Any

import numpy as np
import sympy as sp

from verify.model.activations import Activation
from verify.model.layers._base import ExactState, LayerBase, NoExactForm, NumericState, Shapes, SpecContext, SpecRule, SymbolicState

__all__ = ["Act", "SPEC"]


@dataclass(frozen=True)
class Act(LayerBase):
    """Pointwise activation."""

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

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        return self.activation.numpy(A), None

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        return dA * self.activation.numpy_derivative(A_in)

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        hidden = ex.next_index("hidden")  # the symbolic names s{layer}_{unit}
        act = self.activation
        if act.is_identity:
            return a, None
        if not act.is_homogeneous:
            raise NoExactForm(f"activation {act.name} is not homogeneous: its closed form has no exact value in "
                              "a prime field")
        s = np.array([ex.region(f"s{hidden}_{u}", a[u], act) for u in range(len(a))], dtype=object)
        return ex.mod(s * a ** act.degree), s

    def exact_backward(self, P, a_in, s, d, grads, ex: ExactState) -> np.ndarray:
        if s is None:
            return d
        k = self.activation.degree  # phi'(z) = k s z**(k-1) on the region (s constant)
        return ex.mod(d * s) if k == 1 else ex.mod(d * s * ex.mod(ex.const(k) * a_in ** (k - 1)))

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple[LayerBase, list, int]:
        from hypothesis import strategies as st

        from verify.model.activations import get_activation
        # positively 1-homogeneous: the premise of the balance laws a stack is usually tested for
        return cls(get_activation(draw(st.sampled_from(("identity", "relu", "leaky_relu"))))), [], d


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    return Act(ctx.activation(d)), dim


SPEC = {"activation": SpecRule(frozenset({"name", "alpha", "k", "formula"}), _parse)}
