"""Display-only math: the ASCII formulas our provers print, typeset as Presentation MathML (which
every current browser renders without JavaScript or network), and as Unicode text.

The derivation steps of a proof are text written by SymPy's printer and by our provers
(``G_h = (D*W_{h+1}.T*delta)*a.T``, ``||W_h[i,:]||^2``, ``e_i^T Q e_i``). :func:`to_mathml`
typesets that text token by token: identifiers become ``<mi>`` (Greek names as letters), numbers
``<mn>``, operators ``<mo>``, and ``_x`` / ``^x`` / ``**x`` / ``.T`` / ``'`` scripts attach to the
atom before them (``<msub>``, ``<msup>``, ``<msubsup>``). It reads the text, never evaluates it,
and escapes every token, so any text gives well-formed markup. :func:`pretty` writes the same
notation in Unicode (``||W||_F^2 <= eps`` -> ``‖W‖_F² ≤ ε``) for prose and table cells.
"""

from __future__ import annotations

import html
import re

__all__ = ["to_mathml", "fraction_mathml", "split_long", "pretty", "GREEK"]

#: Greek letter names written as letters when they are a whole identifier.
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eps": "ε", "zeta": "ζ",
         "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "lam": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
         "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
         "Delta": "Δ", "Sigma": "Σ", "Phi": "Φ", "Omega": "Ω"}

_TOKEN = re.compile(r"(?P<ws>\s+)|(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z][A-Za-z0-9]*)"
                    r"|(?P<op>\.\.\.|\*\*|<=|>=|->|!=|:=|\|\||.)", re.S)
#: ASCII operators and the character shown; "*" and "@" are products, shown as juxtaposition.
_OPS = {"*": "\u2062", "@": "\u2062", "-": "\u2212", "<=": "≤", ">=": "≥", "->": "→", "!=": "≠", ":=": "≔",
        "...": "…", "||": "‖", "~": "\u0303"}
_OPEN, _CLOSE = "([{", ")]}"
_PAIR = {")": "(", "]": "[", "}": "{"}


def _mi(name: str) -> str:
    return f"<mi>{html.escape(GREEK.get(name, name))}</mi>"


def _mo(op: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"<mo{extra}>{html.escape(_OPS.get(op, op))}</mo>"


def _tokens(text: str) -> list[tuple[str, str]]:
    return [(m.lastgroup or "op", m.group()) for m in _TOKEN.finditer(text)]


def _group(toks: list[tuple[str, str]], k: int) -> tuple[list[tuple[str, str]], int]:
    """The tokens inside the bracket that opens at ``toks[k]`` and the index after its close (an
    unclosed bracket takes the rest)."""
    depth, j = 0, k
    while j < len(toks):
        t = toks[j][1]
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth -= 1
            if depth == 0:
                return toks[k + 1:j], j + 1
        j += 1
    return toks[k + 1:], len(toks)


def _script(toks: list[tuple[str, str]], k: int) -> tuple[str, int]:
    """The script that starts at ``toks[k]`` (after ``_``, ``^`` or ``**``): a bracketed group shown
    without its brackets, or one token (a leading minus sign included)."""
    while k < len(toks) and toks[k][0] == "ws":
        k += 1
    if k >= len(toks):
        return "<mrow></mrow>", k
    kind, t = toks[k]
    if t in "({":
        inner, nxt = _group(toks, k)
        return f"<mrow>{_row(inner)}</mrow>", nxt
    if t == "-" and k + 1 < len(toks) and toks[k + 1][0] in ("num", "name"):
        term, _ = _script(toks, k + 1)
        return f"<mrow>{_mo('-')}{term}</mrow>", k + 2
    if kind == "num":
        return f"<mn>{html.escape(t)}</mn>", k + 1
    if kind == "name":
        return _mi(t), k + 1
    return _mo(t), k + 1


class _Atom:
    """A base with optional subscript and superscript (rendered once all scripts are attached)."""

    __slots__ = ("base", "sub", "sup", "word", "scriptable")

    def __init__(self, base: str, word: bool, scriptable: bool = True):
        self.base, self.sub, self.sup, self.word, self.scriptable = base, "", "", word, scriptable

    def render(self) -> str:
        if self.sub and self.sup:
            return f"<msubsup>{self.base}{self.sub}{self.sup}</msubsup>"
        if self.sub:
            return f"<msub>{self.base}{self.sub}</msub>"
        if self.sup:
            return f"<msup>{self.base}{self.sup}</msup>"
        return self.base


def _row(toks: list[tuple[str, str]]) -> str:
    atoms: list[_Atom | str] = []  # an atom, or markup that takes no scripts (spaces)
    k = 0

    def last() -> _Atom | None:
        """The atom a script would attach to: a name, number, closing bracket or norm bar."""
        return atoms[-1] if atoms and isinstance(atoms[-1], _Atom) and atoms[-1].scriptable else None

    while k < len(toks):
        kind, t = toks[k]
        prev = last()
        if kind == "ws":
            # A space between two words or numbers is kept; operators space themselves. Two or more
            # spaces after "," or ";" separate two equations on one line.
            nxt = toks[k + 1] if k + 1 < len(toks) else ("", "")
            if len(t) >= 2 and atoms and isinstance(atoms[-1], _Atom) and atoms[-1].base.startswith("<mo") \
                    and atoms[-1].base.endswith((">,</mo>", ">;</mo>")):
                atoms.append('<mspace width="1.5em"></mspace>')
            elif prev is not None and prev.word and (nxt[0] in ("name", "num") or nxt[1] in _OPEN):
                atoms.append('<mspace width="0.35em"></mspace>')
            k += 1
        elif t == "_" and prev is None and k + 1 < len(toks) and toks[k + 1][0] == "name":
            atoms.append(_Atom(_mi("_" + toks[k + 1][1]), True))  # a SymPy dummy such as _d
            k += 2
        elif t in ("_", "^", "**") and prev is not None:
            script, k = _script(toks, k + 1)
            if t == "_" and not prev.sub and not prev.sup:
                prev.sub = script
            elif t != "_" and not prev.sup:
                prev.sup = script
            else:  # a second script of the same kind: nest (x^2^3 -> (x^2)^3 as printed)
                inner = prev.render()
                atoms[-1] = _Atom(inner, prev.word)
                setattr(atoms[-1], "sub" if t == "_" else "sup", script)
        elif t == "." and prev is not None and k + 1 < len(toks) and toks[k + 1] == ("name", "T"):
            if prev.sup:
                atoms[-1] = _Atom(prev.render(), prev.word)
            atoms[-1].sup = _mi("T")  # type: ignore[union-attr]
            k += 2
        elif t == "'" and prev is not None and not prev.sup:
            prev.sup = _mo("′")
            k += 1
        elif kind == "num":
            atoms.append(_Atom(f"<mn>{html.escape(t)}</mn>", True))
            k += 1
        elif kind == "name":
            atoms.append(_Atom(_mi(t), True))
            k += 1
        elif t == "||":
            atoms.append(_Atom(_mo(t, fence="true", stretchy="false"), False))
            k += 1
        elif t in _OPEN or t in _CLOSE:
            atoms.append(_Atom(_mo(t, stretchy="false"), t in _CLOSE, t in _CLOSE))
            k += 1
        else:
            atoms.append(_Atom(_mo(t), False, False))
            k += 1
    return "".join(a.render() if isinstance(a, _Atom) else a for a in atoms)


def to_mathml(text: str, *, display: bool = False) -> str:
    """``text`` (ASCII math as our provers print it) as one ``<math>`` element; ``display`` sets it
    in display style (full-size scripts and operators) while it stays inline, so the caller places
    it (left-aligned in a derivation). The original text is kept in ``alttext`` for copy and search."""
    mode = ' displaystyle="true"' if display else ""
    return f'<math{mode} alttext="{html.escape(text)}"><mrow>{_row(_tokens(text))}</mrow></math>'


def _top_level(text: str, seps: tuple[str, ...]) -> list[int]:
    """Positions where one of ``seps`` starts outside every bracket."""
    cuts, depth = [], 0
    for k, ch in enumerate(text):
        depth += ch in _OPEN
        depth -= ch in _CLOSE
        if depth == 0 and k and any(text.startswith(sep, k) for sep in seps):
            cuts.append(k)
    return cuts


def _pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if text[a:b].strip()]


def split_long(text: str, width: int = 90) -> list[str]:
    """``text`` as display lines (browsers do not break MathML lines): first at the wide separators
    ``",  "`` / ``";  "`` between equations, then a line longer than ``width`` before a top-level
    `` + `` or `` - `` (never inside brackets), packing terms greedily. The lines, stripped and
    joined with single spaces, give ``text`` with its runs of spaces collapsed."""
    if len(text) <= width:
        return [text]
    lines = []
    for part in _pieces(text, [k + 1 for k in _top_level(text, (",  ", ";  "))]):
        part = part.strip()
        if len(part) <= width:
            lines.append(part)
            continue
        current = ""
        for term in _pieces(part, _top_level(part, (" + ", " - "))):
            if current and len(current) + len(term) > width:
                lines.append(current.strip())
                current = ""
            current += term
        lines.append(current.strip())
    return lines


_RATIONAL = re.compile(r"\s*(-?)(\d+)/(\d+)\s*$")


def fraction_mathml(value: str) -> str:
    """An exact number written as text (``-16/9``, ``3``) as MathML content (no ``<math>``):
    a fraction becomes ``<mfrac>``; anything else is typeset by the tokenizer."""
    m = _RATIONAL.match(value)
    if m:
        sign = _mo("-") if m.group(1) else ""
        return f"<mrow>{sign}<mfrac><mn>{m.group(2)}</mn><mn>{m.group(3)}</mn></mfrac></mrow>"
    return f"<mrow>{_row(_tokens(value))}</mrow>"


# --- Unicode text ------------------------------------------------------------------------------
#: Greek names replaced only as whole words: letters may not touch them on either side ("eta_t" ->
#: "η_t", but "beta" and "theta" keep their own letters, "meta" stays).
_PRETTY_GREEK = (("epsilon", "ε"), ("lambda", "λ"), ("sigma", "σ"), ("delta", "δ"), ("theta", "θ"),
                 ("alpha", "α"), ("beta", "β"), ("eta", "η"), ("eps", "ε"), ("lam", "λ"), ("phi", "φ"),
                 ("mu", "μ"))
_GREEK_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(name for name, _ in _PRETTY_GREEK) + r")(?![A-Za-z])")
_SYMBOLS = (("||", "‖"), ("<=", "≤"), (">=", "≥"), ("->", "→"), ("!=", "≠"), ("+-", "±"), ("sqrt(", "√("))
#: x^T, x^2, x^3 when the exponent is not followed by more of a word or number (x^2t, x^2.5 stay).
_POWERS = re.compile(r"\^(T|2|3)(?![A-Za-z0-9.])")
_POWER_CHARS = {"T": "ᵀ", "2": "²", "3": "³"}


def pretty(text: str) -> str:
    """``text`` with ASCII math written in Unicode; everything else unchanged."""
    for ascii_, uni in _SYMBOLS:
        text = text.replace(ascii_, uni)
    text = _POWERS.sub(lambda m: _POWER_CHARS[m.group(1)], text)
    greek = dict(_PRETTY_GREEK)
    return _GREEK_RE.sub(lambda m: greek[m.group(1)], text)
