"""Which batches a concrete GD proof covers.

Under gradient flow dQ/dt is linear in the loss L, so a proof for one data point covers every data
set. One GD step is not linear: theta -> theta - eta*G with G = g_1 + ... + g_N, the sum of the
per-point gradients g_p of a batch of N points, and Delta Q = Q(theta - eta G) - Q(theta) is a
polynomial of degree deg(Q) in G. A single point's gradient has structure a batch gradient lacks
(on a linear layer it has rank one), so a wrong increment such as eta^2 det(G_W1) I can vanish on
every one-point batch and not on two points.

The argument that a proof on n points covers every batch (polarization). Let
R(theta, G) = Q(theta - eta G) - Q(theta) - claimed(theta, G) be the residual with G as free
symbols. ``gd_coverage`` checks with SymPy that R is a polynomial in G whose coefficients depend
only on theta, eta (and lambda): then R depends on the samples only through their sum, and

    R(theta, g_1 + ... + g_N) = sum over subsets U of {1..N} of M(U),
    M(U) = sum over V subset U of (-1)^(|U| - |V|) R(theta, sum_{p in V} g_p)     (Moebius inversion),

where M(U) = 0 when |U| > k = deg_G R (each monomial of degree k in the sum involves at most k
distinct samples, and M(U) keeps exactly the monomials that involve every sample of U). Each
remaining term is R on a batch of at most k points. A proof on n >= k points has independent
inputs, loss derivatives and activation regions per point and holds for every value of them,
loss derivatives 0 included (then g_p = 0), so it covers every batch of at most n points; hence
R = 0 for every N. If R is not such a polynomial, the proof covers batches of at most n points only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from verify.prove.cost import check_budget, expanded_ops
from verify.prove.dynamics import ETA, LAMBDA

__all__ = ["BatchCoverage", "gd_coverage", "GD_MIN_POINTS", "GD_MAX_DEFAULT_POINTS", "gradient_placeholders"]

#: A GD proof uses at least this many data points (a one-point gradient is special, see above).
GD_MIN_POINTS = 2
#: The default number of points never exceeds this (a quantity of degree > 4 then gets a proof
#: whose hypotheses say it covers batches of at most 4 points).
GD_MAX_DEFAULT_POINTS = 4


@dataclass(frozen=True)
class BatchCoverage:
    """deg_G of the residual (``None`` when it is not a polynomial in G with coefficients in
    theta, eta, lambda only; ``reason`` says why)."""

    degree: int | None
    reason: str = ""

    def default_points(self) -> int:
        if self.degree is None:
            return GD_MIN_POINTS
        return min(max(GD_MIN_POINTS, self.degree), GD_MAX_DEFAULT_POINTS)

    def hypothesis(self, n: int) -> str:
        """Exactly which batches a proof on ``n`` points covers, and why."""
        step = ("one GD step theta -> theta - eta*G on a batch of N points, G = g_1 + ... + g_N "
                "(g_p: gradient of point p's loss); the proof uses n = "
                f"{n} points, each with its own input, loss derivatives and activation regions")
        if self.degree is not None and self.degree <= n:
            return (f"{step}. With G as free symbols the residual R(theta, G) = Q(theta - eta G) - Q(theta) "
                    f"- claimed(theta, G) is a polynomial of degree {self.degree} in G with coefficients in "
                    "theta and eta only (checked by SymPy), so it depends on the points only through their sum. "
                    f"Polarization: R(g_1 + ... + g_N) = sum over subsets U of M(U) with M(U) = sum over V in U of "
                    "(-1)^(|U|-|V|) R(sum_{p in V} g_p), and M(U) = 0 when |U| > "
                    f"{self.degree} (a monomial of degree {self.degree} involves at most {_points(self.degree)}); "
                    f"the proof covers every batch of at most {n} points (a point with loss derivatives 0 has "
                    "g_p = 0), hence every batch size N and every data set, mean or sum loss alike")
        why = (self.reason if self.degree is None else
               f"the residual has degree {self.degree} in G, more than the {n} points used")
        return (f"{step}. This covers every batch of at most {n} points (a point with loss derivatives 0 "
                f"drops out), NOT larger batches: {why}")


def _points(n: int) -> str:
    return f"{n} point" + ("" if n == 1 else "s")


def gradient_placeholders(params: Mapping[str, sp.Matrix]) -> dict[str, sp.Matrix]:
    """One free symbol per gradient entry, ``G_<param>[i,j]`` (same shapes as the parameters)."""
    return {name: M.applyfunc(lambda s: sp.Dummy(f"G_{s.name}", real=True)) for name, M in params.items()}


def gd_coverage(quantity: Sequence[tuple[str, sp.Expr]], params: Mapping[str, sp.Matrix],
                claimed: Callable[[Mapping[str, sp.Matrix]], Sequence[sp.Expr]], decay=0,
                budget_ops: float = float("inf")) -> BatchCoverage:
    """deg_G of R(theta, G) = Q(theta - eta (G + decay theta)) - Q(theta) - claimed(G), G free.

    ``claimed(G)`` gives the claimed increment's entries (aligned with ``quantity``) for
    gradient matrices ``G``; ``params`` are the parameter matrices the quantity was built from.
    """
    G = gradient_placeholders(params)
    step = {t: t - ETA * (g + decay * t) for name, M in params.items() for t, g in zip(M, G[name])}
    gs = [g for M in G.values() for g in M]
    allowed = set(step) | set(gs) | {ETA, LAMBDA}
    degree = 0
    rs = [(label, q.xreplace(step) - q - c) for (label, q), c in zip(quantity, claimed(G))]
    # expanded below to read the degree in G: refused first when that expansion is over budget (issue 15)
    check_budget("the GD step's residual Q(theta - eta G) - Q(theta), expanded", expanded_ops(r for _, r in rs),
                 budget_ops, "use a lower power in the quantity, a smaller model, or raise --budget")
    for label, r in rs:
        extra = r.free_symbols - allowed
        if extra:
            names = ", ".join(sorted(str(s) for s in extra)[:4])
            return BatchCoverage(None, f"the claimed increment of {label or 'Q'} uses {names}, not only the "
                                       "parameters, their gradients and eta")
        if not r.is_polynomial(*gs):
            return BatchCoverage(None, f"the residual of {label or 'Q'} is not a polynomial in the gradient")
        poly = sp.Poly(sp.expand(r), *gs) if r.free_symbols & set(gs) else None
        if poly is not None and not poly.is_zero:
            degree = max(degree, int(poly.total_degree()))
    return BatchCoverage(degree)
