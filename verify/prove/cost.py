"""What a job will cost, estimated before the work starts, and the one-line refusal over budget.

Issue 15: a power of a sum (``norm(W1)**16``, a formula ``z**64`` through three layers) has a small
unexpanded residual that passes an operation count and then explodes inside ``sp.expand``. The
estimates here are computed from the model's sizes and from the unexpanded residual, never by doing
the work:

* ``expanded_ops``: an upper estimate of the operations ``sp.expand`` (or the sparse polynomial ring)
  produces, by abstract interpretation of the expression tree: a sum adds term counts, a product
  multiplies them, ``(sum of T terms)**n`` has at most C(T+n-1, n) terms (the multinomial count); every
  count is also capped by the number of monomials C(s+d, d) of its degree d in its s symbols;
* ``forward_ops``: the multiply-adds of one forward pass (``LayerBase.cost`` of each layer), the unit of
  the randomized route's exact evaluation and of building the symbolic net;
* ``law_search_size``: the monomials C(D+k, k) of degree <= k in the D parameters that
  ``verify discover`` searches.

``refuse`` raises :class:`verify.errors.BudgetExceeded` (exit code 2, one line): what is too big, the
estimate against the limit, and what to do instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import sympy as sp

from verify.errors import BudgetExceeded
from verify.model import Model

__all__ = ["tree_ops", "expanded_ops", "expansion_estimate", "cpu_seconds", "OPS_PER_CPU_SECOND", "forward_ops", "symbol_count", "law_search_size", "refuse", "check_budget",
           "SATURATE", "DEFAULT_BUDGET_OPS"]

#: Estimates saturate here (floats; anything near it is far over every budget).
SATURATE = 1e300

#: Default budget of a job, in estimated operations (expanded residual terms x factors, or exact
#: multiply-adds of the randomized route). 2e5 expands in a few seconds on the reference 2-core machine.
DEFAULT_BUDGET_OPS = 200_000


def _log_comb(n: float, k: float) -> float:
    """log C(n, k) for real n >= k >= 0 (lgamma: exact enough for an estimate, never overflows)."""
    if k <= 0 or n <= k:
        return 0.0
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _cap(log_value: float) -> float:
    return SATURATE if log_value > 690 else math.exp(log_value)


def _comb(n: float, k: float) -> float:
    """C(n, k): exact for small arguments, through lgamma (saturating) for large ones."""
    if n <= 10_000 and k <= 10_000:
        return float(math.comb(round(n), round(k))) if round(n) >= round(k) >= 0 else 1.0
    return _cap(_log_comb(n, k))


def _monomials(s: float, d: float) -> float:
    """Number of monomials of degree <= d in s symbols: C(s + d, d)."""
    return _comb(s + d, d)


class _Estimator:
    """(terms, degree, symbols) of an expression after full expansion, upper estimates, memoised per
    node (SymPy shares sub-expressions, so a residual is a DAG much smaller than its tree)."""

    def __init__(self, n_symbols: int):
        self.n = max(n_symbols, 1)
        self.memo: dict[sp.Basic, tuple[float, float, float]] = {}
        self.opaque = 0.0  # work expanding inside functions and denominators (expand is deep)

    def visit(self, e: sp.Basic) -> tuple[float, float, float]:
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = self._visit(e)
        return hit

    def _visit(self, e: sp.Basic) -> tuple[float, float, float]:
        if e.is_Number or not e.free_symbols:
            return 1.0, 0.0, 0.0
        if e.is_Symbol:
            return 1.0, 1.0, 1.0
        if e.is_Add or e.is_Mul:
            parts = [self.visit(a) for a in e.args]
            s = min(sum(p[2] for p in parts), self.n)
            if e.is_Add:
                return min(sum(p[0] for p in parts), SATURATE), max(p[1] for p in parts), s
            d = sum(p[1] for p in parts)
            terms = math.prod(min(p[0], SATURATE) for p in parts) if all(p[0] < 1e150 for p in parts) else SATURATE
            return min(terms, _monomials(s, d)), d, s
        if e.is_Pow and e.exp.is_Integer and e.exp > 0:
            t, d, s = self.visit(e.base)
            n = int(e.exp)
            return min(_comb(t + n - 1, n), _monomials(s, d * n)), d * n, s
        # a function, a negative or fractional power: one atom after expansion, its insides expanded
        for a in e.args:
            t, d, _ = self.visit(a)
            self.opaque = min(self.opaque + t * (2 + 2 * d), SATURATE)
        return 1.0, 1.0, 1.0


def tree_ops(e: sp.Basic) -> int:
    """Operations of ``e`` written out as a tree: n - 1 per n-ary sum or product, 1 per power or function
    (the measure of ``sp.count_ops`` up to signs and divisions, which it spells out through ``fraction``
    at several times the cost: 24% of the ResNet block's symbolic certificate). Memoised per node."""
    memo: dict[sp.Basic, int] = {}

    def ops(x: sp.Basic) -> int:
        hit = memo.get(x)
        if hit is None:
            if not x.args:
                hit = 0
            else:
                own = len(x.args) - 1 if (x.is_Add or x.is_Mul) else 1
                hit = own + sum(ops(a) for a in x.args)
            memo[x] = hit
        return hit
    return ops(e)


def expanded_ops(exprs: Iterable[sp.Expr]) -> float:
    """Upper estimate of the operations of ``exprs`` after full expansion: terms x (2 x factors per
    term + 2: a power and a product per factor, the coefficient, the sum), summed over the expressions,
    plus the expansions inside functions and denominators."""
    return expansion_estimate(exprs)[0]


def expansion_estimate(exprs: Iterable[sp.Expr]) -> tuple[float, float]:
    """(``expanded_ops``, largest polynomial degree): the degree bounds the size of the exact numbers
    an evaluation at rational points produces (the witness search)."""
    # engine expressions only (never text): a plain number becomes a SymPy number, anything else is an error
    exprs = [e if isinstance(e, sp.Basic) else sp.Rational(e) for e in exprs]
    symbols: set[sp.Basic] = set()
    for e in exprs:
        symbols |= e.free_symbols
    est = _Estimator(len(symbols))
    total, degree = 0.0, 0.0
    for e in exprs:
        t, d, s = est.visit(e)
        total, degree = min(total + t * (2 + 2 * min(d, s)), SATURATE), max(degree, d)
    return min(total + est.opaque, SATURATE), degree


#: The symbolic route's CPU time is bounded too, at budget / this rate (3 s at the default budget): an
#: expansion the estimate got wrong (closed-form activations through several layers, exp of sums) stops
#: mid-way, undecided, saying what it reached. The catalog's slowest concrete proof takes 1.7 s of CPU.
OPS_PER_CPU_SECOND = 200_000 / 3


def cpu_seconds(budget_ops: float) -> float:
    """CPU seconds the symbolic route may use under ``budget_ops``."""
    return max(1.0, round(budget_ops / OPS_PER_CPU_SECOND, 1))


def forward_ops(model: Model) -> int:
    """Multiply-adds of one forward pass of ``model`` on one data point (``LayerBase.cost``)."""
    from verify.model.layers._base import block_cost
    return block_cost(model.layers, model.input_dim, {p.name: p.shape for p in model.params})


def symbol_count(model: Model) -> int:
    """Parameter entries D (the symbols of a concrete proof, per data point add the input's)."""
    return sum(math.prod(p.shape) if p.shape else 1 for p in model.params)


def law_search_size(model: Model, degree: int) -> float:
    """Monomials of degree <= ``degree`` in the D parameter entries (the unknowns of the law search)."""
    return _monomials(symbol_count(model), degree)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x < 1e7 else f"{x:.2g}"


def refuse(what: str, estimate: float, limit: float, advice: str) -> BudgetExceeded:
    """The one-line refusal: what is too big, the estimate against the limit, what to do instead."""
    return BudgetExceeded(f"{what}: estimated {_fmt(estimate)} operations, above the budget of {_fmt(limit)}; "
                          f"{advice}", estimate=estimate, limit=limit)


def check_budget(what: str, estimate: float, limit: float, advice: str) -> None:
    if estimate > limit:
        raise refuse(what, estimate, limit, advice)
