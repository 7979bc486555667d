"""Exact ranks of integer vectors modulo the prime ``PRIME`` (Gaussian elimination, BLAS-backed).

Why modular: the vector fields of ``discover`` are polynomials with rational coefficients. At an
integer point their values are integer vectors, and their reductions mod p are computed exactly
(``verify.model_jets``). The rank of vectors reduced mod p never exceeds their rank over Q (a
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

from .model_jets import MODP, Ring

__all__ = ["EchelonBasis", "rank_mod_p", "independent_rows"]

#: Rows eliminated together before they become one block of the basis (BLAS-sized products).
_BLOCK = 256
#: Rows handled by the plain Python elimination loop at the bottom of the recursion.
_LEAF = 8


def _inv(x: float, p: int) -> int:
    return pow(int(x) % p, p - 2, p)


def _rref_leaf(A: np.ndarray, ring: Ring) -> tuple[np.ndarray, list[int], list[int]]:
    """Reduced row-echelon rows of a few rows A (already reduced mod p).

    Returns (R, pivots, rows): R[:, pivots] = I, and ``rows`` the indices of the rows of A that each
    gave a new pivot when taken in order (the row rank profile)."""
    p = ring.modulus
    R = np.zeros((0, A.shape[1]))
    piv: list[int] = []
    used: list[int] = []
    for i in range(A.shape[0]):
        row = A[i]
        if piv:
            row = row - ring.matmul(row[piv][None], R)[0]
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
        B = ring.reduce(B - ring.matmul(B[:, p1], R1))
    R2, p2, u2 = _rref(B, ring)
    if p1 and p2:
        R1 = ring.reduce(R1 - ring.matmul(R1[:, p2], R2))
    return np.vstack([R1, R2]), p1 + p2, u1 + [h + i for i in u2]


class EchelonBasis:
    """A growing subspace of GF(p)^N, stored as blocks of reduced row-echelon rows.

    Block k holds rows R_k with R_k[:, piv_k] = I that vanish on the pivot columns of every earlier
    block, so a vector is reduced by one matrix product per block, in order. Adding b rows to a
    basis of rank r costs about b r N multiply-adds (as a blocked LU: N^3 / 2 from empty to full).
    """

    def __init__(self, N: int, ring: Ring = MODP):
        self.N, self.ring = N, ring
        self.blocks: list[tuple[list[int], np.ndarray]] = []

    @property
    def rank(self) -> int:
        return sum(len(p) for p, _ in self.blocks)

    def reduce(self, B: np.ndarray) -> np.ndarray:
        """B modulo the span (rows of residues mod p)."""
        B = self.ring.reduce(np.asarray(B, float))
        for piv, R in self.blocks:
            B = self.ring.reduce(B - self.ring.matmul(B[:, piv], R))
        return B

    def add(self, B: np.ndarray) -> int:
        """Add the rows of B (integers, any sign); returns how many were independent of the span."""
        B = np.asarray(B, float)
        new = 0
        for s in range(0, B.shape[0], _BLOCK):
            C = self.ring.canonical(self.reduce(B[s:s + _BLOCK]))
            C = C[np.any(C != 0, axis=1)]
            if not C.shape[0]:
                continue
            R, piv, _ = _rref(C, self.ring)
            if not piv:
                continue
            new += len(piv)
            if self.blocks and len(self.blocks[-1][0]) + len(piv) <= _BLOCK:
                # Merge into the last block: fewer, fatter products when rows arrive a few at a time.
                p0, R0 = self.blocks.pop()
                R0 = self.ring.reduce(R0 - self.ring.matmul(R0[:, piv], R))
                piv, R = p0 + piv, np.vstack([R0, R])
            self.blocks.append((piv, R))
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
        C = basis.reduce(A[s:s + _BLOCK])
        _, _, used = _rref(C, ring)
        out += [s + i for i in used]
        basis.add(C[used])
    return out
