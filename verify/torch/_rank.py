"""The round-0 null space of a Jacobian for ``verify.torch.discover``: three routes, each certifying
its rank decision or handing it to the next.

J (rows scaled to norm 1) has D columns; N = orthonormal rows spanning its numerical null space. The
decision is certified on two sides, both reported as the gap kept / dropped:

* dropped: ||J N^T||_2, measured in J itself (not squared): by Courant-Fischer sigma_{r+1}(J) <= it;
* kept: sigma_r(J) (SVD, eigh) or a lower bound of it (route 1, estimated from above, see there).

Routes, from D >= ``GRAM_MIN`` columns and at least as many rows (the Gram routes), else the SVD:

1. ``pivoted_null_space``: G = J^T J (one SYRK), LAPACK's pivoted Cholesky (dpstrf) stops at rank r
   when every remaining pivot is <= (10 res)^2, res = sqrt(16 eps) sigma_max (the Gram's resolution:
   its entries carry errors of about eps sigma_max^2). N spans P [-R11^{-1} R12; I], orthonormalised.
   kept: min ||J v|| / ||v|| over v orthogonal to N, which is <= sigma_r(J) (Courant-Fischer) and
   >= the smallest eigenvalue of a pencil built from R11 and R11^{-1} R12 (``_kept_estimate``:
   triangular solves only). Not sigma_min(R11) = sigma_min of the r pivoted columns, also a lower
   bound of sigma_r(J) but a much weaker one: 57 res against 321 res at D = 9600 (measured).
   Decides when kept > 100 res and dropped <= 10 res (a 10x margin each side of the threshold).
   Cost ~ D^3 / 2 multiply-adds, all level 3 (the eigh route's tridiagonal reduction is half level 2).
2. ``gram_null_space``: the same G, its eigenpairs below (1000 res)^2 (LAPACK's MRRR on a subset);
   kept = the smallest sigma above 100 res, nothing between 10 res and 100 res.
3. ``svd_null_space``: the SVD of J, threshold RANK_TOL sigma_max (the engine's ``lie_rank.RANK_TOL``).

What a Gram route keeps the SVD keeps too (threshold ~10 res above RANK_TOL sigma_max), so its rank is
<= the SVD's and its count >= it: the count stays an upper bound. The kept estimate of route 1 is a
Ritz value, which converges from above; its iteration runs until two successive values agree to 1e-3
(else the route does not decide; 3 steps at D = 9600), and the 100 res requirement leaves a 10x margin
above the drop threshold.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import scipy.linalg
import scipy.linalg.blas as blas
import scipy.linalg.lapack as lapack
import torch

from verify._infra.pools import one_blas_thread

__all__ = ["RANK_TOL", "GRAM_MIN", "EPS", "null_space", "pivoted_null_space", "gram_null_space", "svd_null_space",
           "one_thread"]

#: Relative singular-value threshold of the SVD route (rows scaled to the size of their terms); the engine's
#: ``lie_rank.RANK_TOL``, whose measured margins hold here too (gaps reported per run).
RANK_TOL = 1e-9
#: Columns from which the Gram routes are tried first.
GRAM_MIN = 2000
EPS = float(torch.finfo(torch.float64).eps)
#: Inverse subspace iteration of the kept estimate: block size, most steps, agreement of two Ritz values.
SMIN_BLOCK, SMIN_STEPS, SMIN_RTOL = 8, 60, 1e-3


@contextlib.contextmanager
def one_thread():
    """torch and every OpenBLAS on one thread inside the block. Why: on the 2-core machine under load the
    BLAS threads contend; a reduced SVD of a 2790 x 2700 Jacobian took 96 s with 2 threads and 16 s with
    1, eigh 51 s against 9 s (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with one_blas_thread():
            yield
    finally:
        torch.set_num_threads(before)


def _unit_rows(J: torch.Tensor) -> torch.Tensor:
    norms = torch.linalg.vector_norm(J, dim=1)
    return J[norms > 0] / norms[norms > 0, None]


def _gap(kept: float, dropped: float) -> float:
    return kept / dropped if dropped > 0 else math.inf


def _sigma_max(G: np.ndarray) -> float:
    """sigma_max(J) from G = J^T J by power iteration (Rayleigh quotients, from below), until two agree
    to 1e-4 (~10 steps on these Jacobians; each step reads all of G), with a 5% margin on the estimate."""
    v: np.ndarray = np.random.default_rng(0).standard_normal((G.shape[0],))
    v = v / float(np.linalg.norm(v))
    lam = 0.0
    for _ in range(100):
        w = G @ v
        lam, last = float(v @ w), lam
        n = float(np.linalg.norm(w))
        if n == 0:
            return 0.0
        v = w / n
        if abs(lam - last) <= 1e-4 * lam:
            break
    return 1.05 * math.sqrt(max(lam, 0.0))


def _gram(J: torch.Tensor) -> np.ndarray:
    Jn = J.numpy()
    return Jn.T @ Jn  # NumPy takes A^T A as one SYRK (half the multiply-adds of a product)


def _kept_estimate(R11: np.ndarray, X: np.ndarray) -> float | None:
    """min ||J v|| / ||v|| over v orthogonal to the computed null space, from above (see
    ``pivoted_null_space``), or None if the inverse subspace iteration did not settle (two Ritz values
    within SMIN_RTOL) in SMIN_STEPS steps.

    With P^T G P = [R11 R12]^T [R11 R12] + [0 0; 0 S22], X = R11^{-1} R12 and v = P [a; X^T a] (the
    vectors orthogonal to P [-X; I]): ||J v||^2 >= ||R11 K a||^2 and ||v||^2 = a^T K a, K = I + X X^T.
    So the minimum is >= the smallest eigenvalue of the pencil (K R11^T R11 K, K), found by inverse
    subspace iteration with T = K^{-1} R11^{-1} R11^{-T} (K^{-1} by Woodbury, X has few columns) and
    Rayleigh-Ritz, whose smallest Ritz value lies above it."""
    r, k = X.shape
    small = np.linalg.inv(np.eye(k) + X.T @ X)

    def kinv(V):
        return V - X @ (small @ (X.T @ V))
    V = np.linalg.qr(np.random.default_rng(1).standard_normal((r, min(SMIN_BLOCK, r))))[0]
    last = math.inf
    for _ in range(SMIN_STEPS):
        V = np.asfortranarray(np.linalg.qr(kinv(blas.dtrsm(1.0, R11, blas.dtrsm(1.0, R11, V, trans_a=1))))[0])
        KV = V + X @ (X.T @ V)
        A = blas.dtrmm(1.0, R11, np.asfortranarray(KV))
        est = math.sqrt(max(float(scipy.linalg.eigh(A.T @ A, V.T @ KV, eigvals_only=True)[0]), 0.0))
        if abs(est - last) <= SMIN_RTOL * est:
            return est
        last = est
    return None


def pivoted_null_space(J: torch.Tensor, timings: dict | None = None):
    """(N, gap) by pivoted Cholesky of J^T J (see the module docstring), or None when it does not decide.
    ``J`` must have unit rows."""
    t = {} if timings is None else timings
    D = J.shape[1]
    c0 = time.perf_counter()
    G = _gram(J)
    t["gram"] = time.perf_counter() - c0
    c0 = time.perf_counter()
    smax = _sigma_max(G)
    t["sigma_max"] = time.perf_counter() - c0
    if smax == 0:
        return None
    res = math.sqrt(16 * EPS) * smax
    c0 = time.perf_counter()
    # G is symmetric: its transpose is the Fortran-ordered array dpstrf factors in place.
    R, piv, r, info = lapack.dpstrf(G.T, tol=(10 * res) ** 2, lower=0, overwrite_a=1)
    t["pivoted_cholesky"] = time.perf_counter() - c0
    if info < 0 or r == 0:
        return None
    c0 = time.perf_counter()
    R11 = R if r == D else np.asfortranarray(R[:r, :r])  # one copy: the BLAS wrappers take a square block
    X = blas.dtrsm(1.0, R11, np.asfortranarray(R[:r, r:])) if r < D else np.zeros((r, 0))  # R11^{-1} R12
    kept = _kept_estimate(R11, X)
    t["kept_estimate"] = time.perf_counter() - c0
    t["kept_over_res"] = kept / res if kept is not None else math.nan
    if kept is None or kept <= 100 * res:
        return None
    piv = piv - 1
    if r == D:
        return torch.zeros((0, D), dtype=torch.float64), math.inf
    raw = np.zeros((D, D - r))
    raw[piv[:r]] = -X
    raw[piv[r:], np.arange(D - r)] = 1.0
    Q = np.linalg.qr(raw)[0]
    dropped = float(np.linalg.norm(J.numpy() @ Q, 2))
    t["dropped_over_res"] = dropped / res
    if dropped > 10 * res:
        return None
    return torch.from_numpy(np.ascontiguousarray(Q.T)), _gap(kept, dropped)


def gram_null_space(J: torch.Tensor):
    """(N, gap) by the eigenpairs of J^T J below (1000 res)^2, or None when it does not decide. ``J`` has
    unit rows. Eigenvalues of J^T J carry an absolute error of about eps lambda_max (LAPACK Users' Guide
    4.7's approximate bound), so a singular value is resolved above res (16x margin); decides only when
    every estimate is above 100 res or at most 10 res, and ||J N^T||_2 <= 10 res."""
    G = _gram(J)
    smax = _sigma_max(G)
    if smax == 0:
        return None
    res = math.sqrt(16 * EPS) * smax
    # Only the eigenpairs below (1000 res)^2 (LAPACK's MRRR on a subset: 3x faster than all of them).
    lam, vecs = scipy.linalg.eigh(G, subset_by_value=(-np.inf, (1000 * res) ** 2), driver="evr")
    sig = np.sqrt(np.clip(lam, 0.0, None))
    if bool(((sig > 10 * res) & (sig <= 100 * res)).any()):
        return None
    k = int((sig <= 10 * res).sum())
    kept = float(sig[k]) if k < sig.size else 1000 * res  # none returned above: >= 1000 res
    N = torch.from_numpy(np.ascontiguousarray(vecs[:, :k].T))
    dropped = float(torch.linalg.matrix_norm(J @ N.T, ord=2)) if k else 0.0
    if dropped > 10 * res:
        return None
    return N, _gap(kept, dropped)


def svd_null_space(J: torch.Tensor):
    """(N, gap) by the SVD of J (unit rows), threshold RANK_TOL sigma_max."""
    _, s, vt = torch.linalg.svd(J, full_matrices=J.shape[0] < J.shape[1])
    r = int((s > RANK_TOL * (s[0] if s.numel() else 1.0)).sum())
    kept = float(s[r - 1]) if r else 1.0
    dropped = float(s[r]) if r < s.numel() else 0.0
    return vt[r:], _gap(kept, dropped)


def null_space(J: torch.Tensor, gram_min: int | None = None, timings: dict | None = None):
    """Orthonormal null-space rows of J (rows scaled to norm 1 first) and the gap of the decision; the
    first route that decides (module docstring). ``timings`` receives the pivoted route's phases."""
    J = _unit_rows(J)
    if J.shape[1] >= (GRAM_MIN if gram_min is None else gram_min) and J.shape[0] >= J.shape[1]:
        with one_thread():
            out = pivoted_null_space(J, timings)
            if out is None:
                out = gram_null_space(J)
        if out is not None:
            return out
    return svd_null_space(J)
