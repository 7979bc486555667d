"""A quantity Q evaluated exactly, with its derivative along a direction (dual numbers).

``QMatrix`` / ``QScalar`` stand in for SymPy matrices and scalars inside a quantity's ``build``
(the catalog's ``QuantityFn`` objects use ``*`` as the matrix product, ``.T``, ``.rows``,
``W[i, :]``, iteration over entries, exactly like ``sympy.Matrix``). Each holds a value and a
tangent in one exact arithmetic (``verify.interpret.exact_arith``): with parameters
theta + tau v, the tangent of Q is dQ/dtau at tau = 0, i.e. the exact directional derivative
sum_k dQ/dtheta_k v_k that gradient flow needs (dQ/dt with v = theta'). A tangent of None is 0.
Anything that is not a polynomial or rational operation (sqrt, abs, exp of a quantity) raises
``NoExactForm``.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from verify.model.layers._base import NoExactForm

__all__ = ["QScalar", "QMatrix", "entries", "as_qmatrix"]


def _num(x: Any) -> bool:
    return isinstance(x, (int, Fraction)) or (hasattr(x, "is_Rational") and bool(x.is_Rational))


def _add(ar, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return ar.mod(a + b)


def _neg(ar, a):
    return None if a is None else ar.mod(-a)


def _int_exponent(k: Any) -> int | None:
    if isinstance(k, bool):
        return None
    if isinstance(k, int):
        return k
    if isinstance(k, Fraction):
        return int(k) if k.denominator == 1 else None
    return int(k) if getattr(k, "is_Integer", False) else None


class QScalar:
    """An exact scalar with a tangent (dual number)."""

    __slots__ = ("v", "t", "ar")

    def __init__(self, v, t, ar):
        self.v, self.t, self.ar = v, t, ar

    def _lift(self, o):
        if isinstance(o, QScalar):
            return o
        if _num(o):
            return QScalar(self.ar.const(o), None, self.ar)
        if hasattr(o, "is_number"):
            raise NoExactForm(f"the constant {o} is not rational: no exact value in a prime field")
        return None

    def __add__(self, o):
        q = self._lift(o)
        if q is None:
            return NotImplemented
        return QScalar(self.ar.mod(self.v + q.v), _add(self.ar, self.t, q.t), self.ar)

    __radd__ = __add__

    def __neg__(self):
        return QScalar(self.ar.mod(-self.v), _neg(self.ar, self.t), self.ar)

    def __sub__(self, o):
        q = self._lift(o)
        return NotImplemented if q is None else self + (-q)

    def __rsub__(self, o):
        q = self._lift(o)
        return NotImplemented if q is None else q + (-self)

    def __mul__(self, o):
        q = self._lift(o)
        if q is None:
            return NotImplemented
        ar = self.ar
        t = _add(ar, None if self.t is None else ar.mod(self.t * q.v), None if q.t is None else ar.mod(self.v * q.t))
        return QScalar(ar.mod(self.v * q.v), t, ar)

    __rmul__ = __mul__

    def inverse(self) -> "QScalar":
        ar = self.ar
        inv = ar.inv(np.array([self.v], dtype=object))[0]
        t = None if self.t is None else ar.mod(-self.t * ar.mod(inv * inv))
        return QScalar(inv, t, ar)

    def __truediv__(self, o):
        q = self._lift(o)
        return NotImplemented if q is None else self * q.inverse()

    def __rtruediv__(self, o):
        q = self._lift(o)
        return NotImplemented if q is None else q * self.inverse()

    def __pow__(self, k):
        k = _int_exponent(k) if not isinstance(k, QScalar) else None
        if k is not None:
            base = self if k >= 0 else self.inverse()
            k = abs(k)
            if k == 0:
                return QScalar(self.ar.const(1), None, self.ar)
            ar = base.ar
            v = ar.mod(base.v ** k)
            t = None if base.t is None else ar.mod(ar.const(k) * ar.mod(base.v ** (k - 1)) * base.t)
            return QScalar(v, t, ar)
        raise NoExactForm(f"power {k} is not an integer: no exact value in a prime field")


class QMatrix:
    """An exact matrix with a tangent, with the ``sympy.Matrix`` interface quantities use."""

    __slots__ = ("v", "t", "ar")

    def __init__(self, v: np.ndarray, t: np.ndarray | None, ar):
        self.v, self.t, self.ar = v, t, ar

    @property
    def shape(self) -> tuple[int, int]:
        return self.v.shape

    @property
    def rows(self) -> int:
        return self.v.shape[0]

    @property
    def cols(self) -> int:
        return self.v.shape[1]

    def __len__(self) -> int:
        return self.v.size

    @property
    def T(self) -> "QMatrix":
        return QMatrix(self.v.T, None if self.t is None else self.t.T, self.ar)

    def reshape(self, r: int, c: int) -> "QMatrix":
        return QMatrix(self.v.reshape(r, c), None if self.t is None else self.t.reshape(r, c), self.ar)

    def _scalar(self, i: int, j: int) -> QScalar:
        return QScalar(self.v[i, j], None if self.t is None else self.t[i, j], self.ar)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            i, j = key
            if isinstance(i, int) and isinstance(j, int):
                return self._scalar(i, j)
            rows = [i] if isinstance(i, int) else range(self.rows)[i]
            cols = [j] if isinstance(j, int) else range(self.cols)[j]
            return self.take(list(rows), list(cols))
        if isinstance(key, int):  # flat, row-major (as sympy.Matrix)
            return self._scalar(*divmod(key, self.cols))
        raise TypeError(f"QMatrix index {key!r}")

    def take(self, rows: list[int], cols: list[int]) -> "QMatrix":
        ix = np.ix_(rows, cols)
        return QMatrix(self.v[ix], None if self.t is None else self.t[ix], self.ar)

    def row(self, i: int) -> "QMatrix":
        return self.take([i], list(range(self.cols)))

    def col(self, j: int) -> "QMatrix":
        return self.take(list(range(self.rows)), [j])

    def __iter__(self):
        for i in range(self.rows):
            for j in range(self.cols):
                yield self._scalar(i, j)

    def _zip(self, o: "QMatrix", sign: int) -> "QMatrix":
        if o.shape != self.shape:
            raise ValueError(f"shapes {self.shape} and {o.shape} differ")
        ot = o.t if sign > 0 or o.t is None else -o.t
        return QMatrix(self.ar.mod(self.v + (o.v if sign > 0 else -o.v)), _add(self.ar, self.t, ot), self.ar)

    def __add__(self, o):
        return self._zip(o, 1) if isinstance(o, QMatrix) else NotImplemented

    def __sub__(self, o):
        return self._zip(o, -1) if isinstance(o, QMatrix) else NotImplemented

    def __neg__(self):
        return QMatrix(self.ar.mod(-self.v), _neg(self.ar, self.t), self.ar)

    def scale(self, s: QScalar) -> "QMatrix":
        ar = self.ar
        t = _add(ar, None if s.t is None else ar.mod(self.v * s.t), None if self.t is None else ar.mod(self.t * s.v))
        return QMatrix(ar.mod(self.v * s.v), t, ar)

    def matmul(self, o: "QMatrix") -> "QMatrix":
        ar = self.ar
        t = _add(ar, None if self.t is None else ar.matmul(self.t, o.v), None if o.t is None else ar.matmul(self.v, o.t))
        return QMatrix(ar.matmul(self.v, o.v), t, ar)

    def multiply_elementwise(self, o: "QMatrix") -> "QMatrix":
        ar = self.ar
        t = _add(ar, None if self.t is None else ar.mod(self.t * o.v), None if o.t is None else ar.mod(self.v * o.t))
        return QMatrix(ar.mod(self.v * o.v), t, ar)

    def __mul__(self, o):
        if isinstance(o, QMatrix):
            return self.matmul(o)
        s = QScalar(self.ar.const(0), None, self.ar)._lift(o)
        return NotImplemented if s is None else self.scale(s)

    def __rmul__(self, o):
        s = QScalar(self.ar.const(0), None, self.ar)._lift(o)
        return NotImplemented if s is None else self.scale(s)

    def __truediv__(self, o):
        s = QScalar(self.ar.const(0), None, self.ar)._lift(o)
        return NotImplemented if s is None else self.scale(s.inverse())


def as_qmatrix(value: np.ndarray, tangent: np.ndarray | None, ar) -> QMatrix:
    """A parameter (shape (), (n,) or (m, n)) as the matrix the symbolic engine uses: vectors are
    columns and scalars 1 x 1 (``verify.interpret.symbolic.param_matrices``)."""
    value = np.asarray(value, dtype=object)  # 0-d results of arithmetic on scalars come back unwrapped
    shape = value.shape if value.ndim == 2 else (value.size, 1)
    return QMatrix(value.reshape(shape), None if tangent is None else np.asarray(tangent, dtype=object).reshape(shape),
                   ar)


def entries(value: Any, ar, prefix: str = "") -> list[tuple[str, QScalar]]:
    """Labelled scalar entries of a quantity's value (dict / matrix / scalar), as
    ``verify.prove.concrete.entries`` labels them."""
    if isinstance(value, Mapping):
        out = []
        for key, v in value.items():
            out += entries(v, ar, f"{prefix}{key}")
        return out
    if isinstance(value, QMatrix):
        if value.shape == (1, 1):
            return [(prefix, value[0, 0])]
        return [(f"{prefix}[{i},{j}]", value[i, j]) for i in range(value.rows) for j in range(value.cols)]
    if isinstance(value, QScalar):
        return [(prefix, value)]
    if _num(value):
        return [(prefix, QScalar(ar.const(value), None, ar))]
    raise NoExactForm(f"the quantity's value {type(value).__name__} has no exact form")
