"""Gradient *flow* (not GD) on the diagonal linear network, plain and weight-normalised (WN-1).

The WN-1 theorem (Chou, Rauhut & Ward) is about gradient flow on polar coordinates; this module
integrates both flows with ``scipy.integrate.solve_ivp`` so that the audit tests the theorem's
dynamics, not a discretisation of ours (:mod:`wn_polar` keeps the GD versions).

* Plain flow on ``(u, v)``, ``w = u*u - v*v``: ``u' = -dL/du = -2 u*g``, ``v' = +2 v*g`` with
  ``g = A^T (A w - y) / m``. It conserves ``u_i v_i`` exactly (both sides scale by opposite
  exponentials), which we report as the integration error.
* WN flow, ``u = r_u a``, ``v = r_v b`` with unit ``a, b``: gradient flow on the polar coordinates,
  ``r_u' = -a^T dL/du``, ``a' = -gamma r_u (I - a a^T) dL/du`` (the weight-normalisation gradient
  ``dL/da = r_u (I - a a^T) dL/du`` of ``u = r_u a/||a||`` at ``||a|| = 1``, times the
  learning-rate ratio gamma), likewise for ``v``. ``a'`` is tangent to the sphere, so ``||a|| = 1``
  is conserved exactly; its drift is the reported integration error.
* Both start from ``u = v = alpha 1`` (``w(0) = 0``): ``r = alpha sqrt(d)``, ``a = b = 1/sqrt(d)``.

The WN flow is stiff at large scale (tangential rates ~ gamma r^2 times the curvature in u), so
the solver is LSODA (switches to BDF when stiff; Jacobian by finite differences, never written by
hand). Integration stops at the event ``L <= rtol_loss * L(0)`` or at ``t_max``.

References:
    Chou, Rauhut & Ward 2023, "Robust implicit regularization via weight normalization"
    (gradient flow on polar coordinates); ../shared/papers/CLAIMS.md WN-1; issue 14.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from verify.errors import DivergenceError

from verify.numerics.models.wn_polar import SparseProblem

__all__ = ["FlowRun", "flow_plain", "flow_polar", "FLOW_RTOL", "FLOW_ATOL"]

#: Solver tolerances: the recovery threshold is 5% and the loss target 1e-10 L(0) (residual
#: ~1e-5 relative), so 1e-9 relative accuracy of the state is ample; the conserved quantities
#: report what was actually achieved.
FLOW_RTOL = 1e-9
FLOW_ATOL = 1e-12


@dataclass(frozen=True)
class FlowRun:
    """Final ``w``; flow time at which ``L <= rtol_loss L(0)`` (None: not reached by ``t_max``);
    the largest drift of the flow's exact invariant; solver statistics."""

    w: np.ndarray
    time_to_fit: float | None
    t_end: float
    final_loss: float
    invariant_drift: float
    nfev: int
    wall_time_s: float


def _loss(P, w):
    r = P.A @ w - P.y
    return float(r @ r) / (2 * len(P.y))


def _grad_w(P, w):
    return P.A.T @ (P.A @ w - P.y) / len(P.y)


def _integrate(P, rhs, y0, weights, t_max, rtol_loss, invariant, label) -> FlowRun:
    L0 = _loss(P, np.zeros(P.A.shape[1]))
    tol = rtol_loss * L0

    def fitted(t, y):
        return _loss(P, weights(y)) - tol
    fitted.terminal = True
    fitted.direction = -1
    t0 = time.perf_counter()
    sol = solve_ivp(rhs, (0.0, t_max), y0, method="LSODA", rtol=FLOW_RTOL, atol=FLOW_ATOL,
                    events=fitted, dense_output=False)
    if sol.status == -1 or not np.all(np.isfinite(sol.y[:, -1])):
        raise DivergenceError(f"{label}: solve_ivp failed ({sol.message}); lower the scale alpha "
                              "or raise the tolerances.")
    yT = sol.y[:, -1]
    drift = float(max(invariant(y) for y in sol.y.T))
    hit = sol.t_events[0]
    return FlowRun(w=weights(yT), time_to_fit=float(hit[0]) if hit.size else None,
                   t_end=float(sol.t[-1]), final_loss=_loss(P, weights(yT)),
                   invariant_drift=drift, nfev=int(sol.nfev),
                   wall_time_s=time.perf_counter() - t0)


def flow_plain(P: SparseProblem, alpha: float, t_max: float, rtol_loss: float = 1e-10) -> FlowRun:
    """Plain gradient flow on ``(u, v)`` from ``u = v = alpha 1``; invariant ``u_i v_i = alpha^2``."""
    d = P.A.shape[1]

    def weights(y):
        return y[:d] * y[:d] - y[d:] * y[d:]

    def rhs(t, y):
        g = _grad_w(P, weights(y))
        return np.concatenate([-2 * y[:d] * g, 2 * y[d:] * g])

    def invariant(y):
        return float(np.max(np.abs(y[:d] * y[d:] - alpha * alpha))) / (alpha * alpha)

    return _integrate(P, rhs, np.full(2 * d, float(alpha)), weights, t_max, rtol_loss, invariant,
                      "plain gradient flow")


def flow_polar(P: SparseProblem, alpha: float, t_max: float, gamma: float = 1.0,
               rtol_loss: float = 1e-10) -> FlowRun:
    """Weight-normalised gradient flow on ``(r_u, a, r_v, b)``; invariant ``||a|| = ||b|| = 1``."""
    d = P.A.shape[1]

    def split(y):
        return y[0], y[1:d + 1], y[d + 1], y[d + 2:]

    def weights(y):
        ru, a, rv, b = split(y)
        return (ru * ru) * a * a - (rv * rv) * b * b

    def rhs(t, y):
        ru, a, rv, b = split(y)
        g = _grad_w(P, weights(y))
        gu, gv = 2 * ru * a * g, -2 * rv * b * g  # dL/du, dL/dv at u = ru a, v = rv b
        da = -gamma * ru * (gu - (gu @ a) * a)
        db = -gamma * rv * (gv - (gv @ b) * b)
        return np.concatenate([[-(gu @ a)], da, [-(gv @ b)], db])

    def invariant(y):
        _, a, _, b = split(y)
        return max(abs(float(a @ a) - 1.0), abs(float(b @ b) - 1.0))

    r0 = float(alpha) * math.sqrt(d)
    a0 = np.full(d, 1 / math.sqrt(d))
    y0 = np.concatenate([[r0], a0, [r0], a0])
    return _integrate(P, rhs, y0, weights, t_max, rtol_loss, invariant,
                      "weight-normalised gradient flow")
