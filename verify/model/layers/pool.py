"""Pooling: output k is the mean or the max of the inputs ``windows[k]``.

Average pooling is a fixed linear map. Max pooling is piecewise linear and exact on the symbolic
side through 0/1 selection symbols: max(z_1..z_m) = z_m + sum_{j<m} s_j (z_j - z_m), s_j constant
on each region where the window's arg-max is fixed (``verify.model.regions.MAX_SELECT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from verify.errors import BadInput, ShapeMismatch, SpecError
from verify.model.patterns import pool2d_windows
from verify.model.regions import MAX_SELECT
from verify.model.layers._base import ExactState, GenericState, LayerBase, NumericState, Shapes, SpecContext, SpecRule, SymbolicState
from verify.model.layers._values import spec_choice, spec_image, spec_int, spec_kernel

__all__ = ["Pool", "POOL_KINDS", "SPEC"]

POOL_KINDS = ("avg", "max")


@dataclass(frozen=True)
class Pool(LayerBase):
    """Pooling: output k is the mean (``kind="avg"``) or the max (``kind="max"``) of the inputs
    ``windows[k]`` (0-based indices)."""

    kind: str
    windows: tuple[tuple[int, ...], ...]

    def hypothesis(self) -> str:
        if self.kind != "max":
            return ""
        return ("max pooling: max = z_last + sum_j s_j (z_j - z_last), selection symbols s_j constant on "
                "each arg-max region (every region covered)")

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        if self.kind not in POOL_KINDS:
            raise BadInput(f"Layer {where}: pooling kind {self.kind!r}; use one of {', '.join(POOL_KINDS)}.")
        if not self.windows or any(not w for w in self.windows):
            raise ShapeMismatch(f"Layer {where}: pooling needs at least one non-empty window.")
        bad = [i for w in self.windows for i in w if not 0 <= i < d]
        if bad or any(len(set(w)) != len(w) for w in self.windows):
            raise ShapeMismatch(f"Layer {where}: pooling windows must hold distinct indices in 0..{d - 1} "
                                f"(the previous width is {d}); got {bad or 'a repeated index'}.")
        return len(self.windows)

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        d_out = self.out_dim(d, gs.shapes, where)
        if not gs.depends(x):
            return None, d_out
        n_out = out_width if out_width is not None else gs.width(d_out)
        S = sp.MatrixSymbol(f"S_{where}", n_out, x.shape[0])
        gs.hyp.append(f"layer {where} ({self.kind} pooling) is x -> S x: " + (
            "S averages each window (a fixed matrix)" if self.kind == "avg" else
            "S is the 0/1 selection of each window's arg-max, constant on each arg-max region (every region "
            "covered; max(c x) = c max(x) for c > 0, so S = d pool/dx there)") + "; S is any matrix in the proof")
        return S * x, d_out

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        count = st.next_index("aux")
        return sp.Matrix([self._one([a[i] for i in win], count, k, st) for k, win in enumerate(self.windows)])

    def _one(self, zs: list, count: int, k: int, st: SymbolicState) -> sp.Expr:
        if self.kind == "avg":
            return sp.Add(*zs) / len(zs)
        out = zs[-1]
        for j, z in enumerate(zs[:-1]):
            s = st.region(f"m{count}_{k}_{j}", sp.Tuple(z, *(zs[:j] + zs[j + 1:])), MAX_SELECT)
            out += s * (z - zs[-1])
        return out

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        if self.kind == "avg":
            return np.stack([A[:, list(w)].mean(axis=1) for w in self.windows], axis=1), None
        picks = [np.asarray(w)[np.argmax(A[:, list(w)], axis=1)] for w in self.windows]
        return np.stack([A[np.arange(A.shape[0]), p] for p in picks], axis=1), picks

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        dIn = np.zeros_like(A_in)
        rows = np.arange(A_in.shape[0])
        for k, w in enumerate(self.windows):
            if self.kind == "avg":
                dIn[:, list(w)] += dA[:, k:k + 1] / len(w)
            else:
                np.add.at(dIn, (rows, cache[k]), dA[:, k])
        return dIn

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        count = ex.next_index("aux")
        if self.kind == "avg":
            return np.array([ex.mod(ex.const(Fraction(1, len(w))) * sum(a[i] for i in w)) for w in self.windows],
                            dtype=object), None
        out, sel = [], []
        for k, win in enumerate(self.windows):
            zs = [a[i] for i in win]
            # max = z_last + sum_j s_j (z_j - z_last), the symbolic form (selection symbols m..)
            s = [ex.region(f"m{count}_{k}_{j}", (z, *(zs[:j] + zs[j + 1:])), MAX_SELECT) for j, z in enumerate(zs[:-1])]
            out.append(ex.mod(zs[-1] + sum((sj * (z - zs[-1]) for sj, z in zip(s, zs)), ex.const(0))))
            sel.append(s)
        return np.array(out, dtype=object), sel

    def exact_backward(self, P, a_in, sel, d, grads, ex: ExactState) -> np.ndarray:
        d_in = ex.zeros(a_in.shape)
        for k, win in enumerate(self.windows):
            if self.kind == "avg":
                share = ex.mod(ex.const(Fraction(1, len(win))) * d[k])
                for i in win:
                    d_in[i] = ex.mod(d_in[i] + share)
                continue
            s = sel[k]
            for sj, i in zip(s, win[:-1]):
                d_in[i] = ex.mod(d_in[i] + sj * d[k])
            last = ex.mod((ex.const(1) - sum(s, ex.const(0))) * d[k])
            d_in[win[-1]] = ex.mod(d_in[win[-1]] + last)
        return d_in

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple[LayerBase, list, int]:
        from hypothesis import strategies as st
        size = min(d, draw(st.integers(1, 3)))
        windows = tuple(tuple(range(o, o + size)) for o in range(0, d - size + 1, size))
        return cls(draw(st.sampled_from(POOL_KINDS)), windows), [], len(windows)


def _parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    where = ctx.where
    kind = spec_choice(d, "kind", POOL_KINDS, where)
    if "windows" in d:
        if set(d) & {"size", "stride", "height", "width"}:
            raise SpecError(f"{where}: give either windows or size (with stride, height, width), not both.")
        table = d["windows"]
        if (not isinstance(table, list) or not table or
                not all(isinstance(w, list) and w and all(isinstance(e, int) and not isinstance(e, bool) for e in w)
                        for w in table)):
            raise SpecError(f"{where}: windows must be a list of index lists, e.g. [[0, 1], [2, 3]].")
        windows = tuple(tuple(w) for w in table)
    elif "height" in d or "width" in d:
        c, h, w = spec_image(d, dim, where, "pool")
        size = spec_kernel(d, "size", where)
        windows = pool2d_windows(h, w, size, d.get("stride") and spec_int(d, "stride", where), channels=c)
    else:
        size = spec_int(d, "size", where)
        stride = spec_int(d, "stride", where, size)
        if size > dim:
            raise SpecError(f"{where}: pool size {size} exceeds the width {dim}; lower it.")
        windows = tuple(tuple(range(o, o + size)) for o in range(0, dim - size + 1, stride))
    bad = [i for w in windows for i in w if not 0 <= i < dim]
    if bad:
        raise SpecError(f"{where}: window index {bad[0]} is out of range 0..{dim - 1} (the width here).")
    return Pool(kind, windows), len(windows)


SPEC = {"pool": SpecRule(frozenset({"kind", "size", "stride", "height", "width", "windows"}), _parse)}
