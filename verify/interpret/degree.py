"""Degree bounds: the arithmetic in which the exact hooks derive the degree of a residual.

:class:`DegreeArith` runs the same layer code as the prime field (``verify.interpret.exact_arith``),
with every free variable (parameter, input, region symbol, auxiliary, loss derivative) a
:class:`Deg` of degree 1, so the degree bound of a residual is derived from the architecture by
the hooks that evaluate it.

A :class:`Deg` N/D bounds: deg N <= ``n``; ||N||_1 <= 2**``h`` (sum of |coefficients|, integer
coefficients: rational constants put their denominators into D); D is a product of named factors
(each the numerator of a value that was inverted, or a constant's denominator), so sums over a
common denominator (softmax rows) do not multiply denominators. Sums and products follow the rules
N1/D1 + N2/D2 = (N1 L/D1 + N2 L/D2)/L (L = lcm of the factor multisets) and (N1 N2)/(D1 D2).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import count
from typing import Any

import numpy as np

from verify.interpret.exact_arith import DenominatorVanished, as2d, reshape_back, as_fraction

__all__ = ["Deg", "DegreeArith"]

_FACTOR_IDS = count()
#: The memo of the degree run in progress (``DegreeArith.scope``), or None outside one:
#: (op, id(a), id(b)) -> (a, b, result). Layers apply one operation to whole arrays whose entries are
#: often one shared Deg, so most operations repeat (the operands are kept alive, so ids stay theirs).
#: Scoped to one run, so no process-wide table keeps a finished run's values alive.
_MEMO: ContextVar[dict | None] = ContextVar("verify_degree_memo", default=None)


def _lse2(a: float, b: float) -> float:
    """log2(2**a + 2**b), rounded up a little (an upper bound)."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = max(a, b), min(a, b)
    return hi + math.log2(1.0 + 2.0 ** (lo - hi)) + 1e-9


class Deg:
    """Degree and coefficient-size bound of a rational function (see the module docstring)."""

    __slots__ = ("n", "h", "den")

    def __init__(self, n: int, h: float, den: tuple = ()):
        self.n, self.h, self.den = n, h, den  # den: sorted ((factor id, multiplicity, degree, height), ...)

    @staticmethod
    def var() -> "Deg":
        return Deg(1, 0.0)

    @staticmethod
    def const(r: Any) -> "Deg":
        f = as_fraction(r)
        if f == 0:
            return Deg(0, -math.inf)
        den = ((("c", f.denominator), 1, 0, math.log2(f.denominator)),) if f.denominator > 1 else ()
        return Deg(0, math.log2(abs(f.numerator)), den)

    @property
    def is_zero(self) -> bool:
        return self.h == -math.inf

    @property
    def den_degree(self) -> int:
        return sum(m * d for _, m, d, _ in self.den)

    @staticmethod
    def _coerce(x: Any) -> "Deg":
        if isinstance(x, np.ndarray) and x.shape == ():  # a 0-d entry (a diagonal net's scalar output)
            x = x.item()
        return x if isinstance(x, Deg) else Deg.const(x)

    def _memo(self, op: str, other: Any, compute: Any) -> "Deg":
        """``compute(other)``, remembered per (op, operands): a net's expressions reuse the same objects."""
        memo = _MEMO.get()
        if memo is None:
            return compute(other)
        hit = memo.get((op, id(self), id(other)))
        if hit is not None and hit[0] is self and hit[1] is other:
            return hit[2]
        out = compute(other)
        memo[(op, id(self), id(other))] = (self, other, out)
        return out

    def __add__(self, other: Any) -> "Deg":
        if isinstance(other, np.ndarray):
            return NotImplemented
        return self._memo("+", other, self._add)

    def _add(self, other: Any) -> "Deg":
        o = Deg._coerce(other)
        if self.is_zero:
            return o
        if o.is_zero:
            return self
        if self.den == o.den:
            return Deg(max(self.n, o.n), _lse2(self.h, o.h), self.den)
        a, b = {f[0]: f for f in self.den}, {f[0]: f for f in o.den}
        den, ea, eb = [], [0, 0.0], [0, 0.0]
        for fid in sorted(a.keys() | b.keys(), key=str):
            fa, fb = a.get(fid), b.get(fid)
            _, _, deg, h = fa if fa is not None else fb  # type: ignore[misc]
            ma, mb = (fa[1] if fa else 0), (fb[1] if fb else 0)
            m = max(ma, mb)
            den.append((fid, m, deg, h))
            ea[0] += (m - ma) * deg
            ea[1] += (m - ma) * h
            eb[0] += (m - mb) * deg
            eb[1] += (m - mb) * h
        return Deg(int(max(self.n + ea[0], o.n + eb[0])), _lse2(self.h + ea[1], o.h + eb[1]), tuple(den))

    __radd__ = __add__
    __sub__ = __add__
    __rsub__ = __add__

    def __neg__(self) -> "Deg":
        return self

    def __mul__(self, other: Any) -> "Deg":
        if isinstance(other, np.ndarray):
            return NotImplemented
        return self._memo("*", other, self._mul)

    def _mul(self, other: Any) -> "Deg":
        o = Deg._coerce(other)
        if self.is_zero or o.is_zero:
            return Deg(0, -math.inf)
        if not o.den:
            den = self.den
        elif not self.den:
            den = o.den
        else:
            merged: dict = {f[0]: list(f) for f in self.den}
            for f in o.den:
                if f[0] in merged:
                    merged[f[0]][1] += f[1]
                else:
                    merged[f[0]] = list(f)
            den = tuple(tuple(merged[k]) for k in sorted(merged, key=str))
        return Deg(self.n + o.n, self.h + o.h, den)

    __rmul__ = __mul__

    def __pow__(self, k: int) -> "Deg":
        if not isinstance(k, int) or k < 0:
            raise TypeError("Deg powers take integers >= 0 (negative powers go through inv)")
        if k == 0:
            return Deg.const(1)
        return Deg(self.n * k, self.h * k, tuple((f, m * k, d, h) for f, m, d, h in self.den))

    def inverse(self) -> "Deg":
        if self.is_zero:
            raise DenominatorVanished("inverse of a structurally zero value")
        fid = ("f", next(_FACTOR_IDS))
        return Deg(self.den_degree, sum(m * h for _, m, _, h in self.den), ((fid, 1, self.n, self.h),))

    def __repr__(self) -> str:
        return f"Deg(n={self.n}, den={self.den_degree}, h={self.h:.1f})"



class DegreeArith:
    """Degree bounds (:class:`Deg`); every free variable (parameter, input, region, aux, dl) is one.

    A square root t = sqrt(B) (polynomial B) gets weight ceil(deg B / 2) and height h(B)/2, so
    replacing t**2 by B never raises a bound; ``generators`` counts the roots (their number m
    enters the error bound through the norm of a denominator, of degree <= 2**m deg D).
    """

    kind = "degree"

    def __init__(self) -> None:
        self.generators = 0
        self._constants: set = set()

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Memoise Deg operations while the block runs (one degree run); forget them after."""
        token = _MEMO.set({})
        try:
            yield
        finally:
            _MEMO.reset(token)

    def sqrt_value(self, base: Any, label: str, constant: bool = False) -> Deg:
        from verify.model.layers._base import NoExactForm
        b = Deg._coerce(base)
        if any(deg for _, _, deg, _ in b.den):
            raise NoExactForm(f"{label}: the norm of a rational function (values with denominators) is not supported")
        key = (b.n, b.h, b.den)
        if not (constant and key in self._constants):
            self.generators += 1
            if constant:
                self._constants.add(key)
        # B = N/c (c constant): t = sqrt(N c)/c, so t**2 = B with integer-coefficient numerators
        c_bits = sum(m * h for _, m, _, h in b.den)
        return Deg(-(-b.n // 2), (b.h + c_bits) / 2, b.den)

    def mod(self, x: Any) -> Any:
        return x

    def const(self, r: Any) -> Deg:
        return Deg.const(r)

    def inv(self, x: np.ndarray) -> np.ndarray:
        return np.array([Deg._coerce(v).inverse() for v in np.ravel(x)], dtype=object).reshape(np.shape(x))

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, Deg(0, -math.inf), dtype=object)

    def free(self, shape: tuple[int, ...] = ()) -> Any:
        return Deg.var() if shape == () else np.full(shape, Deg.var(), dtype=object)

    def region_value(self, z: Any, rule: Any) -> Deg:
        return Deg.var()

    def atom_value(self, z: Any, name: str) -> Deg:
        return Deg.var()

    def exp_value(self, S: np.ndarray) -> np.ndarray:
        return self.free(S.shape)

    def matmul(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        A2, B2 = as2d(A, True), as2d(B, False)
        ua, ub = {id(v) for v in A2.ravel()}, {id(v) for v in B2.ravel()}
        if len(ua) == 1 and len(ub) == 1:  # every entry one shared bound: sum of k equal products
            prod = Deg._coerce(A2.flat[0]) * Deg._coerce(B2.flat[0])
            acc = prod if prod.is_zero else Deg(prod.n, prod.h + math.log2(A2.shape[1]) + 1e-9, prod.den)
            return reshape_back(np.full((A2.shape[0], B2.shape[1]), acc, dtype=object), A, B)
        a = [[Deg._coerce(v) for v in row] for row in A2]
        b = [[Deg._coerce(v) for v in row] for row in B2]
        if all(not v.den for row in a for v in row) and all(not v.den for row in b for v in row):
            # polynomial entries: (max, +) and log-sum-exp products vectorised
            an = np.array([[v.n if not v.is_zero else -(1 << 40) for v in r] for r in a], dtype=np.int64)
            bn = np.array([[v.n if not v.is_zero else -(1 << 40) for v in r] for r in b], dtype=np.int64)
            ah = np.array([[v.h for v in r] for r in a], dtype=float)
            bh = np.array([[v.h for v in r] for r in b], dtype=float)
            out = np.empty((A2.shape[0], B2.shape[1]), dtype=object)
            for i in range(A2.shape[0]):
                n = (an[i][:, None] + bn).max(axis=0)
                h = np.logaddexp2.reduce(ah[i][:, None] + bh, axis=0) + 1e-9 * A2.shape[1]
                for j in range(B2.shape[1]):
                    out[i, j] = Deg(int(n[j]), float(h[j])) if h[j] > -math.inf else Deg(0, -math.inf)
            return reshape_back(out, A, B)
        out = np.empty((A2.shape[0], B2.shape[1]), dtype=object)
        for i in range(A2.shape[0]):
            for j in range(B2.shape[1]):
                acc = Deg(0, -math.inf)
                for t in range(A2.shape[1]):
                    acc = acc + a[i][t] * b[t][j]
                out[i, j] = acc
        return reshape_back(out, A, B)
