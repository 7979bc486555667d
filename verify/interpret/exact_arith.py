"""The arithmetics the exact interpreter (``verify.interpret.modular``) runs the layers in.

* :class:`FieldArith`: the prime field GF(p), elements Python ints in [0, p) inside NumPy object
  arrays. Products are reduced at once (``mod``); large matrix products go through three 21-bit
  limbs and int64 NumPy products (exact: each limb product is < 2**42 and at most 2**20 of them
  are summed), which is ~30x faster than object-array products at width 128.
* :class:`RationalArith`: exact rationals (``fractions.Fraction``), for witnesses.
* ``verify.interpret.degree.DegreeArith``: degree bounds, the third arithmetic of the same hooks.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["FieldArith", "RationalArith", "PointRejected", "DenominatorVanished", "Kink", "as_fraction", "as2d", "reshape_back"]

_LIMB = 21
_MASK = (1 << _LIMB) - 1


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


def as2d(A: np.ndarray, left: bool) -> np.ndarray:
    if A.ndim == 2:
        return A
    return A.reshape(1, -1) if left else A.reshape(-1, 1)


def reshape_back(C: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
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
        A2, B2 = as2d(A, True), as2d(B, False)
        (m, k), n = A2.shape, B2.shape[1]
        if m * k * n < self.limb_threshold or k >= 1 << 20 or self.roots is not None:
            return reshape_back((A2 @ B2) % self.p, A, B)
        la = [np.array((A2 >> (_LIMB * i)) & _MASK, dtype=np.int64) for i in range(3)]
        lb = [np.array((B2 >> (_LIMB * j)) & _MASK, dtype=np.int64) for j in range(3)]
        out = np.zeros((m, n), dtype=object)
        for t in range(5):  # limb products of equal shift summed in int64 (< 3 * 2**20 * 2**42 < 2**63)
            part = np.sum([la[i] @ lb[t - i] for i in range(3) if 0 <= t - i < 3], axis=0)
            out = out + (part.astype(object) << (_LIMB * t))
        return reshape_back(out % self.p, A, B)


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
