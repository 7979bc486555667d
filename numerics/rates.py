"""Fitting rates with 95% confidence intervals.

* :func:`fit_linear_rate`: linear convergence, ``log e_t ~ slope * t + intercept`` over a stated
  window, by ``scipy.stats.linregress``; CI from the t distribution with n - 2 degrees of freedom.
* :func:`fit_linear_model`: ordinary least squares ``y ~ X beta`` with per-coefficient t CIs
  (used for DU-10's ``T ~ a log d + b log(1/eps) + c``).
* :func:`wilson_interval`, :func:`clopper_pearson_interval`: CI of a fraction (how often a bound
  holds over seeds); Clopper-Pearson is exact (never below the nominal coverage).
* :func:`mean_ci95`: t-interval of a mean over independent samples (runs, data sets).
* :func:`fit_limit_inverse_log`: extrapolate a decaying quantity to t = infinity by a line in
  x = 1/ln t (the asymptotic rule of JT-4).

References:
    ../shared/DESIGN.md, "Numerics conventions": rates from scipy.stats fits over a stated window,
    reported as value +/- 95% CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from verify.errors import BadInput

__all__ = [
    "RateFit",
    "LinearModelFit",
    "fit_linear_rate",
    "linear_phase_window",
    "fit_linear_model",
    "wilson_interval",
    "clopper_pearson_interval",
    "mean_ci95",
    "LimitFit",
    "fit_limit_inverse_log",
]


@dataclass(frozen=True)
class RateFit:
    """A fitted linear rate ``log e_t = slope * t + intercept`` on ``window``.

    Attributes:
        slope: fitted slope of the natural log of the error per step (negative = converging).
        slope_ci95: 95% CI of the slope (t distribution, n - 2 dof).
        intercept: fitted intercept.
        stderr: standard error of the slope.
        rvalue: correlation coefficient of the fit.
        n: number of points used.
        window: ``(start, stop)`` step indices, half-open, of the points used.
        factor: ``exp(slope)``, the per-step contraction factor of the error.
        factor_ci95: ``exp`` of the slope CI.
    """

    slope: float
    slope_ci95: tuple[float, float]
    intercept: float
    stderr: float
    rvalue: float
    n: int
    window: tuple[int, int]

    @property
    def factor(self) -> float:
        return float(np.exp(self.slope))

    @property
    def factor_ci95(self) -> tuple[float, float]:
        return (float(np.exp(self.slope_ci95[0])), float(np.exp(self.slope_ci95[1])))

    def to_json(self) -> dict:
        """Plain dict with value/ci95 pairs for the slope and the contraction factor."""
        return {"slope": {"value": self.slope, "ci95": list(self.slope_ci95)},
                "factor": {"value": self.factor, "ci95": list(self.factor_ci95)},
                "stderr": self.stderr, "rvalue": self.rvalue, "n": self.n,
                "window": list(self.window)}


def _t_quantile(confidence: float, dof: int) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2.0, dof))


def fit_linear_rate(errors: Sequence[float] | np.ndarray, *, window: tuple[int, int] | None = None,
                    steps: Sequence[int] | np.ndarray | None = None,
                    confidence: float = 0.95) -> RateFit:
    """Fit ``log errors[t] = slope * t + intercept`` over ``window`` with a t-distribution CI.

    Args:
        errors: positive error values ``e_t`` (one per recorded step).
        window: half-open index range ``(start, stop)`` into ``errors``; the whole sequence if None.
        steps: the step number of each entry of ``errors`` (default ``0, 1, 2, ...``), so that
            sub-sampled trajectories give a slope per step, not per record.
        confidence: CI level, 0.95 by default.

    Returns:
        The :class:`RateFit`.

    Raises:
        BadInput: fewer than 3 points in the window, or non-positive/non-finite errors in it.

    References:
        Du, Hu & Lee 2018, Thm 3.2 (linear convergence); scipy.stats.linregress.
    """
    e = np.asarray(errors, dtype=float)
    t = np.arange(e.size, dtype=float) if steps is None else np.asarray(steps, dtype=float)
    if t.shape != e.shape:
        raise BadInput(f"Got {t.size} steps for {e.size} errors; they must have the same length.")
    start, stop = (0, e.size) if window is None else window
    if not 0 <= start < stop <= e.size or stop - start < 3:
        raise BadInput(f"Got window {(start, stop)} for {e.size} errors; need 0 <= start < stop "
                       f"<= {e.size} and at least 3 points. Widen the window or record more steps.")
    ew, tw = e[start:stop], t[start:stop]
    if not np.all(np.isfinite(ew)) or np.any(ew <= 0):
        raise BadInput("Got non-positive or non-finite errors inside the fit window; the log-linear "
                       "fit needs positive finite errors. Choose a window inside the linear phase.")
    res = stats.linregress(tw, np.log(ew))
    n = stop - start
    if n > 2:
        half = _t_quantile(confidence, n - 2) * float(res.stderr)
    else:  # pragma: no cover - excluded above
        half = float("inf")
    return RateFit(slope=float(res.slope), slope_ci95=(float(res.slope) - half, float(res.slope) + half),
                   intercept=float(res.intercept), stderr=float(res.stderr),
                   rvalue=float(res.rvalue), n=n, window=(int(start), int(stop)))


def linear_phase_window(errors: Sequence[float] | np.ndarray, *, upper: float,
                        lower: float) -> tuple[int, int]:
    """The half-open index range from the first error ``<= upper`` to the first error ``< lower``.

    This is the stated window for a linear-rate fit: it skips the initial (escape) phase, where
    the error is above ``upper``, and stops before round-off, below ``lower``.

    Raises:
        BadInput: if ``lower >= upper`` or the errors never enter the window.
    """
    if not lower < upper:
        raise BadInput(f"Got lower={lower} >= upper={upper}; the window needs lower < upper.")
    e = np.asarray(errors, dtype=float)
    inside = np.flatnonzero(e <= upper)
    if inside.size == 0:
        raise BadInput(f"The error never reached {upper:g} (minimum {np.nanmin(e):.3g}); "
                       "run longer or raise the window's upper edge.")
    start = int(inside[0])
    below = np.flatnonzero(e[start:] < lower)
    stop = start + int(below[0]) if below.size else e.size
    return start, stop


@dataclass(frozen=True)
class LinearModelFit:
    """Ordinary least squares ``y = X @ coef`` with t-distribution CIs per coefficient.

    Attributes:
        names: coefficient names, in column order of X.
        coef: fitted coefficients.
        ci95: 95% CI per coefficient.
        stderr: standard error per coefficient.
        r2: coefficient of determination.
        n: number of observations.
        dof: residual degrees of freedom, n - p.
        residual_std: root mean square residual with dof correction.
    """

    names: tuple[str, ...]
    coef: tuple[float, ...]
    ci95: tuple[tuple[float, float], ...]
    stderr: tuple[float, ...]
    r2: float
    n: int
    dof: int
    residual_std: float

    def get(self, name: str) -> dict:
        """``{"value": coef, "ci95": [lo, hi]}`` for the named coefficient."""
        i = self.names.index(name)
        return {"value": self.coef[i], "ci95": list(self.ci95[i])}

    def to_json(self) -> dict:
        return {"coef": {n: self.get(n) for n in self.names}, "r2": self.r2, "n": self.n,
                "dof": self.dof, "residual_std": self.residual_std}


def fit_linear_model(X: np.ndarray, y: np.ndarray, names: Sequence[str], *,
                     confidence: float = 0.95) -> LinearModelFit:
    """OLS fit of ``y ~ X`` with CIs ``coef +/- t_{dof} * stderr`` (include a ones column for c).

    Raises:
        BadInput: shape mismatch, fewer observations than coefficients + 1, or rank-deficient X.

    References:
        Standard OLS: cov(beta) = s^2 (X^T X)^{-1}, s^2 = RSS / (n - p).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[1] != len(names):
        raise BadInput(f"Got X of shape {X.shape}, y of shape {y.shape} and {len(names)} names; "
                       "need X (n, p), y (n,) and p names.")
    n, p = X.shape
    if n <= p:
        raise BadInput(f"Got {n} observations for {p} coefficients; need more observations.")
    if np.linalg.matrix_rank(X) < p:
        raise BadInput("The design matrix is rank-deficient; vary every regressor in the sweep.")
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = n - p
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(cov))
    q = _t_quantile(confidence, dof)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return LinearModelFit(names=tuple(names), coef=tuple(float(c) for c in coef),
                          ci95=tuple((float(c - q * s), float(c + q * s)) for c, s in zip(coef, se)),
                          stderr=tuple(float(s) for s in se), r2=r2, n=n, dof=dof,
                          residual_std=float(np.sqrt(s2)))


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a fraction k/n (well behaved at k = 0 and k = n).

    References:
        Wilson, E. B. (1927), JASA 22, 209-212.
    """
    if n <= 0 or not 0 <= k <= n:
        raise BadInput(f"Got k={k}, n={n}; need 0 <= k <= n and n >= 1.")
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def clopper_pearson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a binomial fraction k/n.

    The lower end is 0 exactly when k = 0 and the upper end 1 exactly when k = n, so "lower end
    > 0" means "at least one success": the test of a claim that an event has positive probability.

    References:
        Clopper, C. J. & Pearson, E. S. (1934), Biometrika 26, 404-413 (beta quantiles).
    """
    if n <= 0 or not 0 <= k <= n:
        raise BadInput(f"Got k={k}, n={n}; need 0 <= k <= n and n >= 1.")
    a = (1.0 - confidence) / 2.0
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1.0 - a, k + 1, n - k))
    return lo, hi


def mean_ci95(values: Sequence[float] | np.ndarray) -> dict:
    """``{"value": mean, "ci95": [lo, hi], "n": n}``: t-interval (n - 1 dof) of the mean.

    Only meaningful when the values are independent samples (independent runs or data sets), not
    points of a deterministic grid.

    Raises:
        BadInput: fewer than 2 values, or non-finite values.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise BadInput(f"Got {x.size} values (finite: {bool(np.all(np.isfinite(x)))}); a CI of "
                       "the mean needs at least 2 finite samples.")
    m = float(x.mean())
    half = _t_quantile(0.95, x.size - 1) * float(x.std(ddof=1)) / float(np.sqrt(x.size))
    return {"value": m, "ci95": [m - half, m + half], "n": int(x.size)}


@dataclass(frozen=True)
class LimitFit:
    """OLS line ``y = limit + slope * x`` with ``x = 1/ln t`` over ``t in [t_from, t_to]``.

    Attributes:
        limit: the intercept, i.e. the line's value at ``t = infinity`` (x = 0).
        slope: the fitted slope in x.
        first, last: y at the first and last point of the window.
        rel_limit: ``limit / first``: the extrapolated limit as a fraction of the value at the
            start of the window (dimension-free, comparable across runs; <= 0 when the line
            reaches 0 at or before t = infinity, ~1 when y has levelled off).
        n: points used; t_from, t_to: the window.
    """

    limit: float
    slope: float
    first: float
    last: float
    rel_limit: float
    n: int
    t_from: float
    t_to: float

    def to_json(self) -> dict:
        return {"limit": self.limit, "slope": self.slope, "first": self.first, "last": self.last,
                "rel_limit": self.rel_limit, "n": self.n, "t window": [self.t_from, self.t_to]}


def fit_limit_inverse_log(t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                          t_from: float) -> LimitFit:
    """Extrapolate ``y(t)`` to ``t = infinity``: OLS of y on ``x = 1/ln t`` over ``t >= t_from``.

    Why this line: if ``y(t) = c + h(1/ln t)`` with h convex, increasing and h(0) = 0 - any decay
    to c at least as fast as ``1/ln t`` (``1/ln^2 t``, powers of t, exponentials) - then the line
    lies below h outside its two crossing points, so the intercept is <= c. A decay to 0 therefore
    gives an intercept <= 0, and a quantity that has levelled off at c > 0 an intercept ~c.

    Raises:
        BadInput: fewer than 3 points with ``t >= t_from > 1``, or non-finite values there.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.shape != y.shape:
        raise BadInput(f"Got {t.size} times for {y.size} values; they must have the same length.")
    sel = (t >= t_from) & (t > 1.0)
    if np.count_nonzero(sel) < 3 or not np.all(np.isfinite(y[sel])):
        raise BadInput(f"Got {np.count_nonzero(sel)} finite points with t >= {t_from:g} (and t > 1);"
                       " the extrapolation needs at least 3. Record more steps or widen the window.")
    ts, ys = t[sel], y[sel]
    res = stats.linregress(1.0 / np.log(ts), ys)
    first, last = float(ys[np.argmin(ts)]), float(ys[np.argmax(ts)])
    limit = float(res.intercept)
    return LimitFit(limit=limit, slope=float(res.slope), first=first, last=last,
                    rel_limit=limit / first if first != 0 else float("nan"), n=int(ts.size),
                    t_from=float(ts.min()), t_to=float(ts.max()))
