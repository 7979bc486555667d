"""The quantity language read as matrix words of a generic model (``verify.prove.generic_net``).

``to_words(q, symbols, shared)`` walks the parsed quantity (``verify.lang.quantity``; never evaluated)
and writes it with the generic matrices: ``W1[i,:]`` is e_i^T W1 (e_i the i-th unit vector of W1's
row width), ``W2[:,i]`` is W2 e_i, ``b1[i]`` is e_i^T b1, ``sum(X**2)`` and ``norm(X)**2`` are
tr(X X^T), ``sum(X)`` is 1^T X 1, ``trace``, ``@``, ``.T``, ``+ - *`` by numbers and ``/`` by
numbers keep their meaning. Anything else (a concrete index such as ``W1[0,:]``, a slice with bounds,
sqrt / exp / ..., an elementwise product of two non-scalars) has no word form at symbolic widths,
and ``NoGenericRule`` says which part of the quantity. ``to_indexed`` reads a quantity of a
diagonal layer's entries ``u[i]`` as an indexed SymPy scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from verify.certificates import Step
from verify.lang.quantity import BinOp, Call, Index, MatMul, Name, Neg, Number, Pow, Quantity, Slice, Transpose, unparse
from verify.prove.generic_diag import INDEX, entry
from verify.prove.generic_net import NoGenericRule
from verify.prove.generic_rules import GenericQuantity

__all__ = ["to_words", "to_indexed"]


@dataclass(frozen=True)
class _V:
    """A translated value: kind ``mat`` (MatrixExpr; ``vec`` when 1-D in the quantity), ``num``
    (a rational), ``sq`` (X**2 elementwise, only for sum), ``shared`` / ``sqshared`` (a shared
    vector, only for norm(v)**2 and sum(v**2)) or ``scalar`` (a linear combination of traces)."""

    kind: str
    x: Any
    vec: bool = False


class _Reader:
    def __init__(self, q: Quantity, symbols, shared):
        self.q, self.symbols, self.shared = q, symbols, shared
        self.units: dict = {}
        self.readings: list[str] = []

    def no(self, node, why: str):
        return NoGenericRule(f"the part {unparse(node)!r} of the quantity {why}")

    def note(self, text: str) -> None:
        if text not in self.readings:
            self.readings.append(text)

    def unit(self, letter: str, n, node):
        e = self.units.get(letter)
        if e is None:
            e = self.units[letter] = sp.MatrixSymbol(f"e_{letter}", n, 1)
        elif e.shape[0] != n:
            raise self.no(node, f"runs index {letter} over width {n}, but elsewhere over {e.shape[0]}: "
                                "no single unit vector e_" + letter)
        return e

    def scalar(self, v: _V, node):
        if v.kind == "scalar":
            return v.x
        if v.kind == "mat" and v.x.shape == (1, 1):
            return sp.Trace(v.x)
        if v.kind == "num":
            raise self.no(node, "adds a constant (no generic rule needed: drop it)")
        raise self.no(node, "is not a scalar")

    def read(self, node) -> _V:
        method = getattr(self, "_" + type(node).__name__.lower(), None)
        if method is None:
            raise self.no(node, "has no matrix-word form")
        return method(node)

    def _number(self, node: Number) -> _V:
        return _V("num", node.value)

    def _name(self, node: Name) -> _V:
        if node.id in self.shared:
            return _V("shared", self.shared[node.id])
        if node.id not in self.symbols:
            raise self.no(node, f"names {node.id}, which the generic model does not hold")
        X = self.symbols[node.id]
        return _V("mat", X, vec=X.shape[1] == 1)

    def _index(self, node: Index) -> _V:
        if isinstance(node.base, Name) and node.base.id in self.shared:
            raise self.no(node, f"names entries of the shared vector {node.base.id}, whose length and layout depend "
                                "on the sharing pattern of the spec; only norm(v)**2 and sum(v**2) have a generic form")
        if not isinstance(node.base, Name) or node.base.id not in self.symbols:
            raise self.no(node, "indexes something other than a parameter of the generic model")
        X = self.symbols[node.base.id]
        items = list(node.items) + [Slice(None, None)] * ((1 if X.shape[1] == 1 else 2) - len(node.items))
        dims = [X.shape[0]] if X.shape[1] == 1 else [X.shape[0], X.shape[1]]
        picks = []
        for item, n in zip(items, dims):
            if isinstance(item, Name):
                picks.append(self.unit(item.id, n, node))
            elif isinstance(item, Slice) and item.lower is None and item.upper is None:
                picks.append(None)
            else:
                raise self.no(node, "names a concrete entry or range, which exists only at the spec's sizes")
        left = picks[0]
        right = picks[1] if len(picks) > 1 else None
        out = X if left is None else left.T * X
        if right is not None:
            out = out * right
        if left is not None and X.shape[1] == 1:
            self.note(f"{node.base.id}[{items[0].id}] = e_{items[0].id}^T {node.base.id}")  # type: ignore[union-attr]
        elif left is not None:
            self.note(f"{node.base.id}[{items[0].id}, ...] = e_{items[0].id}^T {node.base.id}")  # type: ignore[union-attr]
        if right is not None:
            self.note(f"{node.base.id}[..., {items[1].id}] = {node.base.id} e_{items[1].id}")  # type: ignore[union-attr]
        return _V("mat", out, vec=sum(p is None for p in picks) == 1)

    def _neg(self, node: Neg) -> _V:
        v = self.read(node.operand)
        if v.kind in ("mat", "num", "scalar"):
            return _V(v.kind, -v.x, v.vec)
        raise self.no(node, "negates a value with no word form")

    def _transpose(self, node: Transpose) -> _V:
        v = self.read(node.operand)
        if v.kind != "mat":
            raise self.no(node, "transposes a value with no word form")
        return v if v.vec else _V("mat", v.x.T)

    def _matmul(self, node: MatMul) -> _V:
        a, b = self.read(node.left), self.read(node.right)
        if a.kind != "mat" or b.kind != "mat":
            raise self.no(node, "multiplies values with no word form")
        A, B = a.x, b.x
        if a.vec and A.shape[1] == 1 and A.shape[0] != 1:
            A = A.T  # a 1-D left operand is a row
        if b.vec and B.shape[0] == 1 and B.shape[1] != 1:
            B = B.T  # a 1-D right operand is a column
        if A.shape[1] != B.shape[0]:
            raise self.no(node, f"multiplies widths {A.shape[1]} and {B.shape[0]}, which the generic model does "
                                "not identify")
        return _V("mat", A * B, vec=(a.vec or b.vec) and not (a.vec and b.vec))

    def _binop(self, node: BinOp) -> _V:
        a, b = self.read(node.left), self.read(node.right)
        if node.op in "+-":
            sign = 1 if node.op == "+" else -1
            if a.kind == "mat" and b.kind == "mat" and a.x.shape == b.x.shape and a.x.shape != (1, 1):
                return _V("mat", a.x + sign * b.x, a.vec)
            return _V("scalar", self.scalar(a, node.left) + sign * self.scalar(b, node.right))
        if node.op == "*":
            if a.kind == "num" or b.kind == "num":
                c, v = (a, b) if a.kind == "num" else (b, a)
                if v.kind in ("mat", "scalar", "num"):
                    return _V(v.kind, c.x * v.x, v.vec)
            if a.kind == "mat" and b.kind == "mat" and a.x.shape == (1, 1) == b.x.shape:
                return _V("mat", a.x * b.x)
            raise self.no(node, "multiplies two values entrywise (no word form at symbolic widths)")
        if node.op == "/" and b.kind == "num" and a.kind in ("mat", "scalar", "num"):
            return _V(a.kind, a.x / b.x, a.vec)
        raise self.no(node, f"uses {node.op} with no word form")

    def _pow(self, node: Pow) -> _V:
        if not (isinstance(node.exponent, Number) and node.exponent.value == 2):
            raise self.no(node, "raises to a power other than 2 (no word form)")
        if isinstance(node.base, Call) and node.base.func == "norm":
            return self._squares(self.read(node.base.args[0]), node, "norm(X)**2")
        v = self.read(node.base)
        if v.kind == "mat" and v.x.shape == (1, 1):
            self.note("x**2 = x x^T for a 1x1 word x")
            return _V("mat", v.x * v.x.T)
        if v.kind == "mat":
            return _V("sq", v.x, v.vec)
        if v.kind == "shared":
            return _V("sqshared", v.x)
        raise self.no(node, "squares a value with no word form")

    def _squares(self, v: _V, node, how: str) -> _V:
        if v.kind in ("shared", "sqshared"):
            self.note(f"{how} of a shared vector v is ||v||^2 (moves as tr(W W^T), see the shared-layer step)")
            return _V("scalar", sp.Trace(v.x * v.x.T))
        if v.kind in ("mat", "sq"):
            X = v.x if not (v.vec and v.x.shape[0] == 1) else v.x.T
            self.note(f"{how} = tr(X X^T)")
            return _V("scalar", sp.Trace(X.T * X) if X.shape[1] == 1 else sp.Trace(X * X.T))
        raise self.no(node, "is a norm of a value with no word form")

    def _call(self, node: Call) -> _V:
        arg = node.args[0]
        if node.func == "sum":
            v = self.read(arg)
            if v.kind in ("sq", "sqshared"):
                return self._squares(v, node, "sum(X**2)")
            if v.kind == "mat":
                X = v.x
                if X.shape == (1, 1):
                    return _V("mat", X)
                left = sp.MatrixSymbol("1", X.shape[0], 1)
                out = left.T * X if X.shape[1] == 1 else left.T * X * sp.MatrixSymbol("1", X.shape[1], 1)
                self.note("sum(X) = 1^T X 1 (1 the all-ones vector)")
                return _V("mat", out)
        if node.func == "trace":
            v = self.read(arg)
            if v.kind == "mat" and v.x.shape[0] == v.x.shape[1]:
                return _V("scalar", sp.Trace(v.x))
        if node.func == "norm":
            raise self.no(node, "is a norm without **2 (a square root of words)")
        raise self.no(node, f"applies {node.func}, which has no word form")


def to_words(q: Quantity, symbols, shared) -> GenericQuantity:
    """The quantity as a ``GenericQuantity`` on the generic matrices ``symbols`` (see the module docstring)."""
    r = _Reader(q, symbols, shared)
    v = r.read(q.ast)
    if v.kind == "mat" and v.x.shape != (1, 1):
        value, kind = v.x, "matrix"
    else:
        value, kind = r.scalar(v, q.ast), "trace"
    what = "every entry" if kind == "matrix" else "a scalar; a 1x1 word is its own trace"
    steps = (Step(f"Q = {sp.sstr(value)}  ({what})", "the quantity as matrix words: " + "; ".join(r.readings or ["as written"])),)
    return GenericQuantity(q.text, kind, value, dict(r.units), steps)


def to_indexed(q: Quantity, factors) -> tuple[sp.Expr, frozenset]:
    """A quantity of a diagonal layer's entries (``u1[i]**2 - u3[i]**2``) as a scalar in name[i]."""
    named: set[str] = set()

    def read(node):
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Index) and isinstance(node.base, Name) and node.base.id in factors \
                and len(node.items) == 1 and isinstance(node.items[0], Name):
            named.add(node.base.id)
            return entry(node.base.id, INDEX)
        if isinstance(node, Neg):
            return -read(node.operand)
        if isinstance(node, Pow) and isinstance(node.exponent, Number) and node.exponent.value.is_integer:
            return read(node.base) ** node.exponent.value
        if isinstance(node, BinOp):
            a, b = read(node.left), read(node.right)
            if node.op == "/" and b != 0:
                return a / b
            if node.op in "+-*":
                return a + b if node.op == "+" else a - b if node.op == "-" else a * b
        raise NoGenericRule(f"the part {unparse(node)!r} of the quantity is not a polynomial in the entries name[i] "
                            "of the diagonal layer's factors (one free index i)")
    value = read(q.ast)
    if len(q.free_indices) != 1:
        raise NoGenericRule("the diagonal rule needs exactly one free index i in the quantity")
    return value, frozenset(named)
