"""User numbers made exact, or refused in one line: never a float that is inf or NaN, never text
that is not a plain decimal or a ratio of integers."""

from __future__ import annotations

import math
import re

import sympy as sp

from verify.errors import BadInput

__all__ = ["exact_rational"]

# a decimal (1, -0.25, 1e-3) or a ratio of integers (1/10); nothing else is read
_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,2})?(\s*/\s*[+-]?\d+)?\s*")


def exact_rational(value: object, what: str, example: str = "0.1") -> sp.Rational:
    """``value`` (an int, a finite float, or text such as ``"1/10"``) as an exact rational.

    Raises:
        BadInput: a bool, inf, NaN, a zero denominator, or anything else, naming ``what``.
    """
    bad = BadInput(f"Got {what} = {str(value)[:60]!r}; give a finite number such as {example} or a ratio "
                   "of integers such as 1/10.")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad
    if isinstance(value, float) and not math.isfinite(value):
        raise bad
    if isinstance(value, str):
        if len(value) > 60 or not _TEXT.fullmatch(value):
            raise bad
        num, _, den = value.partition("/")
        if den and int(den) == 0:
            raise bad
        return sp.Rational(num.strip()) / (sp.Integer(int(den)) if den else 1)
    return sp.Rational(str(value))
