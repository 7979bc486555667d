"""The safe quantity language: user text such as ``sum(W1[i,:]**2) - sum(W2[:,i]**2)``.

A researcher writes a candidate conserved quantity Q(theta) as a short expression over parameter
names. This module turns that text into exact SymPy scalars, one per "for every i" assignment and
per matrix entry, without ever handing user text to Python's or SymPy's own evaluators: a small
tokenizer and a Pratt (precedence-climbing) parser produce frozen-dataclass AST nodes, and a
whitelisted interpreter walks them.

The language (indices are **0-based**):

* numbers: ``2``, ``0.5``, ``1e-3`` (exact: ``0.5`` is ``Rational(1, 2)``);
* parameter names: ``W1``, ``b1``, ``u``, ...;
* ``+ - * /`` elementwise (operands of equal shape, or one scalar), unary ``-``;
* ``**`` elementwise power with a scalar exponent (right-associative, ``-x**2 == -(x**2)``);
* ``@`` matrix product with NumPy's rules for vectors: (m,n)@(n,p), (m,n)@(n,), (n,)@(n,p),
  and (n,)@(n,) is the dot product; ``.T`` transposes a matrix (a no-op on vectors/scalars);
* indexing and slicing ``W1[i, :]``, ``W1[0, 1:3]``, ``b1[i]``; missing trailing indices mean
  ``:`` (``W1[i]`` is row i); an index is a non-negative integer, an index variable or a slice
  ``lo:hi`` with optional integer bounds (no steps, no negative indices);
* functions: ``sum`` (of all entries), ``norm`` (Euclidean / Frobenius), ``trace``, and the
  elementwise ``sqrt``, ``abs``, ``exp``, ``log``, ``tanh``.

Index variables are the single letters ``i j k l m n p q`` *inside square brackets*. Each one
free in the quantity means "for every value": its range is the size of every dimension it
indexes, and all such sizes must agree. The same letter used outside brackets (``2*k*x``) is an
ordinary parameter name. ``sum`` sums the entries of its argument, not over an index variable.

A matrix- or vector-valued quantity means "every entry".

The claimed increment of one GD step (``verify check --increment``) is written in the same
grammar; ``verify.testing.checking.as_increment`` then also binds ``G_<param>`` (the loss gradient
dL/d<param>, shaped like the parameter, e.g. ``G_W1``) and ``eta`` (the step), e.g.
``eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)``.

References:
    Du, Hu & Lee (2018), "Algorithmic Regularization in Learning Deep Homogeneous Models",
    Theorem 2.1 (the per-neuron quantity ``sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)``) and
    Theorem 2.2 (the matrix quantity ``W1 @ W1.T - W2.T @ W2``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Union

import sympy

from verify.errors import BadInput, ShapeMismatch, SpecError, UnknownName, closest

__all__ = [
    "Number", "Name", "Index", "Slice", "BinOp", "Neg", "Pow", "MatMul", "Transpose", "Call",
    "Node", "Quantity", "QuantityShape",
    "parse_quantity", "instantiate", "quantity_shape", "unparse",
    "FUNCTIONS", "INDEX_LETTERS", "MAX_LENGTH", "MAX_NESTING", "MAX_DEPTH",
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
#: Most scalar entries ``instantiate`` returns (free-index assignments x entries).
MAX_ENTRIES = 100_000

#: Single letters that are index variables inside ``[...]``.
INDEX_LETTERS = ("i", "j", "k", "l", "m", "n", "p", "q")
#: The whitelisted functions; each takes exactly one argument.
FUNCTIONS = ("abs", "exp", "log", "norm", "sqrt", "sum", "tanh", "trace")

_ELEMENTWISE = {"sqrt": sympy.sqrt, "abs": sympy.Abs, "exp": sympy.exp, "log": sympy.log,
                "tanh": sympy.tanh}
_NON_FINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
_SYNTAX_HELP = ("Allowed: parameter names, numbers, + - * / ** @, ( ), [ ], .T and the functions "
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

    base: Node
    items: tuple[Node, ...]


@dataclass(frozen=True)
class BinOp(_Span):
    """Elementwise ``+ - * /``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg(_Span):
    operand: Node


@dataclass(frozen=True)
class Pow(_Span):
    """Elementwise power with a scalar exponent."""

    base: Node
    exponent: Node


@dataclass(frozen=True)
class MatMul(_Span):
    left: Node
    right: Node


@dataclass(frozen=True)
class Transpose(_Span):
    operand: Node


@dataclass(frozen=True)
class Call(_Span):
    """A whitelisted function applied to its arguments (all functions take exactly one)."""

    func: str
    args: tuple[Node, ...]


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
    ast: Node
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


def _located(exc: BadInput, text: str, pos: int) -> BadInput:
    exc.column = pos + 1  # 1-based, as in the message
    exc.text = text
    return exc


def _error(cls: type[BadInput], text: str, pos: int, what: str, todo: str,
           after: str = "") -> BadInput:
    """``cls`` with the house message: what is wrong, where (column + caret), what to do.

    The first line reads ``quantity: {what} at column N{after}. {todo}``; ``after`` carries
    the "; expected ..." part. Two more lines show the text and a caret under column N.
    """
    msg = f"quantity: {what} at column {pos + 1}{after}. {todo}\n{_caret(text, pos)}"
    return _located(cls(msg), text, pos)


def _unknown(kind: str, got: str, known, text: str, pos: int, todo: str) -> BadInput:
    hint = (f"It appears at column {pos + 1} of the quantity." + (f" {todo}" if todo else "")
            + f"\n{_caret(text, pos)}")
    return _located(UnknownName(kind, got, known, hint=hint), text, pos)


def _op_pos(text: str, node: BinOp | MatMul) -> int:
    """Position of the binary operator of ``node``: the first non-blank after the left operand
    (whose span includes any parentheses around it)."""
    pos = node.left.end
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _snippet(text: str, node: Node) -> str:
    s = " ".join(text[node.start:node.end].split())
    return repr(s if len(s) <= 60 else s[:57] + "...")


# --- tokenizer ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    kind: str  # "num", "name", "op", "end"
    text: str
    pos: int


_OPS = frozenset("+-*/@()[],:.")
_CHAR_HINTS = {
    "^": "Use '**' for powers, e.g. 'x**2'.",
    "=": "A quantity is an expression, not an equation or assignment; write 'lhs - rhs'.",
    "'": "Strings are not part of the language; write the expression without quotes.",
    '"': "Strings are not part of the language; write the expression without quotes.",
    "{": "Group with '(' and ')'.",
    "}": "Group with '(' and ')'.",
    "#": "Comments are not part of the language.",
}


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_name_start(c: str) -> bool:
    return c == "_" or "a" <= c <= "z" or "A" <= c <= "Z"


def _dotted_segment(text: str, k: int) -> str:
    j = k
    while j < len(text) and (_is_name_start(text[j]) or _is_digit(text[j])):
        j += 1
    return text[k:j]


def _sequential_name(text: str, i: int) -> bool:
    """Digits, '.', then a segment starting with a letter or '_' that is not an exponent ('0.e5')."""
    j = i
    while j < len(text) and _is_digit(text[j]):
        j += 1
    seg = _dotted_segment(text, j + 1) if j < len(text) and text[j] == "." else ""
    return bool(seg) and _is_name_start(seg[0]) and not (seg[0] in "eE" and seg[1:].isdigit())


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif _is_digit(c) and _sequential_name(text, i):
            # nn.Sequential's parameter names start with a digit ("0.weight"): a name, not 0.
            j = i
            while j < n and (_is_name_start(text[j]) or _is_digit(text[j]) or (
                    text[j] == "." and _dotted_segment(text, j + 1) not in ("", "T"))):
                j += 1
            toks.append(_Tok("name", text[i:j], i))
            i = j
        elif _is_digit(c) or (c == "." and i + 1 < n and _is_digit(text[i + 1])):
            j = i
            while j < n and _is_digit(text[j]):
                j += 1
            if j < n and text[j] == ".":
                j += 1
                while j < n and _is_digit(text[j]):
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and _is_digit(text[k]):
                    while k < n and _is_digit(text[k]):
                        k += 1
                    j = k
                else:
                    raise _error(SpecError, text, i, f"malformed number {text[i:k]!r}; expected "
                                 "digits after the exponent marker", "Write e.g. '1e-3'.")
            toks.append(_Tok("num", text[i:j], i))
            i = j
        elif _is_name_start(c):
            j = i + 1
            while j < n and (_is_name_start(text[j]) or _is_digit(text[j]) or (
                    # Dotted names (PyTorch's ``fc1.weight``, ``blocks.0.attn.q.weight``): a '.' and a
                    # segment other than a lone 'T' (which stays the transpose) continue the name.
                    text[j] == "." and _dotted_segment(text, j + 1) not in ("", "T"))):
                j += 1
            toks.append(_Tok("name", text[i:j], i))
            i = j
        elif text.startswith("**", i):
            toks.append(_Tok("op", "**", i))
            i += 2
        elif c in _OPS:
            toks.append(_Tok("op", c, i))
            i += 1
        else:
            shown = repr(c) if c.isprintable() and not c.isspace() else f"character {c!r}"
            hint = _CHAR_HINTS.get(c, "Names use ASCII letters, digits and '_'. " + _SYNTAX_HELP)
            raise _error(SpecError, text, i, f"unexpected {shown}", hint)
    toks.append(_Tok("end", "", n))
    return toks


def _literal_value(tok: _Tok, text: str) -> sympy.Rational:
    """Exact value of a numeric literal, without float round-off: '0.1' is exactly 1/10."""
    s = tok.text
    if len(s) > MAX_NUMBER_CHARS:
        raise _error(SpecError, text, tok.pos, f"number literal of {len(s)} characters",
                     f"Literals may have at most {MAX_NUMBER_CHARS} characters; write large "
                     "numbers with an exponent, e.g. '1e30'.")
    mantissa, exp = s, 0
    for marker in "eE":
        if marker in s:
            mantissa, e = s.split(marker)
            exp = int(e)
    whole, _, frac = mantissa.partition(".")
    exp -= len(frac)
    if abs(exp) > MAX_DECIMAL_EXPONENT + MAX_NUMBER_CHARS:
        raise _error(SpecError, text, tok.pos, f"number {s!r} is out of range",
                     f"Decimal exponents must be within +-{MAX_DECIMAL_EXPONENT}.")
    digits = int((whole + frac) or "0")
    if exp >= 0:
        return sympy.Rational(digits * 10**exp)
    return sympy.Rational(digits, 10**-exp)


# --- parser -------------------------------------------------------------------------------------
_LBP = {"+": 10, "-": 10, "*": 20, "/": 20, "@": 20, "**": 40, "[": 50, ".": 50}
_UNARY_BP = 30  # between * and **: -x**2 is -(x**2), 2*-x is allowed (as in Python)


def _describe(tok: _Tok) -> str:
    if tok.kind == "end":
        return "end of the quantity"
    if tok.kind == "name":
        return f"name {tok.text!r}"
    if tok.kind == "num":
        return f"number {tok.text!r}"
    return repr(tok.text)


class _Parser:
    """Pratt parser over the token list; one instance per ``parse_quantity`` call."""

    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    # helpers
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def is_op(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.text == text

    def fail(self, tok: _Tok, expected: str, todo: str) -> BadInput:
        return _error(SpecError, self.text, tok.pos, f"unexpected {_describe(tok)}", todo,
                      after=f"; expected {expected}")

    def expect_close(self, closer: str, opener: _Tok, what: str) -> _Tok:
        tok = self.peek()
        if tok.kind == "op" and tok.text == closer:
            return self.next()
        if tok.kind == "end":
            todo = f"Add the missing {closer!r}."
        elif tok.kind == "op" and tok.text in ")]":
            todo = (f"Brackets are unbalanced: close the {opener.text!r} with {closer!r} "
                    f"before {tok.text!r}.")
        else:
            todo = ("Join terms with an operator (+ - * / ** @); write products explicitly, "
                    "e.g. '2*x'.")
        raise self.fail(tok, f"{what} or {closer!r} to close the {opener.text!r} opened at "
                        f"column {opener.pos + 1}", todo)

    # grammar
    def parse(self) -> Node:
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == "op" and tok.text in ")]":
                raise self.fail(tok, "an operator or the end of the quantity",
                                f"Remove the unmatched {tok.text!r} or add its opening bracket.")
            raise self.fail(tok, "an operator (+ - * / ** @) or the end of the quantity",
                            "Join terms with an operator; write products explicitly, e.g. '2*x'.")
        return node

    def expr(self, rbp: int) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _error(SpecError, self.text, self.peek().pos,
                         f"expression nested more than {MAX_NESTING} levels deep",
                         "Simplify the expression or split it into several quantities.")
        left = self.nud()
        while True:
            tok = self.peek()
            if tok.kind != "op" or _LBP.get(tok.text, 0) <= rbp:
                break
            left = self.led(left, self.next())
        self.depth -= 1
        return left

    def nud(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            return Number(_literal_value(tok, self.text), start=tok.pos, end=tok.pos + len(tok.text))
        if tok.kind == "name":
            if self.is_op("("):
                return self.call(tok)
            if tok.text in FUNCTIONS:
                raise _error(SpecError, self.text, tok.pos, f"function {tok.text!r} used without "
                             "an argument", f"Call it with parentheses, e.g. '{tok.text}(W1)'.")
            return Name(tok.text, start=tok.pos, end=tok.pos + len(tok.text))
        if tok.kind == "op" and tok.text == "(":
            inner = self.expr(0)
            close = self.expect_close(")", tok, "an operator")
            # The span takes in the parentheses so messages quote balanced text.
            return dataclasses.replace(inner, start=tok.pos, end=close.pos + 1)
        if tok.kind == "op" and tok.text in "+-":
            operand = self.expr(_UNARY_BP)
            if tok.text == "+":
                return operand
            return Neg(operand, start=tok.pos, end=operand.end)
        todo = ("Add the missing operand." if tok.kind == "end" or tok.text in ")]," else
                _SYNTAX_HELP)
        raise self.fail(tok, "an expression (a number, a parameter name, a function call or "
                        "'(')", todo)

    def led(self, left: Node, tok: _Tok) -> Node:
        op = tok.text
        if op in ("+", "-", "*", "/"):
            right = self.expr(_LBP[op])
            return BinOp(op, left, right, start=left.start, end=right.end)
        if op == "@":
            right = self.expr(_LBP[op])
            return MatMul(left, right, start=left.start, end=right.end)
        if op == "**":
            right = self.expr(_LBP[op] - 1)  # right-associative
            return Pow(left, right, start=left.start, end=right.end)
        if op == ".":
            name = self.next()
            if name.kind != "name" or name.text != "T":
                raise self.fail(name, "'T' after '.'", "Only '.T' (transpose) is supported.")
            return Transpose(left, start=left.start, end=name.pos + 1)
        # op == "[": indexing
        items = [self.index_item()]
        while self.is_op(","):
            self.next()
            items.append(self.index_item())
        close = self.expect_close("]", tok, "','")
        return Index(left, tuple(items), start=left.start, end=close.pos + 1)

    def _int_literal(self, tok: _Tok) -> int:
        if not all(_is_digit(c) for c in tok.text):
            raise _error(SpecError, self.text, tok.pos, f"index {tok.text!r} is not an integer",
                         "Indices are 0-based non-negative integers, index variables "
                         f"({', '.join(INDEX_LETTERS)}) or slices such as ':' or '0:2'.")
        if len(tok.text) > MAX_NUMBER_CHARS:
            raise _error(SpecError, self.text, tok.pos, "index literal too long",
                         "Indices are small non-negative integers.")
        return int(tok.text)

    def index_item(self) -> Node:
        tok = self.peek()
        if (tok.kind == "num" and self.is_op(":", 1)) or self.is_op(":"):
            lower = None
            if tok.kind == "num":
                lower = self._int_literal(self.next())
            self.next()  # ':'
            upper = None
            end_tok = self.peek()
            if end_tok.kind == "num":
                upper = self._int_literal(self.next())
            if self.is_op(":"):
                raise self.fail(self.peek(), "',' or ']'", "Slice steps are not supported; "
                                "write 'lo:hi'.")
            end = self.peek().pos
            return Slice(lower, upper, start=tok.pos, end=end)
        if tok.kind == "num":
            self.next()
            return Number(sympy.Integer(self._int_literal(tok)), start=tok.pos,
                          end=tok.pos + len(tok.text))
        if tok.kind == "name":
            self.next()
            if tok.text not in INDEX_LETTERS:
                raise _error(SpecError, self.text, tok.pos, f"{tok.text!r} cannot be used as "
                             "an index", "Inside [...] write a 0-based integer, an index "
                             f"variable ({', '.join(INDEX_LETTERS)}) or a slice such as ':' or "
                             "'0:2'.")
            return Name(tok.text, start=tok.pos, end=tok.pos + 1)
        if tok.kind == "op" and tok.text == "-":
            raise _error(SpecError, self.text, tok.pos, "negative index",
                         "Indices are 0-based and non-negative (0 is the first entry); "
                         "negative indices are not supported.")
        raise self.fail(tok, f"an index (a 0-based integer, an index variable "
                        f"{'/'.join(INDEX_LETTERS)} or a slice like ':' or '0:2')",
                        "Write e.g. 'W1[i, :]'.")

    def call(self, name: _Tok) -> Call:
        if name.text not in FUNCTIONS:
            # UnknownName lists every function itself when none is close.
            todo = ("Allowed functions: " + ", ".join(FUNCTIONS) + "."
                    if closest(name.text, FUNCTIONS) else "")
            raise _unknown("function", name.text, FUNCTIONS, self.text, name.pos, todo)
        opener = self.next()  # '('
        if self.is_op(")"):
            raise _error(SpecError, self.text, self.peek().pos, f"{name.text}() without an "
                         "argument", f"{name.text} takes exactly one argument, e.g. "
                         f"'{name.text}(W1)'.")
        args = [self.expr(0)]
        while self.is_op(","):
            self.next()
            args.append(self.expr(0))
        close = self.expect_close(")", opener, "an operator")
        if len(args) != 1:
            raise _error(SpecError, self.text, name.pos, f"{name.text} given {len(args)} "
                         "arguments", f"{name.text} takes exactly one argument.")
        return Call(name.text, tuple(args), start=name.pos, end=close.pos + 1)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Index):
        return (node.base, *node.items)
    if isinstance(node, (BinOp, MatMul)):
        return (node.left, node.right)
    if isinstance(node, Pow):
        return (node.base, node.exponent)
    if isinstance(node, (Neg, Transpose)):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return ()


def parse_quantity(text: str) -> Quantity:
    """Parse quantity text (syntax only; parameter names and shapes are checked later).

    Args:
        text: e.g. ``"sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"``.

    Returns:
        The ``Quantity`` with its AST, free index variables and referenced names.

    Raises:
        SpecError: malformed text; the message gives the 1-based column, a caret line, what
            was expected and what to do. The exception has ``column`` and ``text`` attributes.
        UnknownName: a call of a function outside ``FUNCTIONS``.
    """
    if not isinstance(text, str):
        raise _located(SpecError(f"quantity: expected text, got {type(text).__name__} at "
                                 "column 1. Pass the quantity as a string."), "", 0)
    if len(text) > MAX_LENGTH:
        raise _error(SpecError, text, MAX_LENGTH, f"quantity of {len(text)} characters is too "
                     f"long (limit {MAX_LENGTH})", "Split it into several shorter quantities.")
    if not text.strip():
        raise _error(SpecError, text, 0, "empty quantity",
                     "Write an expression such as 'sum(W1**2) - sum(W2**2)'.")
    ast = _Parser(text).parse()

    index_uses: dict[str, Name] = {}
    value_uses: dict[str, Name] = {}
    stack: list[tuple[Node, int, bool]] = [(ast, 1, False)]
    while stack:  # iterative: the tree may be deeper than we are willing to recurse
        node, depth, is_item = stack.pop()
        if depth > MAX_DEPTH:
            raise _error(SpecError, text, node.start, f"expression more than {MAX_DEPTH} levels "
                         "deep", "Simplify the expression or split it into several quantities.")
        if isinstance(node, Name):
            (index_uses if is_item else value_uses).setdefault(node.id, node)
        items = node.items if isinstance(node, Index) else ()
        for child in _children(node):
            stack.append((child, depth + 1, any(child is it for it in items)))
    for letter, use in index_uses.items():
        if letter in value_uses:
            other = value_uses[letter]
            raise _error(SpecError, text, other.start, f"{letter!r} is used as a value", "Letters "
                         f"{', '.join(INDEX_LETTERS)} inside [...] are index variables; "
                         "rename the parameter or use another letter for the index.",
                         after=f", but it is an index variable at column {use.start + 1}")
    return Quantity(text=text, ast=ast, free_indices=tuple(sorted(index_uses)),
                    names=tuple(sorted(value_uses)))


# --- printing -----------------------------------------------------------------------------------
def _number_text(value: sympy.Rational) -> str:
    if value.q == 1:
        return str(value.p)
    # Literal denominators divide a power of 10, so this loop ends (bounded by the literal caps).
    k = 0
    while (value * 10**k).q != 1:
        k += 1
    return f"{(value * 10**k).p}e-{k}"


def unparse(node: Node) -> str:
    """Canonical, fully parenthesised text for ``node``; ``parse_quantity`` reads it back to an
    equal AST."""
    if isinstance(node, Number):
        return _number_text(node.value)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Slice):
        return f"{'' if node.lower is None else node.lower}:{'' if node.upper is None else node.upper}"
    if isinstance(node, Index):
        return f"({unparse(node.base)})[{', '.join(unparse(it) for it in node.items)}]"
    if isinstance(node, BinOp):
        return f"({unparse(node.left)} {node.op} {unparse(node.right)})"
    if isinstance(node, MatMul):
        return f"({unparse(node.left)} @ {unparse(node.right)})"
    if isinstance(node, Pow):
        return f"({unparse(node.base)})**({unparse(node.exponent)})"
    if isinstance(node, Neg):
        return f"(-{unparse(node.operand)})"
    if isinstance(node, Transpose):
        return f"({unparse(node.operand)}).T"
    return f"{node.func}({', '.join(unparse(a) for a in node.args)})"


# --- shapes -------------------------------------------------------------------------------------
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
        return _error(ShapeMismatch, self.text, node.start if pos is None else pos, what, todo,
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
                raise _unknown("parameter", node.id, self.shapes, text, node.start, todo)
            return tuple(self.shapes[node.id]), ()
        if isinstance(node, Neg):
            return self.shape(node.operand), self._dep(node.operand)
        if isinstance(node, Transpose):
            s = self.shape(node.operand)
            if len(s) > 2:
                raise self.err(node, f"'.T' of {_snippet(text, node.operand)} with shape {s}",
                               "Index it down to a matrix first.")
            return (s[::-1] if len(s) == 2 else s), self._dep(node.operand)
        if isinstance(node, BinOp):
            a, b = self.shape(node.left), self.shape(node.right)
            if a != b and a != () and b != ():
                raise self.err(node, f"operands of {node.op!r} in {_snippet(text, node)} have "
                               f"shapes {_fmt(a)} and {_fmt(b)}", "Elementwise + - * / need "
                               "equal shapes or a scalar operand; use '@' for matrix products "
                               "and '.T' to transpose.", pos=_op_pos(text, node))
            return (a or b), self._dep(node.left, node.right)
        if isinstance(node, Pow):
            a, e = self.shape(node.base), self.shape(node.exponent)
            if e != ():
                raise self.err(node.exponent, f"exponent {_snippet(text, node.exponent)} has "
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
                    raise self.err(node, f"trace of {_snippet(text, arg)} with shape {_fmt(s)}",
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
                raise self.err(side, f"'@' operand {_snippet(text, side)} has shape {s}",
                               "Index it down to a matrix or vector first.")
            if s == ():
                raise self.err(side, f"'@' operand {_snippet(text, side)} is a scalar",
                               "'@' multiplies vectors and matrices; use '*' for scalars.")
        inner_a, inner_b = a[-1], b[0]
        if inner_a != inner_b:
            raise self.err(node, f"'@' in {_snippet(text, node)} cannot multiply shape "
                           f"{_fmt(a)} by shape {_fmt(b)} (inner sizes {inner_a} and {inner_b} "
                           "differ)", "Transpose an operand with '.T' or reorder the product.",
                           pos=_op_pos(text, node))
        return a[:-1] + b[1:]

    def _index(self, node: Index) -> tuple[tuple[int, ...], tuple[str, ...]]:
        text = self.text
        s = self.shape(node.base)
        deps = set(self.deps[id(node.base)])
        if s == ():
            raise self.err(node, f"{_snippet(text, node.base)} has shape () (a scalar) and "
                           f"cannot be indexed in {_snippet(text, node)}",
                           "Remove the brackets.")
        if len(node.items) > len(s):
            raise self.err(node, f"too many indices in {_snippet(text, node)}: "
                           f"{_snippet(text, node.base)} has shape {s} ({len(s)} "
                           f"dimension{'s' if len(s) > 1 else ''}) but {len(node.items)} "
                           "indices were given", f"Give at most {len(s)} indices.")
        out: list[int] = []
        for dim, item in enumerate(node.items):
            size = s[dim]
            if isinstance(item, Number):
                v = int(item.value)
                if v >= size:
                    raise self.err(item, f"index {v} is out of range for dimension {dim} of "
                                   f"{_snippet(text, node.base)} (size {size}) in "
                                   f"{_snippet(text, node)}", "Indices are 0-based: use 0 .. "
                                   f"{size - 1}.")
            elif isinstance(item, Name):
                if item.id in self.shapes:
                    raise _error(SpecError, text, item.start, f"{item.id!r} is a parameter name "
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
                                   after=f" (dimension {dim} of {_snippet(text, node.base)}) but "
                                   f"over 0..{k_size - 1} at its first use, column "
                                   f"{k_use.start + 1} (dimension {k_dim} of "
                                   f"{_snippet(text, k_base)})")
            else:
                lo = 0 if item.lower is None else item.lower
                hi = size if item.upper is None else item.upper
                if hi > size or lo >= hi:
                    raise self.err(item, f"slice {lo}:{hi} is empty or out of range for "
                                   f"dimension {dim} of {_snippet(text, node.base)} (size "
                                   f"{size})", f"Indices are 0-based: slices need 0 <= lo < hi "
                                   f"<= {size}.")
                out.append(hi - lo)
        out.extend(s[len(node.items):])
        return tuple(out), tuple(sorted(deps))


def _param_values(params: Mapping[str, object], shapes: Mapping[str, tuple[int, ...]] | None
                  ) -> dict[str, tuple[tuple[int, ...], tuple[sympy.Expr, ...]]]:
    """Each parameter as (shape, row-major entries)."""
    shapes = shapes or {}
    out = {}
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
    return _check(q, shapes)[0]


def _check(q: Quantity, shapes: Mapping[str, tuple[int, ...]]) -> tuple[QuantityShape,
                                                                           _ShapeChecker]:
    checker = _ShapeChecker(q, shapes)
    shape = checker.shape(q.ast)
    if len(shape) > 2:
        raise _error(ShapeMismatch, q.text, 0, f"the quantity has shape {shape}",
                     "Index or sum it down to a scalar, vector or matrix.")
    ranges = tuple((v, checker.ranges[v][0]) for v in q.free_indices)
    total = 1
    for _, size in ranges:
        total *= size
    for size in shape:
        total *= size
    if total > MAX_ENTRIES:
        raise _error(SpecError, q.text, 0, f"quantity expands to {total} scalar entries (limit "
                     f"{MAX_ENTRIES})", "Use fewer free indices or smaller parameters.")
    return QuantityShape(index_ranges=ranges, shape=shape, n_entries=total), checker


# --- evaluation ---------------------------------------------------------------------------------
_Val = tuple[tuple[int, ...], tuple[sympy.Expr, ...]]  # (shape, row-major entries)


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

    def __init__(self, q: Quantity, values, deps: Mapping[int, tuple[str, ...]]):
        self.text = q.text
        self.values = values
        self.deps = deps
        self.cache: dict[tuple[int, tuple[int, ...]], _Val] = {}

    def value(self, node: Node, env: Mapping[str, int]) -> _Val:
        key = (id(node), tuple(env[v] for v in self.deps[id(node)]))
        hit = self.cache.get(key)
        if hit is None:
            try:
                hit = self._value(node, env)
            except BadInput:
                raise
            except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
                # SymPy's arithmetic is the only code here that can raise; report where.
                raise _error(SpecError, self.text, node.start, f"cannot evaluate "
                             f"{_snippet(self.text, node)} ({type(exc).__name__})",
                             "Simplify this sub-expression.") from None
            self.cache[key] = hit
        return hit

    def finite(self, node: Node, entries: tuple[sympy.Expr, ...]) -> tuple[sympy.Expr, ...]:
        for e in entries:
            if e.has(*_NON_FINITE):
                raise _error(SpecError, self.text, node.start, f"{_snippet(self.text, node)} "
                             f"is infinite or undefined (it evaluates to {e})", "Remove the "
                             "division by zero, log(0) or similar from the quantity.")
        return entries

    def _pow(self, node: Pow, base: sympy.Expr, e: sympy.Expr) -> sympy.Expr:
        # Guard exact arithmetic against astronomically large numbers (2**2**2**2**2**2).
        if e.is_Rational and base.is_number:
            if base.is_Rational:
                bits = max(abs(base.p).bit_length(), base.q.bit_length())
                if bits * abs(e.p) > MAX_RATIONAL_BITS * e.q:
                    raise _error(SpecError, self.text, node.start, f"{_snippet(self.text, node)}"
                                 " is too large a number", f"Exact numbers are limited to about "
                                 f"{MAX_RATIONAL_BITS} bits; use smaller exponents.")
            elif abs(e) > MAX_NUMERIC_EXPONENT:
                raise _error(SpecError, self.text, node.start, f"{_snippet(self.text, node)} "
                             "has too large an exponent", f"Numeric exponents are limited to "
                             f"+-{MAX_NUMERIC_EXPONENT}.")
        return base**e

    def _value(self, node: Node, env: Mapping[str, int]) -> _Val:
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
    summary, checker = _check(q, {k: v[0] for k, v in values.items()})
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
