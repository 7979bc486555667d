"""Tokenizer of the quantity language and exact values of its numeric literals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sympy

from verify.errors import SpecError
from verify.lang.quantity_ast import MAX_DECIMAL_EXPONENT, MAX_NUMBER_CHARS, SYNTAX_HELP, error_at

__all__ = ["Tok", "TokKind", "tokenize", "literal_value", "is_digit"]

TokKind = Literal["num", "name", "op", "end"]


@dataclass(frozen=True)
class Tok:
    """One token: its kind, its text and its 0-based position in the quantity."""

    kind: TokKind
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


def is_digit(c: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts other scripts' digits)."""
    return "0" <= c <= "9"


def _is_name_start(c: str) -> bool:
    return c == "_" or "a" <= c <= "z" or "A" <= c <= "Z"


def _dotted_segment(text: str, k: int) -> str:
    j = k
    while j < len(text) and (_is_name_start(text[j]) or is_digit(text[j])):
        j += 1
    return text[k:j]


def _sequential_name(text: str, i: int) -> bool:
    """Digits, '.', then a segment starting with a letter or '_' that is not an exponent ('0.e5')."""
    j = i
    while j < len(text) and is_digit(text[j]):
        j += 1
    seg = _dotted_segment(text, j + 1) if j < len(text) and text[j] == "." else ""
    return bool(seg) and _is_name_start(seg[0]) and not (seg[0] in "eE" and seg[1:].isdigit())


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif is_digit(c) and _sequential_name(text, i):
            # nn.Sequential's parameter names start with a digit ("0.weight"): a name, not 0.
            j = i
            while j < n and (_is_name_start(text[j]) or is_digit(text[j]) or (
                    text[j] == "." and _dotted_segment(text, j + 1) not in ("", "T"))):
                j += 1
            toks.append(Tok("name", text[i:j], i))
            i = j
        elif is_digit(c) or (c == "." and i + 1 < n and is_digit(text[i + 1])):
            j = i
            while j < n and is_digit(text[j]):
                j += 1
            if j < n and text[j] == ".":
                j += 1
                while j < n and is_digit(text[j]):
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and is_digit(text[k]):
                    while k < n and is_digit(text[k]):
                        k += 1
                    j = k
                else:
                    raise error_at(SpecError, text, i, f"malformed number {text[i:k]!r}; expected "
                                   "digits after the exponent marker", "Write e.g. '1e-3'.")
            toks.append(Tok("num", text[i:j], i))
            i = j
        elif _is_name_start(c):
            j = i + 1
            while j < n and (_is_name_start(text[j]) or is_digit(text[j]) or (
                    # Dotted names (PyTorch's ``fc1.weight``, ``blocks.0.attn.q.weight``): a '.' and a
                    # segment other than a lone 'T' (which stays the transpose) continue the name.
                    text[j] == "." and _dotted_segment(text, j + 1) not in ("", "T"))):
                j += 1
            toks.append(Tok("name", text[i:j], i))
            i = j
        elif text.startswith("**", i):
            toks.append(Tok("op", "**", i))
            i += 2
        elif c in _OPS:
            toks.append(Tok("op", c, i))
            i += 1
        else:
            shown = repr(c) if c.isprintable() and not c.isspace() else f"character {c!r}"
            hint = _CHAR_HINTS.get(c, "Names use ASCII letters, digits and '_'. " + SYNTAX_HELP)
            raise error_at(SpecError, text, i, f"unexpected {shown}", hint)
    toks.append(Tok("end", "", n))
    return toks


def literal_value(tok: Tok, text: str) -> sympy.Rational:
    """Exact value of a numeric literal, without float round-off: '0.1' is exactly 1/10."""
    s = tok.text
    if len(s) > MAX_NUMBER_CHARS:
        raise error_at(SpecError, text, tok.pos, f"number literal of {len(s)} characters",
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
        raise error_at(SpecError, text, tok.pos, f"number {s!r} is out of range",
                       f"Decimal exponents must be within +-{MAX_DECIMAL_EXPONENT}.")
    digits = int((whole + frac) or "0")
    if exp >= 0:
        return sympy.Rational(digits * 10**exp)
    return sympy.Rational(digits, 10**-exp)
