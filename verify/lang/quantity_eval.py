"""Evaluation of a shape-checked quantity to exact SymPy scalars: ``instantiate``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

import sympy

from verify.errors import BadInput, ShapeMismatch, SpecError
from verify.lang.quantity_ast import (
    MAX_NUMERIC_EXPONENT, MAX_POWER, MAX_RATIONAL_BITS, BinOp, Call, Expr, Index, MatMul, Name, Neg, Number, Pow,
    Quantity, Transpose, error_at, snippet,
)
from verify.lang.quantity_shape import check_quantity

__all__ = ["instantiate"]

_ELEMENTWISE = {"sqrt": sympy.sqrt, "abs": sympy.Abs, "exp": sympy.exp, "log": sympy.log,
                "tanh": sympy.tanh}
_NON_FINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
_Val = tuple[tuple[int, ...], tuple[sympy.Expr, ...]]  # (shape, row-major entries)


def _param_values(params: Mapping[str, object], shapes: Mapping[str, tuple[int, ...]] | None
                  ) -> dict[str, _Val]:
    """Each parameter as (shape, row-major entries)."""
    shapes = shapes or {}
    out: dict[str, _Val] = {}
    for name, value in params.items():
        if isinstance(value, sympy.MatrixExpr) and not isinstance(value, sympy.MatrixBase):
            value = value.as_explicit()
        if isinstance(value, sympy.MatrixBase):
            r, c = value.shape
            entries = tuple(value[a, b] for a in range(r) for b in range(c))
            declared = shapes.get(name)
            if declared is not None:
                declared = tuple(declared)
                size = 1
                for d in declared:
                    size *= d
                # More than 2 dimensions (a conv kernel (out, in, kh, kw)): any r x c value of that
                # size, read row-major.
                if size != r * c or (len(declared) == 2 and declared != (r, c)):
                    raise ShapeMismatch(f"quantity: parameter {name!r} is a {r}x{c} matrix but "
                                        f"its declared shape is {declared}. Pass "
                                        "matching shapes.")
                shape = declared
            elif (r, c) == (1, 1):
                shape = ()
            elif c == 1:
                shape = (r,)
            else:
                shape = (r, c)
        elif isinstance(value, sympy.Basic):
            shape, entries = (), (value,)
        elif isinstance(value, int) and not isinstance(value, bool):
            shape, entries = (), (sympy.Integer(value),)
        else:
            raise TypeError(f"parameter {name!r}: expected a SymPy expression or Matrix, got "
                            f"{type(value).__name__}; wrap numbers with sympy.Rational.")
        if any(d < 1 for d in shape):
            raise ShapeMismatch(f"quantity: parameter {name!r} has shape {shape}; "
                                "every size must be >= 1.")
        out[name] = (shape, entries)
    return out


# --- evaluation ---------------------------------------------------------------------------------
def _positions(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    return itertools.product(*(range(d) for d in shape))


def _flat(shape: tuple[int, ...], idx: tuple[int, ...]) -> int:
    out = 0
    for d, i in zip(shape, idx):
        out = out * d + i
    return out


class _Evaluator:
    """Interprets a shape-checked AST for one assignment of the index variables at a time,
    caching every sub-expression by the values of the index variables it depends on."""

    def __init__(self, q: Quantity, values: Mapping[str, _Val], deps: Mapping[int, tuple[str, ...]]):
        self.text = q.text
        self.values = values
        self.deps = deps
        self.cache: dict[tuple[int, tuple[int, ...]], _Val] = {}

    def value(self, node: Expr, env: Mapping[str, int]) -> _Val:
        key = (id(node), tuple(env[v] for v in self.deps[id(node)]))
        hit = self.cache.get(key)
        if hit is None:
            try:
                hit = self._value(node, env)
            except BadInput:
                raise
            except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
                # SymPy's arithmetic is the only code here that can raise; report where.
                raise error_at(SpecError, self.text, node.start, f"cannot evaluate "
                               f"{snippet(self.text, node)} ({type(exc).__name__})",
                               "Simplify this sub-expression.") from None
            self.cache[key] = hit
        return hit

    def finite(self, node: Expr, entries: tuple[sympy.Expr, ...]) -> tuple[sympy.Expr, ...]:
        for e in entries:
            if e.has(*_NON_FINITE):
                raise error_at(SpecError, self.text, node.start, f"{snippet(self.text, node)} "
                               f"is infinite or undefined (it evaluates to {e})", "Remove the "
                               "division by zero, log(0) or similar from the quantity.")
        return entries

    def _pow(self, node: Pow, base: sympy.Expr, e: sympy.Expr) -> sympy.Expr:
        # Guard exact arithmetic against astronomically large numbers (2**2**2**2**2**2).
        if e.is_Rational and base.is_number:
            if base.is_Rational:
                bits = max(abs(base.p).bit_length(), base.q.bit_length())
                if bits * abs(e.p) > MAX_RATIONAL_BITS * e.q:
                    raise error_at(SpecError, self.text, node.start, f"{snippet(self.text, node)}"
                                   " is too large a number", f"Exact numbers are limited to about "
                                   f"{MAX_RATIONAL_BITS} bits; use smaller exponents.")
            elif abs(e) > MAX_NUMERIC_EXPONENT:
                raise error_at(SpecError, self.text, node.start, f"{snippet(self.text, node)} "
                               "has too large an exponent", f"Numeric exponents are limited to "
                               f"+-{MAX_NUMERIC_EXPONENT}.")
        elif e.is_Number and abs(e) > MAX_POWER:
            raise error_at(SpecError, self.text, node.start, f"{snippet(self.text, node)} has exponent {e}",
                           f"Powers of parameters are capped at degree {MAX_POWER}.")
        return base**e

    def _value(self, node: Expr, env: Mapping[str, int]) -> _Val:
        if isinstance(node, Number):
            return (), (node.value,)
        if isinstance(node, Name):
            return self.values[node.id]
        if isinstance(node, Neg):
            s, xs = self.value(node.operand, env)
            return s, tuple(-x for x in xs)
        if isinstance(node, Transpose):
            s, xs = self.value(node.operand, env)
            if len(s) != 2:
                return s, xs
            m, n = s
            return (n, m), tuple(xs[r * n + c] for c in range(n) for r in range(m))
        if isinstance(node, BinOp):
            (sa, xa), (sb, xb) = self.value(node.left, env), self.value(node.right, env)
            shape = sa or sb
            size = len(xa) if sa else len(xb)
            xa = xa if sa else xa * size
            xb = xb if sb else xb * size
            if node.op == "+":
                return shape, tuple(a + b for a, b in zip(xa, xb))
            if node.op == "-":
                return shape, tuple(a - b for a, b in zip(xa, xb))
            if node.op == "*":
                return shape, tuple(a * b for a, b in zip(xa, xb))
            return shape, self.finite(node, tuple(a / b for a, b in zip(xa, xb)))
        if isinstance(node, Pow):
            (s, xs), (_, (e,)) = self.value(node.base, env), self.value(node.exponent, env)
            return s, self.finite(node, tuple(self._pow(node, x, e) for x in xs))
        if isinstance(node, MatMul):
            return self._matmul(node, env)
        if isinstance(node, Call):
            s, xs = self.value(node.args[0], env)
            if node.func == "sum":
                return (), (sympy.Add(*xs),)
            if node.func == "norm":
                return (), (sympy.sqrt(sympy.Add(*(x**2 for x in xs))),)
            if node.func == "trace":
                return (), (sympy.Add(*(xs[r * s[1] + r] for r in range(s[0]))),)
            fn = _ELEMENTWISE[node.func]
            return s, self.finite(node, tuple(fn(x) for x in xs))
        return self._index(node, env)

    def _matmul(self, node: MatMul, env: Mapping[str, int]) -> _Val:
        (sa, xa), (sb, xb) = self.value(node.left, env), self.value(node.right, env)
        a2 = sa if len(sa) == 2 else (1, sa[0])  # a vector on the left is a row
        b2 = sb if len(sb) == 2 else (sb[0], 1)  # a vector on the right is a column
        m, k = a2
        p = b2[1]
        entries = tuple(sympy.Add(*(xa[r * k + t] * xb[t * p + c] for t in range(k)))
                        for r in range(m) for c in range(p))
        return sa[:-1] + sb[1:], entries

    def _index(self, node: Index, env: Mapping[str, int]) -> _Val:
        s, xs = self.value(node.base, env)
        sel: list[range] = []
        shape: list[int] = []
        for item in node.items:
            if isinstance(item, Number):
                v = int(item.value)
                sel.append(range(v, v + 1))
            elif isinstance(item, Name):
                v = env[item.id]
                sel.append(range(v, v + 1))
            else:
                lo = 0 if item.lower is None else item.lower
                hi = s[len(sel)] if item.upper is None else item.upper
                sel.append(range(lo, hi))
                shape.append(hi - lo)
        for d in s[len(sel):]:
            sel.append(range(d))
            shape.append(d)
        return tuple(shape), tuple(xs[_flat(s, idx)] for idx in itertools.product(*sel))


def instantiate(
    q: Quantity,
    params: Mapping[str, sympy.Expr | sympy.MatrixBase],
    *,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> dict[tuple[tuple[str, int], ...], sympy.Expr]:
    """Every scalar condition that ``q`` states about ``params``.

    Args:
        q: from ``parse_quantity``.
        params: parameter name -> SymPy scalar (shape ()), column ``Matrix`` (n x 1: a vector of
            shape (n,)) or ``Matrix`` (m x n). Without ``shapes``, a 1 x 1 Matrix is a scalar.
        shapes: optional declared shapes (e.g. ``{p.name: p.shape for p in model.params}``);
            they decide whether an n x 1 Matrix is a vector (n,) or a matrix (n, 1), and whether
            a 1 x 1 Matrix is a scalar, a vector (1,) or a matrix (1, 1).

    Returns:
        A dict from keys to exact scalar SymPy expressions. A key starts with one
        ``(letter, value)`` pair per free index (in ``q.free_indices`` order, values 0-based),
        followed by ``("entry", r)`` for a vector-valued quantity or ``("row", r), ("col", c)``
        for a matrix-valued one. Keys are in lexicographic order.

    Raises:
        UnknownName: a parameter name not in ``params`` (with the closest names).
        ShapeMismatch: incompatible shapes, an index out of range, conflicting index ranges.
        SpecError: division by zero and similar, astronomically large numbers, too many entries.
        TypeError: ``params`` values that are not SymPy objects (a programming error).
    """
    if not isinstance(q, Quantity):
        raise TypeError(f"instantiate expects a Quantity from parse_quantity, got "
                        f"{type(q).__name__}")
    values = _param_values(params, shapes)
    summary, checker = check_quantity(q, {k: v[0] for k, v in values.items()})
    ev = _Evaluator(q, values, checker.deps)
    letters = [v for v, _ in summary.index_ranges]
    out: dict[tuple[tuple[str, int], ...], sympy.Expr] = {}
    for assignment in itertools.product(*(range(size) for _, size in summary.index_ranges)):
        env = dict(zip(letters, assignment))
        prefix = tuple(zip(letters, assignment))
        shape, entries = ev.value(q.ast, env)
        labels = ("entry",) if len(shape) == 1 else ("row", "col")
        for pos, entry in zip(_positions(shape), entries):
            out[prefix + tuple(zip(labels, pos))] = entry
    return out
