"""Exact ranks of integer vectors modulo the prime ``PRIME`` (Gaussian elimination, BLAS-backed).

Why modular: the vector fields of ``discover`` are polynomials with rational coefficients. At an
integer point their values are integer vectors, and their reductions mod p are computed exactly
(``verify.interpret.jets``). The rank of vectors reduced mod p never exceeds their rank over Q (a
vanishing minor stays zero mod p), so ``D - rank_p`` is a *proven* upper bound on the number of
laws, and ``rank_p`` of law gradients a proven lower bound on their functional independence; no
singular-value threshold is involved. A rank mod p can fall below the rational rank only on a
set of probability about (number of decisions)/p ~ 1e-6 of the random point (Schwartz-Zippel), and
such a fall only loosens the bound.

Residues are stored in float64; products are below 2^40 and sums of up to 8000 of them are exact,
so every matrix product goes through ``Ring.matmul`` (BLAS, split along the summed axis).
"""

from __future__ import annotations

import numpy as np

from verify.interpret.jets import MODP, Ring

__all__ = ["EchelonBasis", "rank_mod_p", "independent_rows"]

#: Rows eliminated together before they become one block of the basis (BLAS-sized products).
_BLOCK = 512
#: Rows handled by the plain Python elimination loop at the bottom of the recursion.
_LEAF = 8


def _minus_product(B: np.ndarray, A: np.ndarray, R: np.ndarray, ring: Ring) -> np.ndarray:
    """B - A @ R mod p with one reduction: residues are below 2^20 + 4, so with at most 8000 terms
    the raw product stays below 2^53 and so does the difference."""
    if A.shape[-1] > 8000 or ring.modulus is None:
        return ring.reduce(B - ring.matmul(A, R))
    X = A @ R
    np.subtract(B, X, out=X)
    q = np.multiply(X, 1.0 / ring.modulus)  # ring.reduce in place: one temporary instead of three
    np.floor(q, out=q)
    q *= ring.modulus
    X -= q
    return X


def _inv(x: float, p: int) -> int:
    return pow(int(x) % p, p - 2, p)


def _rref_leaf(A: np.ndarray, ring: Ring) -> tuple[np.ndarray, list[int], list[int]]:
    """Reduced row-echelon rows of a few rows A (already reduced mod p).

    Returns (R, pivots, rows): R[:, pivots] = I, and ``rows`` the indices of the rows of A that each
    gave a new pivot when taken in order (the row rank profile)."""
    p = ring.modulus
    assert p is not None, "row echelon forms are computed mod p"
    R = np.zeros((0, A.shape[1]))
    piv: list[int] = []
    used: list[int] = []
    for i in range(A.shape[0]):
        row = A[i]
        if piv:
            row = _minus_product(row[None], row[piv][None], R, ring)[0]
        row = ring.canonical(row)
        nz = np.flatnonzero(row)
        if nz.size == 0:
            continue
        c = int(nz[0])
        row = ring.reduce(row * _inv(row[c], p))
        if piv:
            R = ring.reduce(R - np.outer(R[:, c], row))
        R = np.vstack([R, row])
        piv.append(c)
        used.append(i)
    return R, piv, used


def _rref(A: np.ndarray, ring: Ring) -> tuple[np.ndarray, list[int], list[int]]:
    """Reduced row-echelon form of A by halving the rows (the products are BLAS matrix products)."""
    if A.shape[0] <= _LEAF:
        return _rref_leaf(A, ring)
    h = A.shape[0] // 2
    R1, p1, u1 = _rref(A[:h], ring)
    B = A[h:]
    if p1:
        B = _minus_product(B, B[:, p1], R1, ring)
    R2, p2, u2 = _rref(B, ring)
    if p1 and p2:
        R1 = _minus_product(R1, R1[:, p2], R2, ring)
    return np.vstack([R1, R2]), p1 + p2, u1 + [h + i for i in u2]


class EchelonBasis:
    """A growing subspace of GF(p)^N, stored as blocks of reduced row-echelon rows.

    Block k holds rows R_k with R_k[:, piv_k] = I that vanish on the pivot columns of every earlier
    block; only their part on the columns still free after the block (``free_k``) is stored. A
    vector is reduced by one matrix product per block, in order, on the free columns only (as in
    a blocked LU: from empty to full rank about N^3 / 3 multiply-adds, and r (N - r) floats stored).
    """

    def __init__(self, N: int, ring: Ring = MODP):
        self.N, self.ring = N, ring
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (piv, free, R[:, free])
        self.free = np.arange(N)

    @property
    def rank(self) -> int:
        return self.N - self.free.size

    def reduce(self, B: np.ndarray) -> np.ndarray:
        """B modulo the span, on the columns still free (rows of residues mod p)."""
        B = self.ring.reduce(np.array(B, float, ndmin=2))
        for piv, free, M in self.blocks:
            if free.size:
                B[:, free] = _minus_product(B[:, free], B[:, piv], M, self.ring)
        return B[:, self.free]

    def add(self, B: np.ndarray) -> int:
        """Add the rows of B (integers, any sign); returns how many were independent of the span."""
        B = np.asarray(B, float)
        new = 0
        for s in range(0, B.shape[0], _BLOCK):
            if not self.free.size:
                break
            C = self.ring.canonical(self.reduce(B[s:s + _BLOCK]))
            C = C[np.any(C != 0, axis=1)]
            if not C.shape[0]:
                continue
            R, local, _ = _rref(C, self.ring)
            if not local:
                continue
            new += len(local)
            keep = np.ones(self.free.size, bool)
            keep[local] = False
            piv, free, M = self.free[local], self.free[keep], R[:, keep]
            if self.blocks and self.blocks[-1][0].size + piv.size <= _BLOCK:
                # Merge into the last block (fewer, fatter products when rows arrive a few at a time):
                # clear the new pivot columns from its rows; its free columns contain the new ones.
                p0, f0, M0 = self.blocks.pop()
                at = np.searchsorted(f0, piv)
                rest = np.searchsorted(f0, free)
                M0 = _minus_product(M0[:, rest], M0[:, at], M, self.ring)
                piv, M = np.concatenate([p0, piv]), np.vstack([M0, M])
            self.blocks.append((piv, free, M))
            self.free = free
        return new


def rank_mod_p(A: np.ndarray, ring: Ring = MODP) -> int:
    """Rank of the integer matrix A modulo p (a lower bound on its rank over Q)."""
    A = np.atleast_2d(np.asarray(A, float))
    basis = EchelonBasis(A.shape[1], ring)
    basis.add(A)
    return basis.rank


def independent_rows(A: np.ndarray, ring: Ring = MODP) -> list[int]:
    """Indices of rows of A, taken in order, each independent of the rows before it (mod p)."""
    A = ring.reduce(np.atleast_2d(np.asarray(A, float)))
    basis = EchelonBasis(A.shape[1], ring)
    out: list[int] = []
    for s in range(0, A.shape[0], _BLOCK):
        C = ring.canonical(basis.reduce(A[s:s + _BLOCK]))
        _, _, used = _rref(C, ring)
        out += [s + i for i in used]
        basis.add(A[s:s + _BLOCK][used])
    return out
