"""The arithmetics the exact interpreter (``verify.interpret.modular``) runs the layers in.

* :class:`FieldArith`: the prime field GF(p), elements Python ints in [0, p) inside NumPy object
  arrays. Products are reduced at once (``mod``); large matrix products go through three 21-bit
  limbs and int64 NumPy products (exact: each limb product is < 2**42 and at most 2**20 of them
  are summed), which is ~30x faster than object-array products at width 128.
* :class:`RationalArith`: exact rationals (``fractions.Fraction``), for witnesses.
* :class:`DegreeArith`: an upper bound, per value, on the rational function it is in all the free
  variables (:class:`Deg`). It runs the same layer code, so the degree bound of a residual is
  derived from the architecture by the same hooks that evaluate it.

A :class:`Deg` N/D bounds: deg N <= ``n``; ||N||_1 <= 2**``h`` (sum of |coefficients|, integer
coefficients: rational constants put their denominators into D); D is a product of named factors
(each the numerator of a value that was inverted, or a constant's denominator), so sums over a
common denominator (softmax rows) do not multiply denominators. Sums and products follow the rules
N1/D1 + N2/D2 = (N1 L/D1 + N2 L/D2)/L (L = lcm of the factor multisets) and (N1 N2)/(D1 D2).
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import count
from typing import Any

import numpy as np

__all__ = ["Deg", "FieldArith", "RationalArith", "DegreeArith", "PointRejected", "DenominatorVanished", "Kink",
           "as_fraction"]

_LIMB = 21
_MASK = (1 << _LIMB) - 1
_FACTOR_IDS = count()
#: (op, id(a), id(b)) -> (a, b, result): layers apply one operation to whole arrays whose entries are
#: often one shared Deg, so most operations repeat (the operands are kept alive, so ids stay theirs).
_MEMO: dict = {}


class PointRejected(ArithmeticError):
    """The drawn point cannot be used (the caller draws another one)."""


class DenominatorVanished(PointRejected):
    """A denominator is 0 at the drawn point."""


class Kink(PointRejected):
    """A witness point lies on a kink (a pre-activation 0, a max-pool tie): no real region there."""


def as_fraction(r: Any) -> Fraction:
    """An exact rational from int, Fraction or a SymPy Rational/Integer."""
    if isinstance(r, (int, Fraction)):
        return Fraction(r)
    p, q = getattr(r, "p", None), getattr(r, "q", None)
    if p is None or q is None:
        raise TypeError(f"not an exact rational: {r!r}")
    return Fraction(int(p), int(q))


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
        return x if isinstance(x, Deg) else Deg.const(x)

    def __add__(self, other: Any) -> "Deg":
        if isinstance(other, np.ndarray):
            return NotImplemented
        hit = _MEMO.get(("+", id(self), id(other)))
        if hit is not None and hit[0] is self and hit[1] is other:
            return hit[2]
        out = self._add(other)
        _remember("+", self, other, out)
        return out

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
        hit = _MEMO.get(("*", id(self), id(other)))
        if hit is not None and hit[0] is self and hit[1] is other:
            return hit[2]
        out = self._mul(other)
        _remember("*", self, other, out)
        return out

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


def _remember(op: str, a: Any, b: Any, out: Deg) -> None:
    if len(_MEMO) > 100_000:
        _MEMO.clear()
    _MEMO[(op, id(a), id(b))] = (a, b, out)


def _as2d(A: np.ndarray, left: bool) -> np.ndarray:
    if A.ndim == 2:
        return A
    return A.reshape(1, -1) if left else A.reshape(-1, 1)


def _reshape_back(C: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    if A.ndim == 1 and B.ndim == 1:
        return C.reshape(())
    if A.ndim == 1:
        return C.reshape(-1)
    if B.ndim == 1:
        return C.reshape(-1)
    return C


class FieldArith:
    """GF(p): elements are ints in [0, p) (NumPy object arrays)."""

    kind = "field"

    def __init__(self, p: int, rng: Any, limb_threshold: int = 4096):
        self.p, self.rng, self.limb_threshold = p, rng, limb_threshold
        self.roots: Any = None  # a SurdContext once a square root is taken (verify.interpret.surd)

    def sqrt_value(self, base: Any, label: str, constant: bool = False) -> Any:
        """t = sqrt(base) as a new generator of GF(p)[t..]/(t**2 - beta) (``verify.interpret.surd``)."""
        from verify.interpret.surd import Surd, SurdContext
        from verify.model.layers._base import NoExactForm
        if isinstance(base, Surd):
            scalar = base.scalar()
            if scalar is None:
                raise NoExactForm(f"{label}: the normalised values already hold a square root (nested normalisation)")
            base = scalar
        if base % self.p == 0:
            raise DenominatorVanished(f"{label}: the norm is 0 at this point")
        if self.roots is None:
            self.roots = SurdContext(self.p)
        return self.roots.new(int(base), constant)

    def mod(self, x: Any) -> Any:
        return x % self.p

    def const(self, r: Any) -> int:
        f = as_fraction(r)
        if f.denominator % self.p == 0:
            raise DenominatorVanished(f"the constant {f} has a denominator divisible by p")
        return f.numerator * pow(f.denominator, -1, self.p) % self.p

    def inv(self, x: np.ndarray) -> np.ndarray:
        try:
            return np.array([v.inverse() if hasattr(v, "inverse") else pow(int(v), -1, self.p) for v in np.ravel(x)],
                            dtype=object).reshape(np.shape(x))
        except (ValueError, ZeroDivisionError):
            raise DenominatorVanished("a denominator is 0 mod p at this point") from None

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=object)

    def free(self, shape: tuple[int, ...] = ()) -> Any:
        """Uniform draws from GF(p) (the Schwartz-Zippel sample set S is the whole field)."""
        if shape == ():
            return self.rng.randrange(self.p)
        return np.array([self.rng.randrange(self.p) for _ in range(int(np.prod(shape)))], dtype=object).reshape(shape)

    def region_value(self, z: Any, rule: Any) -> int:
        return self.free()  # free: one evaluation covers every activation pattern

    def exp_value(self, S: np.ndarray) -> np.ndarray:
        return self.free(S.shape)

    def atom_value(self, z: Any, name: str) -> int:
        return self.free()

    def matmul(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        A2, B2 = _as2d(A, True), _as2d(B, False)
        (m, k), n = A2.shape, B2.shape[1]
        if m * k * n < self.limb_threshold or k >= 1 << 20 or self.roots is not None:
            return _reshape_back((A2 @ B2) % self.p, A, B)
        la = [np.array((A2 >> (_LIMB * i)) & _MASK, dtype=np.int64) for i in range(3)]
        lb = [np.array((B2 >> (_LIMB * j)) & _MASK, dtype=np.int64) for j in range(3)]
        out = np.zeros((m, n), dtype=object)
        for t in range(5):  # limb products of equal shift summed in int64 (< 3 * 2**20 * 2**42 < 2**63)
            part = np.sum([la[i] @ lb[t - i] for i in range(3) if 0 <= t - i < 3], axis=0)
            out = out + (part.astype(object) << (_LIMB * t))
        return _reshape_back(out % self.p, A, B)


class RationalArith:
    """Exact rationals (``Fraction``), for witnesses at real points."""

    kind = "rational"

    def mod(self, x: Any) -> Any:
        return x

    def const(self, r: Any) -> Fraction:
        return as_fraction(r)

    def inv(self, x: np.ndarray) -> np.ndarray:
        if any(v == 0 for v in np.ravel(x)):
            raise DenominatorVanished("a denominator is 0 at this point")
        return np.array([1 / Fraction(v) for v in np.ravel(x)], dtype=object).reshape(np.shape(x))

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, Fraction(0), dtype=object)

    def matmul(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return np.asarray(A @ B, dtype=object)

    def region_value(self, z: Any, rule: Any) -> Fraction:
        """The real region constant at the exact pre-activation z (never on a kink)."""
        import sympy as sp
        if isinstance(z, tuple):  # max-pool selection: (z_j, the other entries)
            value = rule.region_value(z)
        else:
            value = None if z == 0 else rule.region_value(sp.Rational(z.numerator, z.denominator))
        if value is None:
            raise Kink(f"pre-activation {z} is on a kink")
        return as_fraction(value)

    def exp_value(self, S: np.ndarray) -> np.ndarray:
        from verify.model.layers._base import NoExactForm
        raise NoExactForm("exp(score) is transcendental at a rational point: no exact rational witness")

    def sqrt_value(self, base: Any, label: str, constant: bool = False) -> Fraction:
        from verify.model.layers._base import NoExactForm
        f = Fraction(base)
        r = (math.isqrt(f.numerator), math.isqrt(f.denominator)) if f > 0 else None
        if r is None or r[0] ** 2 != f.numerator or r[1] ** 2 != f.denominator:
            raise NoExactForm(f"{label}: sqrt({f}) is irrational: no exact rational witness")
        return Fraction(*r)

    def atom_value(self, z: Any, name: str) -> Fraction:
        from verify.model.layers._base import NoExactForm
        raise NoExactForm(f"{name.split('[')[-1].rstrip(']')} is transcendental at a rational point: no exact "
                          "rational witness")


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
        A2, B2 = _as2d(A, True), _as2d(B, False)
        ua, ub = {id(v) for v in A2.ravel()}, {id(v) for v in B2.ravel()}
        if len(ua) == 1 and len(ub) == 1:  # every entry one shared bound: sum of k equal products
            prod = Deg._coerce(A2.flat[0]) * Deg._coerce(B2.flat[0])
            acc = prod if prod.is_zero else Deg(prod.n, prod.h + math.log2(A2.shape[1]) + 1e-9, prod.den)
            return _reshape_back(np.full((A2.shape[0], B2.shape[1]), acc, dtype=object), A, B)
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
            return _reshape_back(out, A, B)
        out = np.empty((A2.shape[0], B2.shape[1]), dtype=object)
        for i in range(A2.shape[0]):
            for j in range(B2.shape[1]):
                acc = Deg(0, -math.inf)
                for t in range(A2.shape[1]):
                    acc = acc + a[i][t] * b[t][j]
                out[i, j] = acc
        return _reshape_back(out, A, B)
