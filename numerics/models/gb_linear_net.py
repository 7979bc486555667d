"""Two-layer linear networks under discrete GD (Gidel, Bach & Lacoste-Julien): the model.

Least squares in population form: with ``Sx = X^T X / n`` (d_in, d_in) and
``Syx = Y^T X / n`` (d_out, d_in), the loss of the end-to-end map ``W = W2 W1`` is
``L(W) = 1/2 tr(W Sx W^T) - tr(W Sxy) + const``, its gradient ``G = W Sx - Syx``, and GD is
``W1 <- W1 - eta W2^T G``, ``W2 <- W2 - eta G W1^T``. The one-layer model runs GD on ``W``
directly with the same gradient ``G``.

References:
    Gidel, Bach & Lacoste-Julien 2019, "Implicit regularization of discrete gradient dynamics in
    linear neural networks", NeurIPS (Sec 3, the mode recursion; Thm 1, incremental learning);
    ../shared/papers/CLAIMS.md GB-1, GB-2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from verify.errors import BadInput, DivergenceError

__all__ = [
    "GBProblem",
    "gb_problem",
    "rrr_solution",
    "mode_values",
    "learning_time_formula",
    "gd_two_layer",
    "gd_one_layer",
    "aligned_init",
    "random_init",
]


@dataclass(frozen=True)
class GBProblem:
    """A regression problem with aligned second moments.

    ``Sx = sum lam_i u_i u_i^T`` and ``Syx = sum s_i v_i u_i^T`` (i.e. ``Sxy = sum s_i u_i v_i^T``)
    with ``U`` (d_in, k) and ``V`` (d_out, k) orthonormal columns. ``X, Y`` are data realising
    them exactly (so the GD below is GD on a real data set, in population form).
    """

    X: np.ndarray
    Y: np.ndarray
    Sx: np.ndarray
    Syx: np.ndarray
    s: np.ndarray
    lam: np.ndarray
    U: np.ndarray
    V: np.ndarray


def _orthonormal(rng, d, k):
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return q * np.sign(np.diag(r))


def gb_problem(s: Sequence[float], lam: Sequence[float] | None, d_in: int, d_out: int, n: int,
               rng: np.random.Generator) -> GBProblem:
    """Data with ``X^T X / n = sum lam_i u_i u_i^T (+ identity off span U)`` and ``Syx`` as above.

    ``lam=None`` means whitened inputs (``X^T X / n = I`` exactly). ``X = sqrt(n) Q diag(...)``
    with ``Q`` having orthonormal columns, so the moments hold to round-off, not just in
    expectation.
    """
    s = np.asarray(s, float)
    k = s.size
    lam = np.ones(k) if lam is None else np.asarray(lam, float)
    if k > min(d_in, d_out) or n < d_in or lam.shape != (k,) or np.any(lam <= 0):
        raise BadInput(f"Got {k} modes, lam={lam}, d_in={d_in}, d_out={d_out}, n={n}; need "
                       "k <= min(d_in, d_out), n >= d_in and k positive variances.")
    U = _orthonormal(rng, d_in, d_in)
    V = _orthonormal(rng, d_out, k)
    lam_full = np.concatenate([lam, np.ones(d_in - k)])
    Q = _orthonormal(rng, n, d_in)
    X = math.sqrt(n) * Q @ np.diag(np.sqrt(lam_full)) @ U.T  # X^T X / n = U diag(lam) U^T
    Sx = U @ np.diag(lam_full) @ U.T
    Syx = V @ np.diag(s) @ U[:, :k].T
    B = np.linalg.solve(Sx, Syx.T)  # Y = X B gives Y^T X / n = B^T Sx = Syx
    Y = X @ B
    return GBProblem(X=X, Y=Y, Sx=X.T @ X / n, Syx=Y.T @ X / n, s=s, lam=lam, U=U[:, :k], V=V)


def rrr_solution(Sx: np.ndarray, Syx: np.ndarray, rank: int) -> np.ndarray:
    """Reduced-rank regression ``argmin_{rank W <= r} 1/2 tr(W Sx W^T) - tr(W Syx^T)``, closed form.

    ``W_r = [Syx Sx^{-1/2}]_r Sx^{-1/2}`` with ``[.]_r`` the truncated SVD (Eckart-Young after the
    change of variables ``W -> W Sx^{1/2}``). For whitened inputs it is the truncated SVD of Syx.

    References:
        Izenman 1975, "Reduced-rank regression for the multivariate linear model".
    """
    if rank < 0:
        raise BadInput(f"Got rank={rank}; need rank >= 0.")
    ev, Q = np.linalg.eigh(Sx)
    if ev.min() <= 0:
        raise BadInput("Got a singular input covariance; reduced-rank regression needs Sx > 0.")
    half_inv = Q @ np.diag(ev ** -0.5) @ Q.T
    M = Syx @ half_inv
    u, sv, vt = np.linalg.svd(M, full_matrices=False)
    r = min(rank, sv.size)
    return (u[:, :r] * sv[:r]) @ vt[:r] @ half_inv


def mode_values(W: np.ndarray, P: GBProblem) -> np.ndarray:
    """``w_i = v_i^T W u_i`` for every mode (the scalar the GB-2 recursion describes)."""
    return np.einsum("oi,oj,ji->i", P.V, W, P.U)


def learning_time_formula(s: np.ndarray, lam: np.ndarray, delta: float, eta: float) -> np.ndarray:
    """GB-2: ``t_i ~ (delta + 1/2 ln(s_i / (2 lam_i))) / ln(1 + eta s_i)`` (CLAIMS.md, [derived]).

    With each layer's mode started at ``e^{-delta}`` (``w_i(0) = e^{-2 delta}``) and growth factor
    ``(1 + eta s_i)^2`` per step while ``w_i << s_i/lam_i``, it is the step at which ``w_i``
    reaches half its limit ``s_i / lam_i``.
    """
    s = np.asarray(s, float)
    lam = np.asarray(lam, float)
    return (delta + 0.5 * np.log(s / (2 * lam))) / np.log1p(eta * s)


def aligned_init(P: GBProblem, width: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Balanced, aligned init of scale ``e^{-delta}``: ``W1 = e^{-delta} sum e_i u_i^T``,
    ``W2 = e^{-delta} sum v_i e_i^T``."""
    k = P.s.size
    if width < k:
        raise BadInput(f"Got width={width} for {k} modes; need width >= {k}.")
    E = np.eye(width)[:, :k]
    return math.exp(-delta) * E @ P.U.T, math.exp(-delta) * P.V @ E.T


def random_init(d_in: int, width: int, d_out: int, delta: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian init with entries of size ``e^{-delta} / sqrt(fan)`` (vanishing for large delta)."""
    return (math.exp(-delta) * rng.standard_normal((width, d_in)) / math.sqrt(d_in),
            math.exp(-delta) * rng.standard_normal((d_out, width)) / math.sqrt(width))


def _check(W, t, eta):
    if not np.all(np.isfinite(W)) or np.abs(W).max() > 1e12:
        raise DivergenceError(f"GD diverged at step {t} with eta={eta}; lower eta below "
                              "1/s_1 (GB-2's stability condition).")


def gd_two_layer(W1, W2, Sx, Syx, eta: float, steps: int, every: int = 1):
    """GD on ``(W1, W2)``; returns the recorded steps and end-to-end maps ``W2 W1``."""
    W1, W2 = W1.copy(), W2.copy()
    ts, Ws = [], []
    for t in range(steps + 1):
        W = W2 @ W1
        if t % every == 0 or t == steps:
            ts.append(t)
            Ws.append(W)
        if t == steps:
            break
        G = W @ Sx - Syx
        W1, W2 = W1 - eta * W2.T @ G, W2 - eta * G @ W1.T
        if t % 64 == 0:
            _check(W2, t, eta)
    return np.array(ts), np.array(Ws)


def gd_one_layer(W, Sx, Syx, eta: float, steps: int, every: int = 1):
    """GD on the one-layer linear model ``W`` (same loss, same step)."""
    W = W.copy()
    ts, Ws = [], []
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            ts.append(t)
            Ws.append(W.copy())
        if t == steps:
            break
        W = W - eta * (W @ Sx - Syx)
    _check(W, steps, eta)
    return np.array(ts), np.array(Ws)
