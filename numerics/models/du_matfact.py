"""Gradient descent on asymmetric matrix factorisation, objectives (1)/(8) and (3).

f(U, V) = 1/2 ||U V^T - M*||_F^2, with gradients (2): grad_U = R V, grad_V = R^T U, R = U V^T - M*.
The balanced variant (3) adds 1/8 ||U^T U - V^T V||_F^2, whose gradients are
1/2 U (U^T U - V^T V) and -1/2 V (U^T U - V^T V) (differentiate 1/8 tr(D^2), D = U^T U - V^T V).

References:
    Du, Hu & Lee 2018, Sec 1 eq (1)-(3), Sec 3 eq (8)-(9), Thm 3.1 and footnote 11.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from verify.errors import BadInput, DivergenceError

__all__ = [
    "LowRankTarget",
    "low_rank_target",
    "mf_loss",
    "mf_grad",
    "gd_step",
    "balance_gap",
    "du6_increment",
    "theorem_3_1_step",
    "footnote_11_step",
    "check_divergence",
    "MFTrajectory",
    "run_mf_gd",
]


@dataclass(frozen=True)
class LowRankTarget:
    """M* = P diag(sigma) Q^T with orthonormal P (d1 x r), Q (d2 x r), sigma descending."""

    M: np.ndarray
    P: np.ndarray
    sigma: np.ndarray
    Q: np.ndarray


def low_rank_target(d1: int, d2: int, r: int, rng: np.random.Generator, *,
                    sigma: np.ndarray | None = None) -> LowRankTarget:
    """A rank-r target with Haar-random singular vectors and given singular values.

    Args:
        d1, d2, r: sizes, ``1 <= r <= min(d1, d2)``.
        rng: the generator (no global RNG).
        sigma: singular values; default ``linspace(1, 0.5, r)``: a condition number of 2 so the
            runs are not dominated by one tiny singular value (the paper states none).
    """
    if not (1 <= r <= min(d1, d2)):
        raise BadInput(f"Got d1={d1}, d2={d2}, r={r}; need 1 <= r <= min(d1, d2).")
    s = np.linspace(1.0, 0.5, r) if sigma is None else np.asarray(sigma, dtype=float)
    P, _ = np.linalg.qr(rng.standard_normal((d1, r)))
    Q, _ = np.linalg.qr(rng.standard_normal((d2, r)))
    return LowRankTarget(M=(P * s) @ Q.T, P=P, sigma=s, Q=Q)


def mf_loss(U: np.ndarray, V: np.ndarray, M: np.ndarray, *, regularized: bool = False) -> float:
    """f(U, V) = 1/2 ||U V^T - M||_F^2 (+ 1/8 ||U^T U - V^T V||_F^2 if ``regularized``)."""
    R = U @ V.T - M
    val = 0.5 * float(np.vdot(R, R))
    if regularized:
        D = balance_gap(U, V)
        val += 0.125 * float(np.vdot(D, D))
    return val


def mf_grad(U: np.ndarray, V: np.ndarray, M: np.ndarray, *,
            regularized: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(grad_U, grad_V, R)`` of objective (1) or, if ``regularized``, (3).

    References:
        Du, Hu & Lee 2018, eq (2) and (3).
    """
    R = U @ V.T - M
    gU = R @ V
    gV = R.T @ U
    if regularized:
        D = balance_gap(U, V)
        gU = gU + 0.5 * (U @ D)
        gV = gV - 0.5 * (V @ D)
    return gU, gV, R


def gd_step(U: np.ndarray, V: np.ndarray, M: np.ndarray, eta: float, *,
            regularized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One GD step (9): U <- U - eta R V, V <- V - eta R^T U (simultaneous update)."""
    gU, gV, _ = mf_grad(U, V, M, regularized=regularized)
    return U - eta * gU, V - eta * gV


def balance_gap(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """U^T U - V^T V (r x r), the quantity that gradient flow conserves (Thm 2.2)."""
    return U.T @ U - V.T @ V


def du6_increment(U: np.ndarray, V: np.ndarray, M: np.ndarray, eta: float) -> np.ndarray:
    """The DU-6 prediction for one GD step: eta^2 (V^T R^T R V - U^T R R^T U), R = U V^T - M.

    References:
        Catalog DU-6 [derived from eq (9)].
    """
    R = U @ V.T - M
    RV = R @ V
    RtU = R.T @ U
    return eta * eta * (RV.T @ RV - RtU.T @ RtU)


def theorem_3_1_step(t: int, *, eps: float, r: int, norm_M: float) -> float:
    """eta_t = sqrt(eps / r) / (100 (t + 1) ||M*||_F^{3/2}) (Thm 3.1)."""
    return math.sqrt(eps / r) / (100.0 * (t + 1) * norm_M ** 1.5)


def footnote_11_step(t: int, *, eta0: float, delta: float) -> float:
    """eta_t = eta0 (t + 1)^{-(1/2 + delta)}, delta in (0, 1/2] (Thm 3.1, footnote 11)."""
    return eta0 * (t + 1) ** (-(0.5 + delta))


def check_divergence(loss: float, loss0: float, *, eta: float, t: int,
                     blowup: float = 1e6) -> None:
    """Raise :class:`DivergenceError` if ``loss`` is not finite or exceeds ``blowup * loss0``.

    ``blowup = 1e6`` (six orders of magnitude): GD on these objectives with a stable step never
    raises the loss above its start by more than round-off, so anything this large is a blow-up.
    The message names the step size to lower and suggests a value 4x smaller.
    """
    if not math.isfinite(loss) or loss > blowup * max(loss0, 1e-300):
        raise DivergenceError(
            f"GD diverged at iteration {t}: loss {loss:.3g} (initial {loss0:.3g}) with step size "
            f"eta={eta:.3g}. Lower the step size eta (try eta={eta / 4:.3g}); a constant step must "
            "stay below the stability limit 2/L of the Hessian (about 1/sigma_1 here).")


@dataclass(frozen=True)
class MFTrajectory:
    """Per-iterate records of one GD run on matrix factorisation (index t = 0..n_steps).

    Attributes:
        loss: f(U_t, V_t) of the objective being run.
        error: ||U_t V_t^T - M*||_F.
        gap: ||U_t^T U_t - V_t^T V_t||_F.
        normU2, normV2: ||U_t||_F^2, ||V_t||_F^2.
        eta: step size used at step t (last entry repeated).
        U, V: final iterate.
    """

    loss: np.ndarray
    error: np.ndarray
    gap: np.ndarray
    normU2: np.ndarray
    normV2: np.ndarray
    eta: np.ndarray
    U: np.ndarray
    V: np.ndarray


def run_mf_gd(M: np.ndarray, U0: np.ndarray, V0: np.ndarray, step: Callable[[int], float],
              n_steps: int, *, regularized: bool = False, stop_error: float | None = None,
              blowup: float = 1e6) -> MFTrajectory:
    """Run GD (9) (or on (3)) for ``n_steps`` steps, recording every iterate.

    Args:
        M: target M*.
        U0, V0: initial factors.
        step: the schedule ``t -> eta_t``.
        n_steps: maximum number of steps.
        regularized: run objective (3) instead of (1).
        stop_error: stop early once ``||U V^T - M*||_F <= stop_error``.
        blowup: see :func:`check_divergence`.

    Raises:
        DivergenceError: NaN/inf or loss above ``blowup`` times its start.

    References:
        Du, Hu & Lee 2018, eq (9).
    """
    U, V = U0.copy(), V0.copy()
    n = n_steps + 1
    rec = {k: np.empty(n) for k in ("loss", "error", "gap", "normU2", "normV2", "eta")}
    # Overflow/invalid warnings are silenced because divergence is detected explicitly below and
    # reported as a DivergenceError that names the step size; a warning would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        last = _gd_loop(M, U, V, step, n, regularized, stop_error, blowup, rec)
    U, V = rec.pop("_U"), rec.pop("_V")
    return MFTrajectory(**{k: v[: last + 1].copy() for k, v in rec.items()}, U=U, V=V)


def _gd_loop(M, U, V, step, n, regularized, stop_error, blowup, rec) -> int:
    loss0 = None
    last = n - 1
    for t in range(n):
        gU, gV, R = mf_grad(U, V, M, regularized=regularized)
        D = balance_gap(U, V)
        err2 = float(np.vdot(R, R))
        gap2 = float(np.vdot(D, D))
        loss = 0.5 * err2 + (0.125 * gap2 if regularized else 0.0)
        eta = step(t)
        if loss0 is None:
            loss0 = loss
        check_divergence(loss, loss0, eta=eta, t=t, blowup=blowup)
        rec["loss"][t] = loss
        rec["error"][t] = math.sqrt(err2)
        rec["gap"][t] = math.sqrt(gap2)
        rec["normU2"][t] = float(np.vdot(U, U))
        rec["normV2"][t] = float(np.vdot(V, V))
        rec["eta"][t] = eta
        if t == n - 1 or (stop_error is not None and rec["error"][t] <= stop_error):
            last = t
            break
        U = U - eta * gU
        V = V - eta * gV
    rec["_U"], rec["_V"] = U, V
    return last
