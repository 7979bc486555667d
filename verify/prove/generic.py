"""Generic proofs: symbolic widths with SymPy ``MatrixSymbol``s and non-commutative algebra.

SymPy's matrix calculus derives the gradients (``Trace(...).diff(W)``). Declared properties are then
applied as explicit rewrite rules, each recorded as a derivation step:

* an elementwise derivative is a diagonal matrix: x o phi'(z) = D x with D := diag(phi'(z));
* homogeneity of degree k: phi(z) = D z / k (Euler: k phi(z) = phi'(z) z, elementwise);
* D is diagonal: D^T = D and, for the unit vector e_i, e_i^T D = d_i e_i^T and D e_i = d_i e_i.

Expressions are then expanded into words of matrix atoms and compared in a normal form:
a word equals its transpose when it is 1x1, and inside a trace it may be rotated (cyclicity) and
transposed. Nothing else is assumed, so an expression that is not identically zero stays non-zero.

References:
    Du, Hu & Lee (2018), proofs of Thm 2.1-2.3 (Sec 2.3 and Appendix A).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

__all__ = [
    "NotNormalisable", "Word", "terms", "normal_form", "is_zero", "residual_text",
    "flow_derivative_terms", "gd_increment_terms", "as_expr", "elementwise_rules", "diagonal_entry",
    "context", "trace_terms", "negate", "replace_adjacent", "words_text", "flow_derivative_words",
]

Word = tuple  # of matrix atoms


class NotNormalisable(Exception):
    """The expression holds a matrix construct the normal form does not know (treated as undecided)."""


@dataclass(frozen=True)
class _Ctx:
    symmetric: frozenset  # MatrixSymbols declared symmetric (diagonal D)


def _t(atom, ctx: _Ctx):
    if isinstance(atom, sp.Transpose):
        return atom.arg
    if atom in ctx.symmetric:
        return atom
    return sp.Transpose(atom)


def _atom_ok(a) -> bool:
    return isinstance(a, (sp.MatrixSymbol, sp.Identity)) or (
        isinstance(a, sp.Transpose) and isinstance(a.arg, sp.MatrixSymbol))


def terms(expr, ctx: _Ctx) -> list[tuple[sp.Expr, Word]]:
    """Expand a matrix expression into (scalar coefficient, word of atoms) pairs."""
    expr = sp.expand(expr.doit())
    if isinstance(expr, sp.ZeroMatrix) or expr == 0:
        return []
    out = []
    for term in (expr.args if isinstance(expr, sp.MatAdd) else (expr,)):
        if isinstance(term, sp.ZeroMatrix):
            continue
        coeff, rest = term.as_coeff_mmul()
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        factors = [g for f in factors for g in _unpow(f)]
        scal = [f for f in factors if not getattr(f, "is_Matrix", False)]
        mats = [f for f in factors if getattr(f, "is_Matrix", False)]
        for m in mats:
            if not _atom_ok(m):
                raise NotNormalisable(f"cannot normalise factor {m} ({type(m).__name__})")
        mats = [m.arg if isinstance(m, sp.Transpose) and m.arg in ctx.symmetric else m for m in mats]
        mats = [m for m in mats if not isinstance(m, sp.Identity)]
        out.append((sp.Mul(coeff, *scal), tuple(mats)))
    return out


def _unpow(factor) -> tuple:
    """X**n (n a positive integer, X a product of atoms) as n copies of X's factors; else (factor,)."""
    if isinstance(factor, sp.MatPow) and factor.exp.is_Integer and factor.exp > 0:
        base = factor.base.args if isinstance(factor.base, sp.MatMul) else (factor.base,)
        return tuple(base) * int(factor.exp)
    return (factor,)


def _key(word: Word) -> tuple:
    return tuple(sp.sstr(a) for a in word)


def _transpose_word(word: Word, ctx: _Ctx) -> Word:
    return tuple(_t(a, ctx) for a in reversed(word))


def _canonical(word: Word, ctx: _Ctx, mode: str) -> Word:
    if mode == "matrix":
        return word
    candidates = [word, _transpose_word(word, ctx)]
    if mode == "trace":
        candidates = [c[r:] + c[:r] for c in candidates for r in range(max(len(c), 1))]
    return min(candidates, key=_key)


def normal_form(pairs: Iterable[tuple[sp.Expr, Word]], ctx: _Ctx, mode: str) -> dict:
    """Collect coefficients per canonical word; ``mode`` is matrix, scalar (1x1) or trace."""
    acc: dict = {}
    for coeff, word in pairs:
        key = _canonical(word, ctx, mode)
        acc[key] = acc.get(key, 0) + coeff
    return {k: sp.expand(v) for k, v in acc.items() if sp.expand(v) != 0}


def is_zero(pairs, ctx: _Ctx, mode: str) -> bool:
    return not normal_form(pairs, ctx, mode)


def residual_text(pairs, ctx: _Ctx, mode: str, limit: int = 6) -> str:
    nf = normal_form(pairs, ctx, mode)
    parts = [f"({sp.sstr(c)})*{'*'.join(_key(w)) or '1'}" for w, c in list(nf.items())[:limit]]
    return " + ".join(parts) + (f" + ... ({len(nf)} words)" if len(nf) > limit else "") if parts else "0"


def flow_derivative_terms(Q, velocity: Mapping, ctx: _Ctx) -> list[tuple[sp.Expr, Word]]:
    """dQ/dt with W(t) = W + t*V for each (W, V) in ``velocity``, as expanded terms.

    Q(W + tV) is expanded exactly and SymPy differentiates each scalar coefficient at t = 0.
    (SymPy's ``MatrixExpr.diff`` on such products reorders factors wrongly in SymPy 1.14, so the
    scalar route is used.)
    """
    t = sp.Dummy("t")
    moved = terms(Q.xreplace({W: W + t * V for W, V in velocity.items()}), ctx)
    return [(c.diff(t).subs(t, 0), w) for c, w in moved if c.diff(t).subs(t, 0) != 0]


def flow_derivative_words(Q, velocity: Mapping, ctx: _Ctx) -> list[tuple[sp.Expr, Word]]:
    """dQ/dt as ``flow_derivative_terms`` with each velocity given as (coefficient, word) terms.

    SymPy differentiates Q(W + t V_W) with V_W a placeholder symbol (a small expansion); each word,
    linear in the placeholders, then has the velocity's words spliced in (V_W^T: their transposes).
    The same terms as substituting the velocity expression first, without expanding its square.
    """
    holders = {W: sp.MatrixSymbol(f"V[{W}]", *W.shape) for W in velocity}
    splice = {}
    for W, V in holders.items():
        splice[V] = list(velocity[W])
        splice[sp.Transpose(V)] = [(c, _transpose_word(w, ctx)) for c, w in velocity[W]]
    out = []
    for coeff, word in flow_derivative_terms(Q, holders, ctx):
        at = [k for k, a in enumerate(word) if a in splice]
        if len(at) != 1:
            raise NotNormalisable(f"a term of dQ/dt is not linear in the velocity: {word}")
        k = at[0]
        out += [(coeff * c, word[:k] + w + word[k + 1:]) for c, w in splice[word[k]]]
    return out


def gd_increment_terms(Q, grads: Mapping, eta, ctx: _Ctx) -> list[tuple[sp.Expr, Word]]:
    """Q(W - eta G) - Q(W), exact, as expanded terms."""
    return terms(Q.xreplace({W: W - eta * G for W, G in grads.items()}) - Q, ctx)


def words_text(pairs) -> str:
    """The terms as text, word by word: the same reading as ``sp.sstr(as_expr(pairs))`` without
    building and printing a SymPy matrix sum (which took a quarter of a generic proof's time)."""
    if not pairs:
        return "0"
    out = []
    for coeff, word in pairs:
        body = "*".join(_key(word)) or "1"
        c = sp.sstr(coeff)
        out.append(body if c == "1" else f"-{body}" if c == "-1" else f"({c})*{body}")
    return " + ".join(out).replace("+ -", "- ")


def as_expr(pairs) -> sp.Expr:
    """A readable matrix expression for a list of terms."""
    if not pairs:
        return sp.Integer(0)
    return sp.MatAdd(*[c * sp.MatMul(*w) if w else c for c, w in pairs])


def elementwise_rules(expr, z, D, k: int | None):
    """Apply the declared elementwise rules (see module docstring) to ``expr``.

    ``k=None`` applies only the definition of the elementwise derivative (no homogeneity), so
    phi(z) stays an opaque vector ``phi(z)``.
    """
    zt = sp.Transpose(z).doit()
    zd = z.doit()
    opaque = sp.MatrixSymbol("phi(z)", *z.shape)

    def hadamard(h):
        args = list(h.args)
        derivs = [a for a in args if isinstance(a, ElementwiseApplyFunction) and a.function.expr.has(sp.Derivative)]
        if len(derivs) != 1 or len(args) != 2 or derivs[0].expr.doit() != zd:
            raise NotNormalisable(f"unexpected Hadamard product {h}")
        other = args[0] if args[1] is derivs[0] else args[1]
        return D * other

    def applied(f):
        if f.function.expr.has(sp.Derivative):
            return f
        arg = f.expr.doit()
        if arg == zd:
            return D * z / k if k else opaque
        if arg == zt:
            return zt * D / k if k else opaque.T
        raise NotNormalisable(f"activation applied to unexpected argument {f.expr}")

    expr = expr.replace(lambda e: isinstance(e, sp.HadamardProduct), hadamard)
    return expr.replace(lambda e: isinstance(e, ElementwiseApplyFunction), applied)


def diagonal_entry(pairs, e, D, d):
    """Entry (i, i) as e^T M e, pulling the diagonal D through e: e^T D = d e^T, D e = d e."""
    out = []
    et = sp.Transpose(e)
    for coeff, word in pairs:
        word = list(word)
        while word and word[0] == D:
            word.pop(0)
            coeff = coeff * d
        while word and word[-1] == D:
            word.pop()
            coeff = coeff * d
        out.append((coeff, (et, *word, e)))
    return out


def context(symmetric: Iterable = ()) -> _Ctx:
    return _Ctx(frozenset(symmetric))


def trace_terms(scalar: sp.Expr, ctx: _Ctx) -> list[tuple[sp.Expr, Word]]:
    """Expand a scalar that is a linear combination of traces into (coefficient, word) terms."""
    out = []
    for term in sp.Add.make_args(sp.expand(scalar)):
        traces = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Trace)]
        if len(traces) != 1:
            raise NotNormalisable(f"expected exactly one trace in term {term}")
        coeff = sp.Mul(*[f for f in sp.Mul.make_args(term) if not isinstance(f, sp.Trace)])
        out += [(coeff * c, w) for c, w in terms(traces[0].arg, ctx)]
    return out


def negate(pairs):
    return [(-c, w) for c, w in pairs]


def replace_adjacent(pairs, pattern: Word, replacement: Word, factor=1):
    """Replace each occurrence of the adjacent atoms ``pattern`` in every word by ``replacement``,
    multiplying the coefficient by ``factor`` once per occurrence (a declared rewrite rule)."""
    out = []
    n = len(pattern)
    for coeff, word in pairs:
        word, i = list(word), 0
        while i + n <= len(word):
            if tuple(word[i:i + n]) == tuple(pattern):
                word[i:i + n] = list(replacement)
                coeff = coeff * factor
                i += len(replacement)
            else:
                i += 1
        out.append((coeff, tuple(word)))
    return out
