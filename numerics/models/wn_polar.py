"""Diagonal linear networks for sparse recovery: plain GD and GD on polar coordinates (WN).

Model: ``w = u*u - v*v`` (elementwise), measurements ``y = A w*`` with Gaussian ``A`` (m, d),
``m < d``, sparse ``w*``; loss ``L = ||A w - y||^2 / (2m)``.

* Plain GD on ``(u, v)`` from ``u = v = alpha 1`` (so ``w(0) = 0``).
* Weight-normalised GD: ``u = r_u a``, ``v = r_v b`` with radii ``r`` and unit directions ``a, b``.
  The radius takes a gradient step; the direction takes a Riemannian gradient step on the sphere
  (tangent projection of ``dL/da = r_u dL/du``, times a learning-rate ratio ``gamma``) followed by
  renormalisation. The initial point is the same as plain GD: ``r = alpha sqrt(d)``,
  ``a = b = 1/sqrt(d)``.
* Step: ``eta = 0.1 / (4 ||A^T A / m||_2 max(alpha^2, ||w*||_inf))`` for both methods (a fraction of
  the inverse curvature of the loss in ``u`` at the larger of the initial and final scales).

The l1-minimal interpolator ``argmin ||w||_1 s.t. A w = y`` is computed independently by
``scipy.optimize.linprog`` (split ``w = p - q``, ``p, q >= 0``).

References:
    Chou, Rauhut & Ward 2023, "Robust implicit regularization via weight normalization"
    (diagonal linear networks, polar coordinates, learning-rate ratio); Woodworth et al. 2020
    (plain GD: sparse bias only at small initialisation); ../shared/papers/CLAIMS.md WN-1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from verify.errors import BadInput, DivergenceError

__all__ = ["SparseProblem", "sparse_problem", "l1_min_interpolator", "step_size", "WNRun",
           "gd_plain", "gd_polar"]


@dataclass(frozen=True)
class SparseProblem:
    """Measurements ``y = A w_star`` with ``A`` (m, d) standard Gaussian."""

    A: np.ndarray
    y: np.ndarray
    w_star: np.ndarray


def sparse_problem(d: int, m: int, k: int, rng: np.random.Generator) -> SparseProblem:
    """``k``-sparse ``w*`` with random signs and magnitudes in [0.5, 1.5]; Gaussian ``A``."""
    if not 0 < k <= d or not 0 < m:
        raise BadInput(f"Got d={d}, m={m}, k={k}; need 0 < k <= d and m > 0.")
    A = rng.standard_normal((m, d))
    w = np.zeros(d)
    idx = rng.choice(d, k, replace=False)
    w[idx] = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 1.5, k)
    return SparseProblem(A=A, y=A @ w, w_star=w)


def l1_min_interpolator(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``argmin ||w||_1 s.t. A w = y`` by linear programming (HiGHS), ``w = p - q``, ``p, q >= 0``.

    Raises:
        BadInput: the system has no solution (the LP is infeasible).
    """
    m, d = A.shape
    res = optimize.linprog(np.ones(2 * d), A_eq=np.hstack([A, -A]), b_eq=y,
                           bounds=[(0, None)] * (2 * d), method="highs")
    if res.status != 0:
        raise BadInput(f"The l1 LP failed ({res.message}); is A w = y solvable?")
    return res.x[:d] - res.x[d:]


def step_size(P: SparseProblem, alpha: float) -> float:
    """The step used for both methods (module docstring)."""
    H = float(np.linalg.norm(P.A.T @ P.A / len(P.y), 2))
    return 0.1 / (4 * H * max(alpha ** 2, float(np.abs(P.w_star).max())))


@dataclass(frozen=True)
class WNRun:
    """Final ``w``, iterations to reach the loss tolerance (None if not reached), loss trace."""

    w: np.ndarray
    iterations: int | None
    loss: np.ndarray
    trace_t: np.ndarray
    wall_time_s: float


def _loss(P, w):
    r = P.A @ w - P.y
    return float(r @ r) / (2 * len(P.y))


def _trace_points(maxit):
    if maxit < 1:
        return {0}
    return set(np.unique(np.geomspace(1, maxit, 60).astype(int)).tolist()) | {0}


def _descend(P: SparseProblem, maxit: int, rtol: float, eta: float, label: str, weights, step) -> WNRun:
    """The loop both methods share: ``weights()`` gives the current w, ``step(w)`` moves the
    state one GD step; stops when ``L <= rtol * L(0)``, keeps a log-spaced loss trace."""
    tol = rtol * _loss(P, np.zeros(P.A.shape[1]))
    pts, tr, lv = _trace_points(maxit), [], []
    t0 = time.perf_counter()
    it = None
    for t in range(maxit + 1):
        w = weights()
        L = _loss(P, w)
        if t in pts or L <= tol or t == maxit or not math.isfinite(L):  # last point always kept
            tr.append(t)
            lv.append(L)
        if not math.isfinite(L):
            raise DivergenceError(f"{label} diverged at step {t} (eta={eta:.3g}); lower eta.")
        if L <= tol:
            it = t
            break
        if t == maxit:
            break
        step(w)
    return WNRun(w=w, iterations=it, loss=np.array(lv), trace_t=np.array(tr),
                 wall_time_s=time.perf_counter() - t0)


def gd_plain(P: SparseProblem, alpha: float, maxit: int, rtol: float = 1e-10) -> WNRun:
    """Plain GD on ``(u, v)``; stops when ``L <= rtol * L(0)``."""
    d = P.A.shape[1]
    st = {"u": np.full(d, float(alpha))}
    st["v"] = st["u"].copy()
    eta = step_size(P, alpha)

    def step(w):
        g = P.A.T @ (P.A @ w - P.y) / len(P.y)
        st["u"], st["v"] = st["u"] - eta * 2 * st["u"] * g, st["v"] + eta * 2 * st["v"] * g
    return _descend(P, maxit, rtol, eta, "Plain GD", lambda: st["u"] * st["u"] - st["v"] * st["v"], step)


def gd_polar(P: SparseProblem, alpha: float, maxit: int, gamma: float = 1.0,
             rtol: float = 1e-10) -> WNRun:
    """GD on polar coordinates ``u = r_u a``, ``v = r_v b`` (unit ``a, b``), direction steps
    ``gamma`` times the radius step; stops when ``L <= rtol * L(0)``."""
    d = P.A.shape[1]
    st = {"ru": float(alpha) * math.sqrt(d), "a": np.full(d, 1 / math.sqrt(d))}
    st["rv"], st["b"] = st["ru"], st["a"].copy()
    eta = step_size(P, alpha)

    def weights():
        u, v = st["ru"] * st["a"], st["rv"] * st["b"]
        return u * u - v * v

    def step(w):
        ru, rv, a, b = st["ru"], st["rv"], st["a"], st["b"]
        u, v = ru * a, rv * b
        g = P.A.T @ (P.A @ w - P.y) / len(P.y)
        gu, gv = 2 * u * g, -2 * v * g
        # dL/da = r_u dL/du; its tangent part is the Riemannian gradient on the unit sphere
        da = ru * (gu - (gu @ a) * a)
        db = rv * (gv - (gv @ b) * b)
        st["ru"], st["rv"] = ru - eta * (gu @ a), rv - eta * (gv @ b)
        a = a - eta * gamma * da
        a /= np.linalg.norm(a)
        b = b - eta * gamma * db
        b /= np.linalg.norm(b)
        st["a"], st["b"] = a, b
    return _descend(P, maxit, rtol, eta, "Polar GD", weights, step)
