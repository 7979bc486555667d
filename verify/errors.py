"""The one error hierarchy of the toolkit.

Every message says what was received, what is allowed, and what to do. The CLI turns any
``VerifyError`` into a single line on stderr and exit code 2 (bad input) without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "VerifyError",
    "BadInput",
    "UnknownName",
    "ShapeMismatch",
    "SpecError",
    "DivergenceError",
    "BudgetExceeded",
    "JobTimeout",
    "closest", "echo", "one_line",
]


class VerifyError(Exception):
    """Base class: anything the toolkit reports to a user as a clean one-line error."""


class BadInput(VerifyError):
    """Malformed input from the user (CLI arguments, specs, quantities).

    Attributes:
        column: 1-based column in ``text`` where the problem is, when the input is one line of text
            (the quantity language sets it); ``None`` otherwise.
        text: the text ``column`` points into, or ``None``.
    """

    column: int | None = None
    text: str | None = None


class UnknownName(BadInput):
    """An id or name that is not known; the message lists the closest known names."""

    def __init__(self, kind: str, got: str, known: Iterable[str], hint: str = ""):
        known = sorted(set(known))
        near = closest(got, known)
        msg = f"Unknown {kind} {echo(str(got))}."
        if near:
            msg += " Closest: " + ", ".join(near) + "."
        else:
            msg += " Known: " + ", ".join(known[:20]) + ("" if len(known) <= 20 else ", ...") + "."
        if hint:
            msg += " " + hint
        super().__init__(msg)
        self.got = got
        self.suggestions = near


class ShapeMismatch(BadInput):
    """Two shapes that must agree do not."""


class SpecError(BadInput):
    """A model or quantity specification that cannot be understood."""


class DivergenceError(VerifyError):
    """A numeric run produced NaN/inf or an exploding loss; the message names the step to lower."""


class BudgetExceeded(BadInput):
    """A job whose estimated cost is above its budget, refused before the work (issue 15); the message
    names what is too big, the estimate against the limit, and what to do instead."""

    def __init__(self, message: str, *, estimate: float = 0.0, limit: float = 0.0):
        super().__init__(message)
        self.estimate, self.limit = estimate, limit


class JobTimeout(BaseException):
    """Raised inside a job when its ``--timeout`` fires (``verify.jobs.limits``). A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, seconds: float, cpu: bool = False):
        super().__init__(f"timed out after {seconds:g} s" + (" of CPU time" if cpu else ""))
        self.seconds, self.cpu = seconds, cpu


def closest(got: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Closest known names to ``got``, case-insensitively (difflib ratio >= 0.5)."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(got.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def echo(text: str, limit: int = 60) -> str:
    """User text as an error message may echo it on one terminal line: control characters (ANSI
    escapes, line breaks) shown escaped by ``repr``, and cut to ``limit`` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def one_line(message: str, limit: int = 1000) -> str:
    """The first line of an error message as the CLI prints it: control characters (ANSI escapes)
    shown escaped, and a line over ``limit`` characters cut in the middle, so that what went wrong
    (the start) and what to do (the end) both stay on screen."""
    line = message.splitlines()[0] if message else ""
    line = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in line)
    if len(line) <= limit:
        return line
    head = (2 * limit) // 3
    return f"{line[:head]} ...({len(line) - limit + 5:,} characters cut)... {line[-(limit - head - 40):]}"
