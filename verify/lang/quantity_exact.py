"""A parsed quantity (``verify.lang.quantity``) evaluated on exact values with tangents.

``instantiate`` builds SymPy expressions; the randomized route (``verify.prove.randomized``) needs
the same quantity on exact matrices with tangents (``verify.prove.exact_quantity.QMatrix``), at
sizes where SymPy expressions would be too large (W1 @ W1.T at width 128). This interpreter walks
the same shape-checked AST with the same semantics (0-based indices, NumPy's rules for ``@``,
elementwise ``+ - * / **``, ``sum``, ``trace``), vectorised over whole matrices. ``norm`` is exact
only under an even power (norm(x)**2 = sum(x**2)); ``sqrt``, ``abs``, ``exp``, ``log``, ``tanh``
and non-integer powers raise ``NoExactForm`` (the symbolic route is used instead). The tests
check it against ``instantiate`` at random points.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from verify.lang.quantity import (BinOp, Call, Index, MatMul, Name, Neg, Node, Number, Pow, Quantity, Slice,
                                  Transpose)
from verify.lang.quantity_shape import check_quantity
from verify.model.layers._base import NoExactForm
from verify.prove.exact_quantity import QMatrix, QScalar

__all__ = ["exact_builder"]

# (shape, storage: () -> 1x1, (n,) -> n x 1, (m, n) -> m x n, more dimensions -> the row-major n x 1 column)
_Val = tuple[tuple[int, ...], QMatrix]


def _full(s: QScalar, shape: tuple[int, int]) -> QMatrix:
    return QMatrix(np.full(shape, s.v, dtype=object), None if s.t is None else np.full(shape, s.t, dtype=object), s.ar)


def _inverse(m: QMatrix) -> QMatrix:
    ar = m.ar
    inv = ar.inv(m.v)
    return QMatrix(inv, None if m.t is None else ar.mod(-m.t * ar.mod(inv * inv)), ar)


def _power(m: QMatrix, k: int) -> QMatrix:
    if k < 0:
        return _power(_inverse(m), -k)
    out, base = None, m
    while k:  # square and multiply, elementwise
        if k & 1:
            out = base if out is None else out.multiply_elementwise(base)
        k >>= 1
        if k:
            base = base.multiply_elementwise(base)
    return out if out is not None else _full(QScalar(m.ar.const(1), None, m.ar), m.shape)


def _total(m: QMatrix) -> QMatrix:
    ar = m.ar
    v = ar.mod(sum(m.v.ravel(), ar.const(0)))
    t = None if m.t is None else ar.mod(sum(m.t.ravel(), ar.const(0)))
    return QMatrix(np.array([[v]], dtype=object), None if t is None else np.array([[t]], dtype=object), ar)


def _exponent(node: Node) -> int:
    if isinstance(node, Number) and Fraction(int(node.value.p), int(node.value.q)).denominator == 1:
        return int(node.value)
    if isinstance(node, Neg):
        return -_exponent(node.operand)
    raise NoExactForm("quantity: only integer powers have an exact value in a prime field")


class _Evaluator:
    def __init__(self, values: Mapping[str, _Val], deps: Mapping[int, tuple[str, ...]], ar: Any):
        self.values, self.deps, self.ar = values, deps, ar
        self.cache: dict = {}

    def value(self, node: Node, env: Mapping[str, int]) -> _Val:
        key = (id(node), tuple(env[v] for v in self.deps[id(node)]))
        if key not in self.cache:
            self.cache[key] = self._value(node, env)
        return self.cache[key]

    def _binop(self, op: str, a: _Val, b: _Val) -> _Val:
        (sa, xa), (sb, xb) = a, b
        shape = sa or sb
        if not sa and sb:
            xa = _full(xa[0, 0], xb.shape)
        if not sb and sa:
            xb = _full(xb[0, 0], xa.shape)
        if op == "+":
            return shape, xa + xb
        if op == "-":
            return shape, xa - xb
        return shape, xa.multiply_elementwise(xb if op == "*" else _inverse(xb))

    def _value(self, node: Node, env: Mapping[str, int]) -> _Val:
        ar = self.ar
        if isinstance(node, Number):
            return (), QMatrix(np.array([[ar.const(Fraction(int(node.value.p), int(node.value.q)))]], dtype=object),
                               None, ar)
        if isinstance(node, Name):
            return self.values[node.id]
        if isinstance(node, Neg):
            s, x = self.value(node.operand, env)
            return s, -x
        if isinstance(node, Transpose):
            s, x = self.value(node.operand, env)
            return (s, x) if len(s) != 2 else ((s[1], s[0]), x.T)
        if isinstance(node, BinOp):
            return self._binop(node.op, self.value(node.left, env), self.value(node.right, env))
        if isinstance(node, Pow):
            k = _exponent(node.exponent)
            if isinstance(node.base, Call) and node.base.func == "norm":
                if k % 2:
                    raise NoExactForm("quantity: norm(x) is a square root; only even powers of a norm are exact")
                _, x = self.value(node.base.args[0], env)
                return (), _power(_total(x.multiply_elementwise(x)), k // 2)
            s, x = self.value(node.base, env)
            return s, _power(x, k)
        if isinstance(node, MatMul):
            return self._matmul(node, env)
        if isinstance(node, Call):
            s, x = self.value(node.args[0], env)
            if node.func == "sum":
                return (), _total(x)
            if node.func == "trace":
                n = s[0]
                return (), _total(QMatrix(np.diagonal(x.v).reshape(n, 1), None if x.t is None else
                                          np.diagonal(x.t).reshape(n, 1), ar))
            raise NoExactForm(f"quantity: {node.func}(...) has no exact value in a prime field")
        assert isinstance(node, Index)
        return self._index(node, env)

    def _matmul(self, node: MatMul, env: Mapping[str, int]) -> _Val:
        (sa, xa), (sb, xb) = self.value(node.left, env), self.value(node.right, env)
        left = xa if len(sa) == 2 else xa.T  # a vector on the left is a row
        out = left.matmul(xb)  # a vector on the right is already a column
        shape = sa[:-1] + sb[1:]
        if len(shape) == 1 and len(sa) == 1:  # (n,) @ (n, p) -> (p,): a column
            out = out.T
        return shape, out

    def _index(self, node: Index, env: Mapping[str, int]) -> _Val:
        s, x = self.value(node.base, env)
        sel: list[list[int]] = []
        shape: list[int] = []
        for item in node.items:
            if isinstance(item, Number):
                sel.append([int(item.value)])
            elif isinstance(item, Name):
                sel.append([env[item.id]])
            else:
                assert isinstance(item, Slice)
                lo = 0 if item.lower is None else item.lower
                hi = s[len(sel)] if item.upper is None else item.upper
                sel.append(list(range(lo, hi)))
                shape.append(hi - lo)
        for d in s[len(sel):]:
            sel.append(list(range(d)))
            shape.append(d)
        if len(s) > 2:  # a conv kernel (out, in, kh, kw): its row-major column, read as instantiate reads it
            out = x.take([int(np.ravel_multi_index(idx, s)) for idx in itertools.product(*sel)], [0])
            return tuple(shape), (out.reshape(*shape) if len(shape) == 2 else out)
        rows, cols = (sel + [[0]])[:2] if len(s) == 1 else (sel[0], sel[1]) if len(s) == 2 else ([0], [0])
        out = x.take(rows, cols)
        if len(shape) == 1 and out.rows == 1:
            out = out.T
        return tuple(shape), out


def exact_builder(q: Quantity, shapes: Mapping[str, tuple[int, ...]]) -> Callable[[Mapping[str, QMatrix]], dict]:
    """A ``build`` for the randomized route: exact matrices (vectors as columns, scalars 1 x 1) ->
    {instantiate's key: QScalar}."""
    summary, checker = check_quantity(q, dict(shapes))

    def build(P: Mapping[str, QMatrix]) -> dict:
        ar = next(iter(P.values())).ar
        values = {k: (tuple(shapes[k]), v) for k, v in P.items() if k in shapes}
        ev = _Evaluator(values, checker.deps, ar)
        letters = [v for v, _ in summary.index_ranges]
        out: dict = {}
        for assignment in itertools.product(*(range(size) for _, size in summary.index_ranges)):
            env = dict(zip(letters, assignment))
            prefix = tuple(zip(letters, assignment))
            shape, x = ev.value(q.ast, env)
            if len(shape) == 0:
                out[prefix] = x[0, 0]
            elif len(shape) == 1:
                for r in range(shape[0]):
                    out[prefix + (("entry", r),)] = x[r, 0]
            else:
                for r, c in itertools.product(range(shape[0]), range(shape[1])):
                    out[prefix + (("row", r), ("col", c))] = x[r, c]
        return out
    return build
