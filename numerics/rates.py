"""Fitting rates with 95% confidence intervals.

* :func:`fit_linear_rate`: linear convergence, ``log e_t ~ slope * t + intercept`` over a stated
  window, by ``scipy.stats.linregress``; CI from the t distribution with n - 2 degrees of freedom.
* :func:`fit_linear_model`: ordinary least squares ``y ~ X beta`` with per-coefficient t CIs
  (used for DU-10's ``T ~ a log d + b log(1/eps) + c``).
* :func:`wilson_interval`: CI of a fraction (how often a bound holds over seeds).

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
