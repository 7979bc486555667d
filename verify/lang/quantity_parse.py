"""Parser of the quantity language (Pratt / precedence climbing over ``quantity_tokens``),
``parse_quantity`` and its inverse ``unparse``."""

from __future__ import annotations

import dataclasses

import sympy

from verify.errors import BadInput, SpecError, closest
from verify.lang.quantity_ast import (
    FUNCTIONS, INDEX_LETTERS, MAX_DEPTH, MAX_LENGTH, MAX_NESTING, MAX_NUMBER_CHARS, SYNTAX_HELP, BinOp,
    Call, Expr, Index, IndexItem, MatMul, Name, Neg, Node, Number, Pow, Quantity, Slice, Transpose, MAX_POWER,
    error_at, located, unknown_at,
)
from verify.lang.quantity_tokens import Tok, is_digit, literal_value, tokenize

__all__ = ["parse_quantity", "unparse"]

_LBP = {"+": 10, "-": 10, "*": 20, "/": 20, "@": 20, "**": 40, "[": 50, ".": 50}
_UNARY_BP = 30  # between * and **: -x**2 is -(x**2), 2*-x is allowed (as in Python)


def _describe(tok: Tok) -> str:
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
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    # helpers
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def is_op(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.text == text

    def fail(self, tok: Tok, expected: str, todo: str) -> BadInput:
        return error_at(SpecError, self.text, tok.pos, f"unexpected {_describe(tok)}", todo,
                        after=f"; expected {expected}")

    def expect_close(self, closer: str, opener: Tok, what: str) -> Tok:
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
    def parse(self) -> Expr:
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == "op" and tok.text in ")]":
                raise self.fail(tok, "an operator or the end of the quantity",
                                f"Remove the unmatched {tok.text!r} or add its opening bracket.")
            raise self.fail(tok, "an operator (+ - * / ** @) or the end of the quantity",
                            "Join terms with an operator; write products explicitly, e.g. '2*x'.")
        return node

    def expr(self, rbp: int) -> Expr:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise error_at(SpecError, self.text, self.peek().pos,
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

    def nud(self) -> Expr:
        tok = self.next()
        if tok.kind == "num":
            return Number(literal_value(tok, self.text), start=tok.pos, end=tok.pos + len(tok.text))
        if tok.kind == "name":
            if self.is_op("("):
                return self.call(tok)
            if tok.text in FUNCTIONS:
                raise error_at(SpecError, self.text, tok.pos, f"function {tok.text!r} used without "
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
                SYNTAX_HELP)
        raise self.fail(tok, "an expression (a number, a parameter name, a function call or "
                        "'(')", todo)

    def led(self, left: Expr, tok: Tok) -> Expr:
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

    def _int_literal(self, tok: Tok) -> int:
        if not all(is_digit(c) for c in tok.text):
            raise error_at(SpecError, self.text, tok.pos, f"index {tok.text!r} is not an integer",
                           "Indices are 0-based non-negative integers, index variables "
                           f"({', '.join(INDEX_LETTERS)}) or slices such as ':' or '0:2'.")
        if len(tok.text) > MAX_NUMBER_CHARS:
            raise error_at(SpecError, self.text, tok.pos, "index literal too long",
                           "Indices are small non-negative integers.")
        return int(tok.text)

    def index_item(self) -> IndexItem:
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
                raise error_at(SpecError, self.text, tok.pos, f"{tok.text!r} cannot be used as "
                               "an index", "Inside [...] write a 0-based integer, an index "
                               f"variable ({', '.join(INDEX_LETTERS)}) or a slice such as ':' or "
                               "'0:2'.")
            return Name(tok.text, start=tok.pos, end=tok.pos + 1)
        if tok.kind == "op" and tok.text == "-":
            raise error_at(SpecError, self.text, tok.pos, "negative index",
                           "Indices are 0-based and non-negative (0 is the first entry); "
                           "negative indices are not supported.")
        raise self.fail(tok, f"an index (a 0-based integer, an index variable "
                        f"{'/'.join(INDEX_LETTERS)} or a slice like ':' or '0:2')",
                        "Write e.g. 'W1[i, :]'.")

    def call(self, name: Tok) -> Call:
        if name.text not in FUNCTIONS:
            # UnknownName lists every function itself when none is close.
            todo = ("Allowed functions: " + ", ".join(FUNCTIONS) + "."
                    if closest(name.text, FUNCTIONS) else "")
            raise unknown_at("function", name.text, FUNCTIONS, self.text, name.pos, todo)
        opener = self.next()  # '('
        if self.is_op(")"):
            raise error_at(SpecError, self.text, self.peek().pos, f"{name.text}() without an "
                           "argument", f"{name.text} takes exactly one argument, e.g. "
                           f"'{name.text}(W1)'.")
        args = [self.expr(0)]
        while self.is_op(","):
            self.next()
            args.append(self.expr(0))
        close = self.expect_close(")", opener, "an operator")
        if len(args) != 1:
            raise error_at(SpecError, self.text, name.pos, f"{name.text} given {len(args)} "
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


#: Deepest nesting of exp in a quantity (exp(exp(exp(exp(2)))) has ~10**700 digits; log and tanh do not grow).
MAX_TRANSCENDENTAL_NESTING = 3


def _degree(node: Node) -> tuple[int, int]:
    """(degree in the parameters, exp nesting) of a parsed quantity, an upper bound: products
    and matrix products add degrees, quotients too (numerator and denominator), literal powers multiply."""
    if isinstance(node, Number):
        return 0, 0
    if isinstance(node, Name):
        return 1, 0
    if isinstance(node, Index):
        return _degree(node.base)
    if isinstance(node, Pow):
        d, n = _degree(node.base)
        return d * _literal_exponent(node.exponent), max(n, _degree(node.exponent)[1])
    if isinstance(node, (BinOp, MatMul)):
        (a, m), (b, n) = _degree(node.left), _degree(node.right)
        return (max(a, b) if isinstance(node, BinOp) and node.op in "+-" else a + b), max(m, n)
    if isinstance(node, Call):
        parts = [_degree(a) for a in node.args]
        d, n = max(p[0] for p in parts), max(p[1] for p in parts)
        return d, n + (node.func == "exp")
    kids = _children(node)
    parts = [_degree(k) for k in kids] or [(0, 0)]
    return max(p[0] for p in parts), max(p[1] for p in parts)


def _has_name(node: Node) -> bool:
    """Does the sub-tree name a parameter (a power of numbers alone is bounded by its bits)?"""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            return True
        stack.extend(_children(n))
    return False


def _literal_exponent(node: Node) -> int:
    """|exponent| when it is a literal number (a negated one too), rounded up; 1 otherwise (a
    computed exponent is checked when evaluated, one level at a time)."""
    if isinstance(node, Neg):
        node = node.operand
    if isinstance(node, Number):
        v = abs(node.value)
        return int(v) if v == int(v) else int(v) + 1
    return 1


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
        raise located(SpecError(f"quantity: expected text, got {type(text).__name__} at "
                                 "column 1. Pass the quantity as a string."), "", 0)
    if len(text) > MAX_LENGTH:
        raise error_at(SpecError, text, MAX_LENGTH, f"quantity of {len(text)} characters is too "
                       f"long (limit {MAX_LENGTH})", "Split it into several shorter quantities.")
    if not text.strip():
        raise error_at(SpecError, text, 0, "empty quantity",
                       "Write an expression such as 'sum(W1**2) - sum(W2**2)'.")
    ast = _Parser(text).parse()

    index_uses: dict[str, Name] = {}
    value_uses: dict[str, Name] = {}
    stack: list[tuple[Node, int, bool, int]] = [(ast, 1, False, 1)]
    while stack:  # iterative: the tree may be deeper than we are willing to recurse
        node, depth, is_item, power = stack.pop()
        if depth > MAX_DEPTH:
            raise error_at(SpecError, text, node.start, f"expression more than {MAX_DEPTH} levels "
                           "deep", "Simplify the expression or split it into several quantities.")
        if isinstance(node, Name):
            (index_uses if is_item else value_uses).setdefault(node.id, node)
        items = node.items if isinstance(node, Index) else ()
        inner = power
        if isinstance(node, Pow):
            inner = power * _literal_exponent(node.exponent)
            if inner > MAX_POWER and _has_name(node.base):
                raise error_at(SpecError, text, node.start, f"nested powers of degree {inner}", "Powers of "
                               f"parameters are capped at degree {MAX_POWER} (exponents multiplied); expand by "
                               "hand or use a lower power.")
        for child in _children(node):
            stack.append((child, depth + 1, any(child is it for it in items),
                          inner if isinstance(node, Pow) and child is node.base else 1 if isinstance(node, Pow) else power))
    degree, nested = _degree(ast)
    if degree > MAX_POWER:
        raise error_at(SpecError, text, 0, f"the quantity has degree {degree} in the parameters", "Quantities are "
                       f"capped at degree {MAX_POWER} (products, matrix products and powers add up); split it.")
    if nested > MAX_TRANSCENDENTAL_NESTING:
        raise error_at(SpecError, text, 0, f"exp nested {nested} deep", f"At most {MAX_TRANSCENDENTAL_NESTING} "
                       "levels: exp(exp(exp(exp(x)))) has too many digits for any exact evaluation to certify.")
    for letter, use in index_uses.items():
        if letter in value_uses:
            other = value_uses[letter]
            raise error_at(SpecError, text, other.start, f"{letter!r} is used as a value", "Letters "
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
