"""Exact symbols for the non-polynomial and piecewise parts of a symbolic net.

Three kinds of symbol stand beside the parameters, the data and the loss derivatives:

* **Max-pooling selections** (``MAX_SELECT``). max(z_1..z_m) = z_m + sum_{j<m} s_j (z_j - z_m) with
  s_j in {0, 1} constant on each region where the window's arg-max is fixed (s = 0: the last entry
  wins). Like the ReLU region symbols, s_j has derivative 0, so one proof covers every region. A
  witness fixes s from the exact arg-max at its point and is never placed on a tie (a kink).
* **Norms** (``SQRT``). A normalisation divides by sqrt(B) with B a sum of squares. SymPy builds
  and differentiates sqrt(B) itself; only afterwards is every power B**(k/2) renamed t**k with
  t > 0 a fresh symbol and the relation t**2 = B recorded. ``reduce_residual`` then rewrites
  t**e as B**(e // 2) * t**(e % 2), which is exact, so a residual that reduces to 0 is 0.
* **Softmax exponentials** (``EXP``). Each exp(S_ij) of an attention score is renamed e_ij after
  differentiation (exp(c*S) -> e**c for an integer c, which SymPy produces from products). The e's
  are kept as independent positive symbols: a residual that vanishes for every value of them
  vanishes at e = exp(S) (sufficient; a non-zero one is refuted only by a witness).

A witness evaluates t = sqrt(B) and e = exp(S) exactly at its rational point (``verify.prove.witness``);
values are then algebraic or transcendental and are certified by strict evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
import random

import sympy as sp

__all__ = ["SQRT", "EXP", "MAX_SELECT", "substitute", "reduce_residual", "sample_point", "clearly_nonzero",
           "has_auxiliaries"]


from verify.model.regions import EXP, MAX_SELECT, SQRT  # noqa: E402  (re-exported)


def substitute(expr, aux: Mapping[sp.Expr, tuple[str, sp.Symbol]]):
    """Rename B**(k/2) -> t**k and exp(c*S) -> e**c (c integer) in ``expr`` for the entries of ``aux``
    (base or argument -> (kind, symbol)). Works top-down, so nested parts go with their outer atom."""
    if not isinstance(expr, sp.Basic):
        return expr
    mapping = {}
    for atom in expr.atoms(sp.Pow):
        hit = aux.get(atom.base)
        if hit is not None and hit[0] == "sqrt" and (2 * atom.exp).is_Integer:
            mapping[atom] = hit[1] ** (2 * atom.exp)
    for atom in expr.atoms(sp.exp):
        power = _exp_power(atom.args[0], aux)
        if power is not None:
            mapping[atom] = power
    return expr.xreplace(mapping) if mapping else expr


def _exp_power(arg, aux):
    hit = aux.get(arg)
    if hit is not None and hit[0] == "exp":
        return hit[1]
    for base, (kind, sym) in aux.items():
        if kind != "exp":
            continue
        # SymPy turns exp(S)**c into exp(c*S) with c*S distributed; recover c (exact rational test).
        c = sp.cancel(arg / base)
        if c.is_Integer and c != 0:
            return sym ** c
    return None


def _auxiliary_symbols(net) -> set:
    return {r.symbol for r in net.regions if r.activation in (SQRT, EXP)}


def has_auxiliaries(net) -> bool:
    """Whether the net has norm or softmax symbols (non-polynomial layers)."""
    return bool(_auxiliary_symbols(net))


def reduce_residual(expr: sp.Expr, net) -> sp.Expr:
    """An expression that is 0 only if ``expr`` is 0, using the norm relations t**2 = B of ``net``.

    Expressions without auxiliary symbols are returned as they are (the common, fast path).
    Otherwise the expression is put over one denominator (SymPy ``together``; denominators such as
    the softmax sums are non-zero), and in its numerator each t is reduced to degree <= 1, latest
    normalisation first (its B may contain earlier t's).
    """
    if expr == 0:
        return expr
    if not expr.free_symbols & _auxiliary_symbols(net):
        return expr
    if clearly_nonzero(expr, net):
        return expr  # not identically 0: skip the costly common denominator (a witness decides)
    num = sp.expand(sp.numer(sp.together(expr)))
    for t, base in reversed(net.relations):
        if num == 0:
            break
        if not num.has(t):
            continue
        num = num.replace(lambda e: e.is_Pow and e.base == t and e.exp.is_Integer,
                          lambda e: base ** (e.exp // 2) * t ** (e.exp % 2))
        num = sp.expand(sp.numer(sp.together(sp.expand(num))))
    return num


#: Digits for the quick numeric test; cancellation error ~ 10**-DIGITS * scale, far below the
#: 10**-12 relative threshold, so "clearly non-zero" is never caused by round-off.
_DIGITS = 30


def sample_point(symbols, net, seed: int = 0, keep: Mapping | None = None) -> dict:
    """A random 30-digit float point for ``symbols`` (and the norm bases) at which every relation
    t**2 = B of ``net`` holds; entries of ``keep`` are used as given. For quick numeric tests only."""
    rng = random.Random(seed)
    rel = {t for t, _ in net.relations}
    point = dict(keep or {})
    for sym in sorted(set(symbols) | {s for _, b in net.relations for s in b.free_symbols}, key=str):
        if sym in rel or sym in point:
            continue
        value = rng.uniform(0.5, 2.0) if sym.is_positive or sym.is_nonnegative else rng.uniform(-2.0, 2.0)
        point[sym] = sp.Float(value, _DIGITS)
    for t, base in net.relations:  # creation order: a base may contain earlier t's
        point[t] = sp.sqrt(base.xreplace(point)).evalf(_DIGITS)
    return point


def clearly_nonzero(expr: sp.Expr, net, seed: int = 0) -> bool:
    """True if ``expr`` is far from 0 at a random point where every relation t**2 = B holds.

    Only a shortcut: "not clearly non-zero" falls through to the exact test, and "non-zero" only
    sends the residual to the exact witness search, so no verdict rests on this float test.
    """
    point = sample_point(expr.free_symbols, net, seed)
    terms = [term.xreplace(point).evalf(_DIGITS) for term in sp.Add.make_args(expr)]
    if not all(v.is_number and v.is_real for v in terms):
        return False
    scale = sum(abs(v) for v in terms)
    return bool(abs(sum(terms)) > sp.Float(10) ** -12 * scale)
