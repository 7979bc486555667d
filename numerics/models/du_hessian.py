"""Hessian of the matrix-factorisation objective and its smallest eigenvalue.

For f(U, V) = 1/2 ||U V^T - M*||_F^2, R = U V^T - M* and a direction (dU, dV), differentiating
the gradients (2) once more gives the Hessian-vector product

    H[dU, dV] = (E V + R dV,  E^T U + R^T dU),   E = dU V^T + U dV^T.

The full Hessian (small sizes) is assembled column by column from this product; otherwise the
smallest eigenvalue comes from Lanczos (``scipy.sparse.linalg.eigsh``) on the product. The
product is tested against finite differences of the gradient.

References:
    Du, Hu & Lee 2018, Lemma 3.2 and footnote 7 (strict saddle: a negative Hessian eigenvalue).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from verify.errors import BadInput

__all__ = ["mf_hvp", "mf_hessian", "mf_min_eigenvalue", "DENSE_LIMIT"]

#: Up to this many parameters (d1 + d2) r the full Hessian is formed and diagonalised: at 600 the
#: dense eigensolve takes well under a second, beyond it Lanczos is cheaper.
DENSE_LIMIT = 600


def mf_hvp(U: np.ndarray, V: np.ndarray, M: np.ndarray, dU: np.ndarray,
           dV: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of f at (U, V) applied to the direction (dU, dV)."""
    R = U @ V.T - M
    E = dU @ V.T + U @ dV.T
    return E @ V + R @ dV, E.T @ U + R.T @ dU


def _operator(U, V, M) -> LinearOperator:
    d1, r = U.shape
    d2 = V.shape[0]
    n = (d1 + d2) * r

    def mv(x):
        x = np.asarray(x, dtype=float).ravel()
        hU, hV = mf_hvp(U, V, M, x[: d1 * r].reshape(d1, r), x[d1 * r:].reshape(d2, r))
        return np.concatenate([hU.ravel(), hV.ravel()])

    return LinearOperator((n, n), matvec=mv, dtype=float)


def mf_hessian(U: np.ndarray, V: np.ndarray, M: np.ndarray) -> np.ndarray:
    """The full symmetric Hessian, parameters ordered as (U.ravel(), V.ravel())."""
    op = _operator(U, V, M)
    n = op.shape[0]
    H = np.column_stack([op.matvec(e) for e in np.eye(n)])
    # Symmetrise: exact in exact arithmetic; removes round-off asymmetry before eigvalsh.
    return 0.5 * (H + H.T)


def mf_min_eigenvalue(U: np.ndarray, V: np.ndarray, M: np.ndarray, *, method: str = "auto",
                      seed: int = 0) -> float:
    """Smallest Hessian eigenvalue of f at (U, V).

    Args:
        method: ``"dense"`` (full Hessian + ``numpy.linalg.eigvalsh``), ``"lanczos"``
            (``eigsh(which="SA")`` on the Hessian-vector product) or ``"auto"`` (dense up to
            :data:`DENSE_LIMIT` parameters).
        seed: seeds Lanczos' start vector, so the result is reproducible.
    """
    if U.shape[1] != V.shape[1] or M.shape != (U.shape[0], V.shape[0]):
        raise BadInput(f"Got U {U.shape}, V {V.shape}, M {M.shape}; need U (d1, r), V (d2, r), "
                       "M (d1, d2).")
    n = (U.shape[0] + V.shape[0]) * U.shape[1]
    if method == "auto":
        method = "dense" if n <= DENSE_LIMIT else "lanczos"
    if method == "dense":
        return float(np.linalg.eigvalsh(mf_hessian(U, V, M))[0])
    if method == "lanczos":
        v0 = np.random.default_rng(seed).standard_normal(n)
        val = eigsh(_operator(U, V, M), k=1, which="SA", v0=v0, tol=1e-10,
                    maxiter=20 * n, return_eigenvectors=False)
        return float(val[0])
    raise BadInput(f"Got method={method!r}; allowed: 'auto', 'dense', 'lanczos'.")
