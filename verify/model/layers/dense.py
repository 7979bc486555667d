"""Dense layer z = W a (+ b), optionally with a sharing pattern (convolutions, any table).

References:
    Du, Hu & Lee (2018), Sec 2.1 (fully connected) and Sec 2.2 (the sharing pattern g_h).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from verify.errors import ShapeMismatch, SpecError
from verify.model.param import Param
from verify.model.patterns import conv1d_pattern, conv2d_pattern
from verify.model.layers._base import ExactState, GenericState, JetState, LayerBase, NumericState, Shapes, SpecContext, SpecRule, SymbolicState, shape_of
from verify.model.layers._values import MAX_PATTERN_ENTRIES, spec_flag, spec_image, spec_int, spec_kernel

__all__ = ["Dense", "SPEC", "check_bias"]


@dataclass(frozen=True)
class Dense(LayerBase):
    """z = W a (+ b).

    Attributes:
        weight: name of a matrix parameter, or (with ``pattern``) of the free-parameter vector v.
        bias: name of a vector parameter, or None.
        pattern: the sharing pattern g of Du, Hu & Lee Sec 2.2 as an (out x in) table of ints:
            0 means the entry is missing (always 0), p >= 1 means W[i, j] = v[p - 1].
    """

    weight: str
    bias: str | None = None
    pattern: tuple[tuple[int, ...], ...] | None = None

    def param_names(self) -> tuple[str, ...]:
        return (self.weight,) + ((self.bias,) if self.bias else ())

    def cost(self, d: int, out: int, shapes: Shapes) -> int:
        if self.pattern is None:
            return super().cost(d, out, shapes)
        # a sharing pattern has few parameters but one multiply-add per non-zero entry
        return sum(1 for row in self.pattern for g in row if g) + d + out

    def out_dim(self, d: int, shapes: Shapes, where: str) -> int:
        if self.pattern is not None:
            rows = self.pattern
            if not rows or any(len(r) != len(rows[0]) for r in rows):
                raise ShapeMismatch(f"Layer {where}: sharing pattern must be a non-empty rectangular table.")
            out, inn = len(rows), len(rows[0])
            nv = shape_of(shapes, self.weight, where)
            if len(nv) != 1 or max(max(r) for r in rows) > nv[0] or min(min(r) for r in rows) < 0:
                raise ShapeMismatch(
                    f"Layer {where}: pattern entries must lie in 0..{nv[0] if nv else '?'} for vector "
                    f"{self.weight!r} of shape {nv}.")
        else:
            ws = shape_of(shapes, self.weight, where)
            if len(ws) != 2:
                raise ShapeMismatch(f"Layer {where}: weight {self.weight!r} has shape {ws}; Dense needs a matrix.")
            out, inn = ws
        if inn != d:
            raise ShapeMismatch(f"Layer {where}: weight {self.weight!r} expects input width {inn}, "
                                f"but the previous layer gives {d}.")
        check_bias(shapes, self.bias, out, where)
        return out

    def symbolic_weight(self, P: Mapping[str, sp.Matrix]) -> sp.Matrix:
        if self.pattern is None:
            return P[self.weight]
        v, pat = P[self.weight], self.pattern
        return sp.Matrix(len(pat), len(pat[0]), lambda i, j: v[pat[i][j] - 1] if pat[i][j] else 0)

    def numeric_weight(self, P: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.pattern is None:
            return P[self.weight]
        v = np.concatenate([[0.0], P[self.weight]])  # index 0 = missing entry
        return v[np.asarray(self.pattern)]

    def batched_weight(self, P: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The (n, out, in) weights of n parameter points (``P`` holds (n, *shape) arrays)."""
        if self.pattern is None:
            return P[self.weight]
        v = np.concatenate([np.zeros((n, 1)), P[self.weight]], axis=1)  # index 0 = missing entry
        return v[:, np.asarray(self.pattern)]

    def jet_support(self) -> str | None:
        return None

    def jet_degree(self, deg: int) -> int:
        return deg + 1

    def jet_forward(self, P, a, ac, js: JetState) -> tuple[Any, bool, Any]:
        W = self.batched_weight(P, js.n)
        z, zc = js.mm(a, ac, W.transpose(0, 2, 1), False)  # batched matmul (BLAS), faster than einsum
        if self.bias is not None:
            z = js.ring.reduce(z + P[self.bias][:, None, :])
        return z, zc, (W, a, ac)

    def jet_backward(self, P, record, d, dc, js: JetState) -> tuple[Any, bool]:
        W, a_in, c_in = record
        dW, dWc = js.mm(d.transpose(0, 2, 1), dc, a_in, c_in)
        if self.bias is not None:
            js.put(self.bias, js.ring.reduce(d.sum(axis=1)), dc)
        if self.pattern is None:
            js.put(self.weight, dW, dWc)
        else:
            pat = np.asarray(self.pattern).ravel()
            onehot = np.zeros((pat.size, P[self.weight].shape[-1] + 1))
            onehot[np.arange(pat.size), pat] = 1.0
            flat = js.ring.matmul(dW.reshape(dW.shape[0], -1), onehot)  # constant matrix: coefficient-wise
            js.put(self.weight, flat[:, 1:], dWc)
        return js.mm(d, dc, W, False)

    def generic(self, x: Any, d: int, gs: GenericState, where: str, out_width: Any = None) -> tuple[Any, int]:
        d_out = self.out_dim(d, gs.shapes, where)
        if self.weight not in gs.names and (self.bias is None or self.bias not in gs.names) and not gs.depends(x):
            return None, d_out
        x = gs.concrete(x, d, f"the input of layer {where}")
        n_out = out_width if out_width is not None else gs.width(d_out)
        W = sp.MatrixSymbol(self.weight if self.pattern is None else f"W({self.weight})", n_out, x.shape[0])
        if self.weight in gs.names:
            if self.pattern is not None:
                gs.shared[self.weight] = W
                gs.hyp.append(f"layer {where} shares weights: W({self.weight}) = sum_p {self.weight}_p E_p for its "
                              "pattern's 0/1 matrices E_p (any pattern, any number of free parameters)")
            gs.symbols[self.weight] = W
        z = W * x
        if self.bias is not None:
            if self.bias in gs.names:  # b = B c, a weight on a constant input (see verify.prove.generic_net)
                k = sp.Symbol(f"k_{self.bias}", integer=True, positive=True)
                B, c = sp.MatrixSymbol(f"B_{self.bias}", n_out, k), sp.MatrixSymbol(f"c_{self.bias}", k, 1)
                gs.biases[self.bias] = (B, c)
                gs.symbols[self.bias] = sp.MatrixSymbol(self.bias, n_out, 1)
                z = z + B * c
            else:
                z = z + sp.MatrixSymbol(self.bias, n_out, 1)
        return z, d_out

    def symbolic(self, a: sp.Matrix, st: SymbolicState) -> sp.Matrix:
        a = self.symbolic_weight(st.P) * a
        return a + st.P[self.bias] if self.bias is not None else a

    def forward(self, P, A, ns: NumericState) -> tuple[np.ndarray, Any]:
        Z = A @ self.numeric_weight(P).T
        return (Z + P[self.bias] if self.bias is not None else Z), None

    def backward(self, P, A_in, cache, dA, grads, ns: NumericState) -> np.ndarray:
        gW = dA.T @ A_in
        if self.pattern is None:
            grads[self.weight] += gW
        else:
            pat = np.asarray(self.pattern)
            mask = pat > 0
            np.add.at(grads[self.weight], pat[mask] - 1, gW[mask])
        if self.bias is not None:
            grads[self.bias] += dA.sum(axis=0)
        return dA @ self.numeric_weight(P)

    def exact_weight(self, P: Mapping[str, np.ndarray], ex: ExactState) -> np.ndarray:
        if self.pattern is None:
            return P[self.weight]
        v = np.concatenate([ex.zeros((1,)), P[self.weight]])  # index 0 = missing entry
        return v[np.asarray(self.pattern)]

    def exact_forward(self, P, a, ex: ExactState) -> tuple[np.ndarray, Any]:
        z = ex.matmul(self.exact_weight(P, ex), a)
        return (ex.mod(z + P[self.bias]) if self.bias is not None else z), None

    def exact_backward(self, P, a_in, cache, d, grads, ex: ExactState) -> np.ndarray:
        gW = ex.mod(np.multiply.outer(d, a_in))
        if self.pattern is None:
            grads[self.weight] = ex.mod(grads[self.weight] + gW)
        else:
            pat = np.asarray(self.pattern)
            for (i, j), k in np.ndenumerate(pat):  # shared entries add up (object arrays: no add.at)
                if k:
                    grads[self.weight][k - 1] = ex.mod(grads[self.weight][k - 1] + gW[i, j])
        if self.bias is not None:
            grads[self.bias] = ex.mod(grads[self.bias] + d)
        return ex.matmul(d, self.exact_weight(P, ex))

    @classmethod
    def draw(cls, draw: Any, d: int, n: int) -> tuple[LayerBase, list[Param], int]:
        from hypothesis import strategies as st
        out, bias = draw(st.integers(1, 4)), draw(st.booleans())
        params = [Param(f"W{n}", (out, d))] + ([Param(f"b{n}", (out,))] if bias else [])
        return cls(f"W{n}", f"b{n}" if bias else None), params, out


def check_bias(shapes: Shapes, bias: str | None, out: int, where: str) -> None:
    if bias is not None and shape_of(shapes, bias, where) != (out,):
        raise ShapeMismatch(f"Layer {where}: bias {bias!r} must have shape ({out},), got "
                            f"{shape_of(shapes, bias, where)}.")


def _dense(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
    from verify.model.layers.weight_norm import NormalizedDense  # the weight_norm key of a dense table
    where, n = ctx.where, ctx.next_n()
    out = spec_int(d, "out", where)
    ctx.params.append(Param(f"W{n}", (out, dim)))
    bias, wn = spec_flag(d, "bias", where), spec_flag(d, "weight_norm", where)
    if wn and dim < 2:
        raise SpecError(f"{where}: weight_norm with input width 1 normalises each row to its sign; "
                        "drop weight_norm or widen the input.")
    if bias:
        ctx.params.append(Param(f"b{n}", (out,)))
    cls = NormalizedDense if wn else Dense
    return cls(f"W{n}", f"b{n}" if bias else None), out


def _check_table(entries: int, where: str) -> None:
    """Refuse a sharing-pattern table too large to build, before building it."""
    if entries > MAX_PATTERN_ENTRIES:
        raise SpecError(f"{where}: the sharing pattern would have {entries:,} entries, above the cap "
                        f"{MAX_PATTERN_ENTRIES:,}; use a smaller image, kernel count or padding.")


def _shared(kind: str):
    def parse(d: Mapping[str, Any], dim: int, ctx: SpecContext) -> tuple[LayerBase, int]:
        where, n = ctx.where, ctx.next_n()
        if kind == "conv1d":
            kernel, stride, pad = (spec_int(d, "kernel", where), spec_int(d, "stride", where, 1),
                                   spec_int(d, "padding", where, 0, low=0))
            _check_table(((dim + 2 * pad - kernel) // stride + 1) * dim, where)
            pattern = conv1d_pattern(dim, kernel, stride, pad)
        elif kind == "conv2d":
            c, h, w = spec_image(d, dim, where, "conv2d")
            k2, stride, pad = spec_kernel(d, "kernel", where), spec_int(d, "stride", where, 1), \
                spec_int(d, "padding", where, 0, low=0)
            oc = spec_int(d, "out_channels", where, 1)
            kh, kw = (k2, k2) if isinstance(k2, int) else k2
            _check_table(oc * ((h + 2 * pad - kh) // stride + 1) * ((w + 2 * pad - kw) // stride + 1) * dim, where)
            pattern = conv2d_pattern(h, w, k2, stride, pad, channels=c, out_channels=oc)
        else:
            table = d.get("pattern")
            if (not isinstance(table, list) or not table or
                    not all(isinstance(r, list) and r and all(isinstance(e, int) and not isinstance(e, bool)
                                                              and e >= 0 for e in r) for r in table)):
                raise SpecError(f"{where}: pattern must be a table of integers >= 0, e.g. [[1, 0], [2, 1]].")
            pattern = tuple(tuple(r) for r in table)
            if len({len(r) for r in pattern}) != 1 or len(pattern[0]) != dim:
                raise SpecError(f"{where}: pattern rows must all have length {dim} (the input width here).")
        n_free = max(max(r) for r in pattern)
        if n_free < 1:
            raise SpecError(f"{where}: the pattern has no free parameter; use entries >= 1.")
        ctx.params.append(Param(f"v{n}", (n_free,)))
        return Dense(f"v{n}", None, pattern), len(pattern)
    return parse


SPEC = {
    "dense": SpecRule(frozenset({"out", "bias", "weight_norm"}), _dense),
    "conv1d": SpecRule(frozenset({"kernel", "stride", "padding"}), _shared("conv1d")),
    "conv2d": SpecRule(frozenset({"height", "width", "kernel", "stride", "padding", "out_channels"}),
                       _shared("conv2d")),
    "shared": SpecRule(frozenset({"pattern"}), _shared("shared")),
}
