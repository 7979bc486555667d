"""Display-only Unicode for the ASCII math in verdicts and audit texts (``||W||_F^2 <= eps`` ->
``‖W‖_F² ≤ ε``), so the report shows formulas without a math CDN. Only the HTML and Markdown
report use it; ``results.json`` and the terminal keep the ASCII text (greppable, copy-pasteable)."""

from __future__ import annotations

import re

__all__ = ["pretty"]

#: Greek letter names, longest first, replaced only as whole words: letters may not touch them on
#: either side ("eta_t" -> "η_t", but "beta" and "theta" keep their own letters).
_GREEK = (("epsilon", "ε"), ("lambda", "λ"), ("sigma", "σ"), ("delta", "δ"), ("theta", "θ"), ("alpha", "α"),
          ("beta", "β"), ("eta", "η"), ("eps", "ε"), ("lam", "λ"), ("phi", "φ"), ("mu", "μ"))
_GREEK_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(name for name, _ in _GREEK) + r")(?![A-Za-z])")
_SYMBOLS = (("||", "‖"), ("<=", "≤"), (">=", "≥"), ("->", "→"), ("!=", "≠"), ("+-", "±"), ("sqrt(", "√("))
#: x^T, x^2, x^3 when the exponent is not followed by more of a word or number (x^2t, x^2.5 stay).
_POWERS = re.compile(r"\^(T|2|3)(?![A-Za-z0-9.])")
_POWER_CHARS = {"T": "ᵀ", "2": "²", "3": "³"}


def pretty(text: str) -> str:
    """``text`` with ASCII math written in Unicode; everything else unchanged."""
    for ascii_, uni in _SYMBOLS:
        text = text.replace(ascii_, uni)
    text = _POWERS.sub(lambda m: _POWER_CHARS[m.group(1)], text)
    greek = dict(_GREEK)
    return _GREEK_RE.sub(lambda m: greek[m.group(1)], text)
