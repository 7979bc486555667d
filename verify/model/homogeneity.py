"""Positive homogeneity of an activation, derived by SymPy instead of declared.

phi is positively homogeneous of degree k when phi(c*z) = c**k * phi(z) for every c > 0 and every
real z. ``derive_homogeneity`` decides it for an exact SymPy expression in a real symbol z:

* **proof**, piecewise: z > 0 is written z = t, z < 0 is z = -t (t > 0 a positive symbol, so
  SymPy itself resolves Abs, Max/Min, sign, Heaviside, Piecewise and sqrt(z**2) on each side) and
  z = 0 is evaluated. On each side k is derived by Euler's relation t*phi'(t)/phi(t) = k (constant
  on the side; a side on which phi is 0 fits every k), the two sides must give the same k, and then
  the identity phi(c*t) - c**k*phi(t) is reduced to 0 by SymPy on each side, and phi(0) = 0 (for
  k != 0: phi(0) = c**k phi(0) for every c > 0) is checked exactly.
* **refutation**: an exact witness at rational points, for every k at once: a point z with
  phi(z) = 0 != phi(c*z) (or the reverse), or phi(c*z)/phi(z) < 0 (c**k > 0), or two points with
  the same c whose ratios phi(c*z)/phi(z) differ (homogeneity needs both = c**k, so no single k
  fits). Rational values are exact; a transcendental one (tanh(2), erf(1)) is certified non-zero by
  SymPy's strict evaluation, as ``verify.prove.witness`` certifies its residuals.
* otherwise ``Underived`` with the reason: nothing is claimed.

Pure SymPy on an expression the caller built (``verify.lang.formula`` parses user text into one);
no user text is ever evaluated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

__all__ = ["Homogeneous", "NotHomogeneous", "Underived", "Homogeneity", "derive_homogeneity", "WITNESS_DIGITS"]

#: Digits asked from strict evaluation; a value counts as non-zero only when |v| > 10**-(WITNESS_DIGITS//2).
WITNESS_DIGITS = 40
_T = sp.Symbol("t", positive=True)
_C = sp.Symbol("c", positive=True)
_SHOWN = sp.Symbol("z")  # only for printing a side back in z (no assumptions, so nothing is rewritten)
#: Rational points tried for a witness, small so that the witness reads easily.
_SCALES = (sp.Integer(2), sp.Integer(3))
_POINTS = tuple(sp.Rational(v) for v in ("1", "-1", "2", "-2", "0", "1/2", "-1/2", "3", "-3"))
#: ``simplify`` runs only on expressions of at most this many operations: on large ones it can take
#: minutes (seen: 26 s for a sum of 4 terms sqrt(sin(k*z))*abs(z)); above it nothing is claimed.
SIMPLIFY_OPS = 60


@dataclass(frozen=True)
class Homogeneous:
    """Proven: phi(c*z) = c**degree * phi(z) for every c > 0 and real z.

    ``positive``/``negative`` are phi on z = t > 0 and on z = -t < 0 (as expressions in t), so
    phi(z) = phi(1)*z**k for z > 0 and phi(z) = phi(-1)*(-z)**k for z < 0."""

    degree: sp.Expr
    positive: sp.Expr
    negative: sp.Expr
    at_one: tuple[sp.Expr, sp.Expr]  # (phi(1), phi(-1))

    @property
    def slopes(self) -> tuple[sp.Expr, sp.Expr] | None:
        """(s+, s-) with phi(z) = s+ * z**k on z > 0 and s- * z**k on z < 0; None unless k is an integer."""
        if not (self.degree.is_Integer and self.degree >= 1):
            return None
        return self.at_one[0], (-1) ** int(self.degree) * self.at_one[1]

    def text(self) -> str:
        k = sp.sstr(self.degree)
        ck = f"c**{k}" if self.degree.is_Integer or self.degree.is_Symbol else f"c**({k})"
        return (f"derived by SymPy: phi(c*z) = {ck}*phi(z) for every c > 0, proven piecewise on z<0 "
                f"(phi = {sp.sstr(self.negative.xreplace({_T: -_SHOWN}))}), z=0 (phi(0) = 0), "
                f"z>0 (phi = {sp.sstr(self.positive.xreplace({_T: _SHOWN}))}); "
                f"k = t*phi'(t)/phi(t) = {k} by Euler's relation where phi != 0")


@dataclass(frozen=True)
class NotHomogeneous:
    """Refuted for every degree k by an exact witness: ``points`` are (c, z, phi(z), phi(c*z))
    (one point, or two with the same c); ``argument`` says why no k fits."""

    points: tuple[tuple[sp.Rational, sp.Rational, sp.Expr, sp.Expr], ...]
    argument: str
    certified: str
    candidates: tuple[tuple[str, sp.Expr], ...] = ()  # (side, k) where Euler's relation gave a constant k

    def text(self) -> str:
        cand = (" (Euler's relation gives " + ", ".join(f"k = {sp.sstr(k)} on {side}" for side, k in self.candidates)
                + ")" if self.candidates else "")
        return f"derived by SymPy: not positively homogeneous of any degree{cand}: {self.argument} ({self.certified})"


@dataclass(frozen=True)
class Underived:
    """Neither proven nor refuted; nothing is claimed."""

    reason: str

    def text(self) -> str:
        return f"homogeneity not derived: {self.reason}"


Homogeneity = Homogeneous | NotHomogeneous | Underived


def _simplified(e: sp.Expr) -> sp.Expr:
    return sp.simplify(e) if sp.count_ops(e) <= SIMPLIFY_OPS else e


def _vanishes(e: sp.Expr) -> bool:
    """SymPy reduces ``e`` to 0 (an equivalence transformation, so True is a proof)."""
    e = sp.expand(e)
    return e == 0 or _simplified(e) == 0


def _side_degree(f: sp.Expr, thorough: bool) -> sp.Expr | None:
    """The constant k = t*f'(t)/f(t) on t > 0 (f not 0), or None when SymPy does not reduce it to a constant.

    t*f' = k*f on t > 0 is Euler's relation: it holds exactly when f(t) = f(1)*t**k there. ``cancel``
    settles rational functions and powers; ``thorough`` adds ``simplify`` (slow on large formulas)."""
    g = _T * sp.diff(f, _T) / f
    # A float filter before any symbolic work (cancel alone took 8 s on a 400-character formula): a g
    # that differs at two points is not constant, so there is no k to find; only a pass goes on.
    at = [g.xreplace({_T: v}).evalf(30) for v in (sp.Rational(5, 7), sp.Rational(13, 11))]
    if all(a.is_Number and a.is_finite for a in at) and abs(at[0] - at[1]) > sp.Float(10) ** -12 * (1 + abs(at[0])):
        return None
    g = sp.cancel(g)
    if g.free_symbols and thorough:
        g = _simplified(g)
    if g.free_symbols or not g.is_finite or not g.is_real:
        return None
    return g


@lru_cache(maxsize=256)
def derive_homogeneity(phi: sp.Expr, z: sp.Symbol) -> Homogeneity:
    """Prove or refute positive homogeneity of ``phi`` (a SymPy expression in the real symbol ``z``).

    The witness search runs first: it is cheap (exact values at a few rational points), and a
    certified witness settles the question, so the slower symbolic proof runs only when none is found.
    A SymPy failure on an odd formula claims nothing (a user's spec never ends in a traceback)."""
    try:
        return _derive(phi, z)
    except (TypeError, ValueError, ZeroDivisionError, NotImplementedError, RecursionError) as exc:
        return Underived(f"SymPy could not decide ({type(exc).__name__}: {str(exc)[:80]})")


def _derive(phi: sp.Expr, z: sp.Symbol) -> Homogeneity:
    at0 = phi.subs(z, 0)
    if at0.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or not at0.is_finite:
        return Underived(f"phi(0) = {sp.sstr(at0)} is undefined, so phi(c*0) = c**k*phi(0) has no meaning")
    if at0.is_real is False:
        return Underived(f"phi(0) = {sp.sstr(at0)} is not a real number: phi is not a real function of every real z")
    sides = {"z>0": phi.subs(z, _T), "z<0": phi.subs(z, -_T)}
    witness = _witness(phi, z)
    if isinstance(witness, Underived):
        return witness
    if witness is not None:
        cheap = {name: None if f == 0 else _side_degree(f, thorough=False) for name, f in sides.items()}
        return NotHomogeneous(witness.points, witness.argument, witness.certified,
                              tuple((name, k) for name, k in cheap.items() if k is not None))
    zero = {name: _vanishes(f) for name, f in sides.items()}
    degrees = {name: None if zero[name] else _side_degree(f, thorough=True) for name, f in sides.items()}
    found = {d for name, d in degrees.items() if not zero[name] and d is not None}
    if all(zero.values()):
        found = {sp.Integer(1)}  # phi = 0 off z = 0: homogeneous of every degree; report k = 1
    complete = all(zero[name] or degrees[name] is not None for name in sides)
    if complete and len(found) == 1:
        k = found.pop()
        identity = all(_vanishes(f.subs(_T, _C * _T) - _C**k * f) for f in sides.values())
        if identity and (at0 == 0 or k == 0):
            return Homogeneous(k, _simplified(sides["z>0"]), _simplified(sides["z<0"]),
                               (phi.subs(z, 1), phi.subs(z, -1)))
    return Underived("SymPy did not reduce phi(c*t) - c**k*phi(t) to 0 on both sides (z = t > 0, z = -t < 0) for "
                     f"one k (simplify is tried up to {SIMPLIFY_OPS} operations), and no rational witness was certified "
                     f"at c in {{{', '.join(map(str, _SCALES))}}}, z in {{{', '.join(map(str, _POINTS))}}}")


def _certified(v: sp.Expr) -> tuple[bool | None, str]:
    """Is v non-zero? True/False exactly for rationals; True when strict evaluation certifies it; None if unknown."""
    if v.is_Rational:
        return v != 0, "exact rationals"
    if v == 0:
        return False, "exact"
    quick = v.evalf(15)
    if quick.is_Number and (not quick.is_finite or abs(quick) < sp.Float(10) ** -12):
        return None, ""  # probably an exact 0 SymPy did not reduce: strict evaluation of it is slow and fails
    try:
        approx = v.evalf(WITNESS_DIGITS, strict=True)
    except (sp.core.evalf.PrecisionExhausted, TypeError, ValueError):
        return None, ""
    if not (approx.is_Float or approx.is_Rational) or not approx.is_finite:
        return None, ""  # not a real number (SymPy left it symbolic)
    if abs(approx) > sp.Float(10) ** (-(WITNESS_DIGITS // 2)):
        return True, f"non-zero certified by {WITNESS_DIGITS}-digit strict evaluation"
    return None, ""


def _negative(v: sp.Expr) -> tuple[bool, str]:
    nonzero, how = _certified(v)
    if not nonzero:
        return False, ""
    return bool(v.evalf(WITNESS_DIGITS, strict=True) < 0), how


def _how(*hows: str) -> str:
    named = [h for h in hows if h and h not in ("exact", "exact rationals")]
    return named[0] if named else "exact rationals"


def _not_real(v: sp.Expr) -> bool:
    """v is certified not to be a real number (imaginary part certified non-zero)."""
    if v.is_real or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return False
    try:
        im = sp.im(v.evalf(WITNESS_DIGITS, strict=True))
    except (sp.core.evalf.PrecisionExhausted, TypeError, ValueError):
        return False
    return bool(im.is_Number and im.is_finite and abs(im) > sp.Float(10) ** (-(WITNESS_DIGITS // 2)))


def _witness(phi: sp.Expr, z: sp.Symbol) -> NotHomogeneous | Underived | None:
    """An exact witness against every degree k, searched over small rational c and z (``Underived``
    when phi is not real at one of the points: then homogeneity of a real activation is moot)."""
    s = sp.sstr
    for x in _POINTS:
        if _not_real(phi.subs(z, x)):
            return Underived(f"phi({x}) = {s(phi.subs(z, x))} is not a real number (imaginary part certified "
                             "non-zero): phi is not a real function of every real z")
    for c in _SCALES:
        seen: list[tuple[sp.Rational, sp.Expr, sp.Expr, sp.Expr]] = []
        for x in _POINTS:
            a, b = phi.subs(z, x), phi.subs(z, c * x)
            if a.has(sp.nan, sp.zoo, sp.oo) or b.has(sp.nan, sp.zoo, sp.oo):
                continue
            (na, ha), (nb, hb) = _certified(a), _certified(b)
            if na is None or nb is None or (not na and not nb):
                continue  # unknown, or 0 = c**k * 0 (fits every k)
            if na != nb:
                zero, other = ("phi(z) = 0", f"phi(c*z) = {s(b)} != 0") if not na else (f"phi(z) = {s(a)} != 0", "phi(c*z) = 0")
                return NotHomogeneous(((c, x, a, b),), f"c = {c}, z = {x}: {zero} but {other}, while "
                                      "phi(c*z) = c**k*phi(z) needs both zero or both non-zero (c**k > 0)",
                                      _how(ha, hb))
            r = b / a
            neg, hr = _negative(r)
            if neg:
                return NotHomogeneous(((c, x, a, b),), f"c = {c}, z = {x}: phi(z) = {s(a)}, phi(c*z) = {s(b)}, "
                                      f"ratio {s(r)} < 0 while c**k > 0 for every k", _how(ha, hb, hr))
            for x2, a2, b2, r2 in seen:
                differ, hd = _certified(r - r2)
                if differ:
                    return NotHomogeneous(
                        ((c, x2, a2, b2), (c, x, a, b)),
                        f"c = {c}: phi({s(c * x2)})/phi({s(x2)}) = {s(r2)} but phi({s(c * x)})/phi({s(x)}) = {s(r)}; "
                        f"degree k needs both = {c}**k, so no k fits", _how(ha, hb, hd))
            seen.append((x, a, b, r))
    return None
