"""Static shape checking of a parsed quantity against parameter shapes (no SymPy expression is
built): the shape of every node, the range of every index variable, and which index variables each
node depends on (the evaluator caches by them)."""

from __future__ import annotations

from collections.abc import Mapping

from verify.errors import BadInput, ShapeMismatch, SpecError
from verify.lang.quantity_ast import (
    INDEX_LETTERS, MAX_ENTRIES, BinOp, Call, Index, MatMul, Name, Neg, Node, Number, Pow, Quantity,
    QuantityShape, Transpose, error_at, op_pos, snippet, unknown_at,
)

__all__ = ["quantity_shape", "check_quantity"]


def _fmt(shape: tuple[int, ...]) -> str:
    return "() (a scalar)" if shape == () else str(shape)


class _ShapeChecker:
    """Static pass: shape of every node, ranges of index variables, index dependencies."""

    def __init__(self, q: Quantity, shapes: Mapping[str, tuple[int, ...]]):
        self.q = q
        self.text = q.text
        self.shapes = shapes
        self.ranges: dict[str, tuple[int, Node, Node, int]] = {}  # letter -> size, use, base, dim
        self.deps: dict[int, tuple[str, ...]] = {}  # id(node) -> index letters it depends on

    def err(self, node: Node, what: str, todo: str, pos: int | None = None,
            after: str = "") -> BadInput:
        return error_at(ShapeMismatch, self.text, node.start if pos is None else pos, what, todo,
                        after=after)

    def shape(self, node: Node) -> tuple[int, ...]:
        out, deps = self._shape(node)
        self.deps[id(node)] = deps
        return out

    def _dep(self, *nodes: Node) -> tuple[str, ...]:
        return tuple(sorted({v for nd in nodes for v in self.deps[id(nd)]}))

    def _shape(self, node: Node) -> tuple[tuple[int, ...], tuple[str, ...]]:
        text = self.text
        if isinstance(node, Number):
            return (), ()
        if isinstance(node, Name):
            if node.id not in self.shapes:
                todo = "Use one of the model's parameter names."
                if node.id in INDEX_LETTERS:
                    todo = ("Single letters " + ", ".join(INDEX_LETTERS) + " are index variables "
                            "only inside [...], e.g. 'b1[i]'.")
                raise unknown_at("parameter", node.id, self.shapes, text, node.start, todo)
            return tuple(self.shapes[node.id]), ()
        if isinstance(node, Neg):
            return self.shape(node.operand), self._dep(node.operand)
        if isinstance(node, Transpose):
            s = self.shape(node.operand)
            if len(s) > 2:
                raise self.err(node, f"'.T' of {snippet(text, node.operand)} with shape {s}",
                               "Index it down to a matrix first.")
            return (s[::-1] if len(s) == 2 else s), self._dep(node.operand)
        if isinstance(node, BinOp):
            a, b = self.shape(node.left), self.shape(node.right)
            if a != b and a != () and b != ():
                raise self.err(node, f"operands of {node.op!r} in {snippet(text, node)} have "
                               f"shapes {_fmt(a)} and {_fmt(b)}", "Elementwise + - * / need "
                               "equal shapes or a scalar operand; use '@' for matrix products "
                               "and '.T' to transpose.", pos=op_pos(text, node))
            return (a or b), self._dep(node.left, node.right)
        if isinstance(node, Pow):
            a, e = self.shape(node.base), self.shape(node.exponent)
            if e != ():
                raise self.err(node.exponent, f"exponent {snippet(text, node.exponent)} has "
                               f"shape {_fmt(e)}", "Exponents must be scalars; '**' is "
                               "elementwise.")
            return a, self._dep(node.base, node.exponent)
        if isinstance(node, MatMul):
            return self._matmul(node), self._dep(node.left, node.right)
        if isinstance(node, Call):
            arg = node.args[0]
            s = self.shape(arg)
            deps = self._dep(arg)
            if node.func in ("sum", "norm"):
                return (), deps
            if node.func == "trace":
                if len(s) != 2 or s[0] != s[1]:
                    raise self.err(node, f"trace of {snippet(text, arg)} with shape {_fmt(s)}",
                                   "trace needs a square matrix.")
                return (), deps
            return s, deps
        if isinstance(node, Index):
            return self._index(node)
        raise self.err(node, "a slice outside brackets", "Slices go inside [...].")  # unreachable

    def _matmul(self, node: MatMul) -> tuple[int, ...]:
        a, b = self.shape(node.left), self.shape(node.right)
        text = self.text
        for side, s in ((node.left, a), (node.right, b)):
            if len(s) > 2:
                raise self.err(side, f"'@' operand {snippet(text, side)} has shape {s}",
                               "Index it down to a matrix or vector first.")
            if s == ():
                raise self.err(side, f"'@' operand {snippet(text, side)} is a scalar",
                               "'@' multiplies vectors and matrices; use '*' for scalars.")
        inner_a, inner_b = a[-1], b[0]
        if inner_a != inner_b:
            raise self.err(node, f"'@' in {snippet(text, node)} cannot multiply shape "
                           f"{_fmt(a)} by shape {_fmt(b)} (inner sizes {inner_a} and {inner_b} "
                           "differ)", "Transpose an operand with '.T' or reorder the product.",
                           pos=op_pos(text, node))
        return a[:-1] + b[1:]

    def _index(self, node: Index) -> tuple[tuple[int, ...], tuple[str, ...]]:
        text = self.text
        s = self.shape(node.base)
        deps = set(self.deps[id(node.base)])
        if s == ():
            raise self.err(node, f"{snippet(text, node.base)} has shape () (a scalar) and "
                           f"cannot be indexed in {snippet(text, node)}",
                           "Remove the brackets.")
        if len(node.items) > len(s):
            raise self.err(node, f"too many indices in {snippet(text, node)}: "
                           f"{snippet(text, node.base)} has shape {s} ({len(s)} "
                           f"dimension{'s' if len(s) > 1 else ''}) but {len(node.items)} "
                           "indices were given", f"Give at most {len(s)} indices.")
        out: list[int] = []
        for dim, item in enumerate(node.items):
            size = s[dim]
            if isinstance(item, Number):
                v = int(item.value)
                if v >= size:
                    raise self.err(item, f"index {v} is out of range for dimension {dim} of "
                                   f"{snippet(text, node.base)} (size {size}) in "
                                   f"{snippet(text, node)}", "Indices are 0-based: use 0 .. "
                                   f"{size - 1}.")
            elif isinstance(item, Name):
                if item.id in self.shapes:
                    raise error_at(SpecError, text, item.start, f"{item.id!r} is a parameter name "
                                   "but is used as an index", "Index variables must not be "
                                   "parameter names; use another letter from "
                                   f"{', '.join(INDEX_LETTERS)}.")
                deps.add(item.id)
                known = self.ranges.get(item.id)
                if known is None:
                    self.ranges[item.id] = (size, item, node.base, dim)
                elif known[0] != size:
                    k_size, k_use, k_base, k_dim = known
                    raise self.err(item, f"index {item.id!r} runs over 0..{size - 1}",
                                   "An index variable must run over one range everywhere; use "
                                   "a different letter for one of them.",
                                   after=f" (dimension {dim} of {snippet(text, node.base)}) but "
                                   f"over 0..{k_size - 1} at its first use, column "
                                   f"{k_use.start + 1} (dimension {k_dim} of "
                                   f"{snippet(text, k_base)})")
            else:
                lo = 0 if item.lower is None else item.lower
                hi = size if item.upper is None else item.upper
                if hi > size or lo >= hi:
                    raise self.err(item, f"slice {lo}:{hi} is empty or out of range for "
                                   f"dimension {dim} of {snippet(text, node.base)} (size "
                                   f"{size})", f"Indices are 0-based: slices need 0 <= lo < hi "
                                   f"<= {size}.")
                out.append(hi - lo)
        out.extend(s[len(node.items):])
        return tuple(out), tuple(sorted(deps))


def quantity_shape(q: Quantity, shapes: Mapping[str, tuple[int, ...]]) -> QuantityShape:
    """Check ``q`` against parameter shapes without building any SymPy expression.

    Args:
        q: a parsed quantity.
        shapes: parameter name -> () scalar, (n,) vector or (m, n) matrix.

    Raises:
        UnknownName: a parameter not in ``shapes``.
        ShapeMismatch: incompatible shapes, index out of range, conflicting index ranges, ...
        SpecError: too many entries, or an index letter that is also a parameter name.
    """
    shapes = {k: tuple(v) for k, v in shapes.items()}
    return check_quantity(q, shapes)[0]


def check_quantity(q: Quantity, shapes: Mapping[str, tuple[int, ...]]
                   ) -> tuple[QuantityShape, _ShapeChecker]:
    """``quantity_shape`` and the checker itself, whose ``deps`` (id of node -> index letters it
    depends on) the evaluator caches by."""
    checker = _ShapeChecker(q, shapes)
    shape = checker.shape(q.ast)
    if len(shape) > 2:
        raise error_at(ShapeMismatch, q.text, 0, f"the quantity has shape {shape}",
                       "Index or sum it down to a scalar, vector or matrix.")
    ranges = tuple((v, checker.ranges[v][0]) for v in q.free_indices)
    total = 1
    for _, size in ranges:
        total *= size
    for size in shape:
        total *= size
    if total > MAX_ENTRIES:
        raise error_at(SpecError, q.text, 0, f"quantity expands to {total} scalar entries (limit "
                       f"{MAX_ENTRIES})", "Use fewer free indices or smaller parameters.")
    return QuantityShape(index_ranges=ranges, shape=shape, n_entries=total), checker
