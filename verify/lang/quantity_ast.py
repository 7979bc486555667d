"""The quantity language's data: limits, AST nodes, ``Quantity``, ``QuantityShape`` and the error
messages every stage shares (what is wrong, column and caret, what to do).

The grammar and semantics are documented in ``verify.lang.quantity``, the public facade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Union

import sympy

from verify.errors import BadInput, UnknownName

__all__ = [
    "Number", "Name", "Index", "Slice", "BinOp", "Neg", "Pow", "MatMul", "Transpose", "Call",
    "Expr", "IndexItem", "Node", "Quantity", "QuantityShape",
    "FUNCTIONS", "INDEX_LETTERS", "SYNTAX_HELP", "MAX_LENGTH", "MAX_NESTING", "MAX_DEPTH", "MAX_NUMBER_CHARS",
    "MAX_DECIMAL_EXPONENT", "MAX_RATIONAL_BITS", "MAX_NUMERIC_EXPONENT", "MAX_ENTRIES", "MAX_POWER",
    "located", "error_at", "unknown_at", "op_pos", "snippet",
]

# --- limits: every one keeps hostile input from exhausting the stack, memory or time ----------
#: Longest accepted quantity. The longest quantity in the catalog is ~60 characters.
MAX_LENGTH = 2000
#: Deepest bracket / unary / power nesting the recursive-descent parser follows (each level is
#: ~3 Python frames; 64 levels stays far below the default recursion limit of 1000).
MAX_NESTING = 64
#: Deepest AST accepted (left-deep chains such as ``a+a+...+a`` are built iteratively by the
#: parser but walked recursively by the interpreter, ~2 frames a level, plus SymPy's own frames).
MAX_DEPTH = 200
#: Longest numeric literal: 40 characters is exact float64 and more, while bounding int sizes.
MAX_NUMBER_CHARS = 40
#: Largest decimal exponent in a literal (``1e300``); float64 itself stops at 308.
MAX_DECIMAL_EXPONENT = 300
#: Largest exact number a power of two numbers may produce (bits); 2**20000 takes microseconds.
MAX_RATIONAL_BITS = 20_000
#: Largest magnitude of a numeric exponent applied to a non-rational number (sqrt(2)**1000).
MAX_NUMERIC_EXPONENT = 1000
#: Largest power of a parameter-valued expression, nested literal exponents multiplied
#: (``(W1**8)**8`` is degree 64): a power of a sum explodes when a proof expands it (issue 15).
MAX_POWER = 64
#: Most scalar entries ``instantiate`` returns (free-index assignments x entries).
MAX_ENTRIES = 100_000

#: Single letters that are index variables inside ``[...]``.
INDEX_LETTERS = ("i", "j", "k", "l", "m", "n", "p", "q")
#: The whitelisted functions; each takes exactly one argument.
FUNCTIONS = ("abs", "exp", "log", "norm", "sqrt", "sum", "tanh", "trace")
#: What the language allows, for messages about text it cannot read.
SYNTAX_HELP = ("Allowed: parameter names, numbers, + - * / ** @, ( ), [ ], .T and the functions "
                + ", ".join(FUNCTIONS) + ".")


# --- AST ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Span:
    """Source span (0-based, end exclusive); ignored by equality so ASTs compare structurally."""

    start: int = field(default=0, compare=False, repr=False, kw_only=True)
    end: int = field(default=0, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Number(_Span):
    """An exact non-negative literal (negation is ``Neg``)."""

    value: sympy.Rational


@dataclass(frozen=True)
class Name(_Span):
    """A parameter name, or (as an item of ``Index``) an index variable."""

    id: str


@dataclass(frozen=True)
class Slice(_Span):
    """``lower:upper`` inside brackets; ``None`` means the start / end of the dimension."""

    lower: int | None
    upper: int | None


@dataclass(frozen=True)
class Index(_Span):
    """``base[items]``; each item is an integer ``Number``, an index-variable ``Name`` or a
    ``Slice``."""

    base: Expr
    items: tuple[IndexItem, ...]


@dataclass(frozen=True)
class BinOp(_Span):
    """Elementwise ``+ - * /``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg(_Span):
    operand: Expr


@dataclass(frozen=True)
class Pow(_Span):
    """Elementwise power with a scalar exponent."""

    base: Expr
    exponent: Expr


@dataclass(frozen=True)
class MatMul(_Span):
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Transpose(_Span):
    operand: Expr


@dataclass(frozen=True)
class Call(_Span):
    """A whitelisted function applied to its arguments (all functions take exactly one)."""

    func: str
    args: tuple[Expr, ...]


#: A node with a value (everything but ``Slice``, which only appears inside brackets).
Expr = Union[Number, Name, Index, BinOp, Neg, Pow, MatMul, Transpose, Call]
#: An item of ``Index``: an integer ``Number``, an index-variable ``Name`` or a ``Slice``.
IndexItem = Union[Number, Name, Slice]
#: Any node of the AST.
Node = Union[Number, Name, Index, Slice, BinOp, Neg, Pow, MatMul, Transpose, Call]


@dataclass(frozen=True)
class Quantity:
    """A parsed quantity.

    Attributes:
        text: the user's text, unchanged.
        ast: the root node.
        free_indices: index variables (letters used inside ``[...]``), sorted alphabetically;
            ``instantiate`` keys list them in this order.
        names: parameter names referenced outside brackets, sorted alphabetically.
    """

    text: str
    ast: Expr
    free_indices: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class QuantityShape:
    """Static facts about a quantity on given parameter shapes.

    Attributes:
        index_ranges: ``(letter, size)`` per free index, in ``free_indices`` order; the letter
            runs over ``0 .. size-1``.
        shape: shape of the value for one assignment: () scalar, (n,) vector, (m, n) matrix.
        n_entries: number of scalar entries ``instantiate`` returns.
    """

    index_ranges: tuple[tuple[str, int], ...]
    shape: tuple[int, ...]
    n_entries: int


# --- error formatting ---------------------------------------------------------------------------
def _caret(text: str, pos: int) -> str:
    """Two indented lines: the text (a window of it when long) and a caret under ``pos``."""
    width = 72
    lo = 0 if len(text) <= width else max(0, min(pos - width // 2, len(text) - width))
    hi = min(len(text), lo + width)
    shown = "".join(" " if c.isspace() else (c if c.isprintable() else "?") for c in text[lo:hi])
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(text) else ""
    return f"    {prefix}{shown}{suffix}\n    {' ' * (len(prefix) + pos - lo)}^"


def located(exc: BadInput, text: str, pos: int) -> BadInput:
    """``exc`` with where it happened in ``text`` (``column`` 1-based, ``text``)."""
    exc.column = pos + 1  # 1-based, as in the message
    exc.text = text
    return exc


def error_at(cls: type[BadInput], text: str, pos: int, what: str, todo: str,
             after: str = "") -> BadInput:
    """``cls`` with the house message: what is wrong, where (column + caret), what to do.

    The first line reads ``quantity: {what} at column N{after}. {todo}``; ``after`` carries
    the "; expected ..." part. Two more lines show the text and a caret under column N.
    """
    msg = f"quantity: {what} at column {pos + 1}{after}. {todo}\n{_caret(text, pos)}"
    return located(cls(msg), text, pos)


def unknown_at(kind: str, got: str, known: Iterable[str], text: str, pos: int, todo: str) -> BadInput:
    hint = (f"It appears at column {pos + 1} of the quantity." + (f" {todo}" if todo else "")
            + f"\n{_caret(text, pos)}")
    return located(UnknownName(kind, got, known, hint=hint), text, pos)


def op_pos(text: str, node: BinOp | MatMul) -> int:
    """Position of the binary operator of ``node``: the first non-blank after the left operand
    (whose span includes any parentheses around it)."""
    pos = node.left.end
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def snippet(text: str, node: Node) -> str:
    """``node``'s source text, blanks collapsed and cut at 60 characters, quoted."""
    s = " ".join(text[node.start:node.end].split())
    return repr(s if len(s) <= 60 else s[:57] + "...")
