"""The numerical half of the polynomial law search: gradings, monomial blocks, sampled nullspaces.

Q = sum_m c_m m(theta) is a law when <grad Q(theta), grad_theta f_j(x; theta)> = 0 for all x, j, theta:
linear in c. ``gradings`` finds the weights under which every f_j is homogeneous (an Euler identity,
sampled); they split the monomials into blocks that never interact (``components``), and each
block's law space is the nullspace of a sampled matrix (``columns``, ``nullspace``). Nothing found
here is reported unless ``verify.laws.law_proofs`` proves it.

References:
    Marcotte, Gribonval & Peyre (2023), NeurIPS, Sec 2.3 (polynomial laws as a linear system).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from verify.model import Model, layer_dims
from verify.interpret.jets import forward_backward

__all__ = ["NULL_TOL", "MAX_DENOMINATOR", "gradings", "samples", "region_slopes", "rref", "monomials", "components", "columns",
           "nullspace", "rationalise", "candidate_components"]

#: Relative singular-value threshold for nullspace decisions (columns have norm 1; values are exact
#: polynomial evaluations in float64, so true zeros sit near 1e-15 and the smallest genuine singular
#: values of these sample matrices measured >= 1e-5).
NULL_TOL = 1e-9

#: Floats of sampled columns evaluated at once by ``candidate_components`` (4e6: 32 MB).
CHUNK_FLOATS = 4_000_000

#: Largest denominator accepted when rationalising a coefficient (laws found so far have +-1, +-2).
MAX_DENOMINATOR = 1000


def region_slopes(model: Model, region, rng: np.random.Generator, n: int):
    """Region constants for n samples, each from a random pattern of ``region``'s basis (the fields of
    every pattern reached are combinations of theirs), or None: the sign of z (every pattern)."""
    if region is None:
        return None
    q = region.X.shape[0] // max(1, len(region.patterns) or 1)
    pick = rng.integers(0, region.X.shape[0] // q, n) * q
    return [s[pick][:, None, :] for s in region.slopes(model)]


def samples(model: Model, rng: np.random.Generator, n_theta: int, n_x: int, region=None):
    """Rows (theta_r, grad_theta <c_r, f(x_r; theta_r)>) with a random cotangent c_r per row; theta is
    repeated n_x times (with fresh x) so that a small component sees many parameter points. A law
    satisfies <grad Q, grad_theta f_j> = 0 for every j, hence for every c: one random combination per
    (theta, x) replaces the n_out rows, which are far from independent (n_out times smaller matrices).
    With ``region``, the slopes are the region's (a law of that region: a polynomial identity for
    each of its patterns)."""
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    dims = layer_dims(model)
    TH = rng.standard_normal((n_theta * n_x, D))
    X = rng.standard_normal((n_theta * n_x, 1, dims[0]))
    TH[n_theta:] = np.tile(TH[:n_theta], (n_x - 1, 1))
    slopes = region_slopes(model, region, rng, TH.shape[0])
    cot = rng.standard_normal((TH.shape[0], 1, dims[-1]))
    return TH, forward_backward(model, TH, X, cot, slopes)[1]


def gradings(model: Model, seed: int = 0, region=None) -> np.ndarray:
    """Real weights w (r x D) with f_j homogeneous of some degree under theta_a -> lambda^{w_a} theta_a
    (inputs weighted too): the nullspace of the sampled Euler identity, in reduced row-echelon form.

    Unknowns (w, u, kappa); each (theta, x) sample gives one row with a random cotangent c:
    <w, theta * grad_theta (c.f)> + <u, x * grad_x (c.f)> - sum_j kappa_j c_j f_j = 0."""
    rng = np.random.default_rng([seed, 7])
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    dims = layer_dims(model)
    n0, nL = dims[0], dims[-1]
    # One (theta, x) sample per unknown plus 8: with (D + n0 + nL) / nL + 8 samples an 8-9-3-6 linear
    # net got a spurious grading that split its 36 off-diagonal DU-3 laws into single monomials (12 of
    # 51 laws found, measured).
    n = D + n0 + nL + 8
    TH = rng.standard_normal((n, D))
    X = rng.standard_normal((n, 1, dims[0]))
    slopes = region_slopes(model, region, rng, n)
    cot = rng.standard_normal((n, 1, nL))
    F, G, GX, _ = forward_backward(model, TH, X, cot, slopes, want_x=True)
    M = np.hstack([TH * G, X[:, 0, :] * GX[:, 0, :], -cot[:, 0, :] * F[:, 0, :]])
    M = M / (np.linalg.norm(M, axis=1, keepdims=True) + 1e-300)
    _, s, vt = np.linalg.svd(M, full_matrices=M.shape[0] < M.shape[1])
    rank = int(np.sum(s > NULL_TOL * s[0]))
    N = vt[rank:]
    if N.shape[0] == 0:
        return np.zeros((0, D))
    R = rref(N)
    return R[:, :D]


def rref(B: np.ndarray) -> np.ndarray:
    """Reduced row-echelon form of the row space of B (partial pivoting on columns, in order)."""
    B = B.copy()
    r, piv = 0, []
    for c in range(B.shape[1]):
        if r == B.shape[0]:
            break
        k = r + int(np.argmax(np.abs(B[r:, c])))
        if abs(B[k, c]) < 1e-8:
            continue
        B[[r, k]] = B[[k, r]]
        B[r] /= B[r, c]
        for i in range(B.shape[0]):
            if i != r:
                B[i] -= B[i, c] * B[r]
        piv.append(c)
        r += 1
    return B[:r]


def monomials(D: int, degree: int) -> list[np.ndarray]:
    """Monomials of degree 1..k as index arrays (one array of shape (M_d, d) per degree)."""
    out = []
    for d in range(1, degree + 1):
        out.append(np.array(list(itertools.combinations_with_replacement(range(D), d)), dtype=np.int64)
                   .reshape(-1, d))
    return out


def components(mons: list[np.ndarray], Wg: np.ndarray) -> tuple[np.ndarray, int]:
    """Component label of every monomial (concatenated over degrees) from the grading keys.

    Key of (monomial m, factor p): alpha(m) - 2 w_p, rounded at 1e-6 and hashed to one int64 with a
    fixed random odd multiplier per grading (wrapping), in chunks of monomials so that the (M x r)
    keys are never held at once (2M monomials x 211 gradings of a 100-10-100 net would be 3.4 GB).
    A hash collision can only merge two components, which is safe: the law space of a merged block
    is still found by its own nullspace."""
    total = sum(a.shape[0] for a in mons)
    if Wg.shape[0] == 0:
        return np.zeros(total, dtype=np.int64), 1
    mult = np.random.default_rng(0x5EED).integers(1, 2**62, size=Wg.shape[0], dtype=np.int64) | 1
    hashes, owners, base = [], [], 0
    step = max(1, 4_000_000 // max(1, Wg.shape[0]))
    for arr in mons:
        for s in range(0, arr.shape[0], step):
            part = arr[s:s + step]
            alpha = Wg[:, part].sum(axis=2).T  # (chunk, r)
            for p in range(part.shape[1]):
                K = np.round((alpha - 2 * Wg[:, part[:, p]].T) * 1e6).astype(np.int64)
                with np.errstate(over="ignore"):
                    hashes.append((K * mult).sum(axis=1))
                owners.append(np.arange(base + s, base + s + part.shape[0]))
        base += arr.shape[0]
    h = np.concatenate(hashes)
    own = np.concatenate(owners)
    _, kid = np.unique(h, return_inverse=True)
    kid = kid.ravel()
    nk = int(kid.max()) + 1
    g = coo_matrix((np.ones(own.size), (own, base + kid)), shape=(base + nk, base + nk))
    n, lab = connected_components(g, directed=False)
    lab = lab[:base]
    _, lab = np.unique(lab, return_inverse=True)
    return lab.ravel(), int(lab.max()) + 1


def columns(mon: np.ndarray, T: np.ndarray, G: np.ndarray) -> np.ndarray:
    """<grad m(theta_r), G_r> for each monomial (rows of ``mon``, -1 padded) and sample row r."""
    # Padding index -1 picks an appended column: theta = 1 and gradient 0 (a factor of 1).
    T = np.hstack([T, np.ones((T.shape[0], 1))])
    G = np.hstack([G, np.zeros((G.shape[0], 1))])
    out = np.zeros((T.shape[0], mon.shape[0]))
    d = mon.shape[1]
    for p in range(d):
        term = G[:, mon[:, p]]
        for q in range(d):
            if q != p:
                term = term * T[:, mon[:, q]]
        out += term
    return out


def nullspace(A: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Nullspace (rows) of A with normalised columns; (basis, sigma kept, sigma dropped)."""
    norms = np.linalg.norm(A, axis=0)
    scale = np.where(norms > 0, norms, 1.0)
    # vt must be square (s x s) to hold the nullspace; U need not be: full U of a tall sample
    # matrix (R x R, R ~ 16 s) cost 25 of 48 s on a 9-9-7-9-8 ReLU net (measured).
    _, s, vt = np.linalg.svd(A / scale, full_matrices=A.shape[0] < A.shape[1])
    s_full = np.zeros(A.shape[1])
    s_full[:s.size] = s
    top = s_full[0] if s_full[0] > 0 else 1.0
    rank = int(np.sum(s_full > NULL_TOL * top))
    kept = s_full[rank - 1] / top if rank else np.inf
    dropped = s_full[rank] / top if rank < s_full.size else 0.0
    return vt[rank:] / scale, kept, dropped


def rationalise(v: np.ndarray) -> list[Fraction] | None:
    v = v / v[np.argmax(np.abs(v))]
    out = [Fraction(float(x)).limit_denominator(MAX_DENOMINATOR) for x in v]
    if max(abs(float(q) - x) for q, x in zip(out, v)) > 1e-7:
        return None
    return out


def candidate_components(allmon, order, bounds, sizes, T, G, factor) -> list[int]:
    """Components whose sampled matrix has a nullspace, decided for all components of one size at
    once (a batched SVD); most components have none, and a Python loop over ~5e4 of them cost
    ~10 s on a 9^5 net (measured)."""
    keep = []
    for size in np.unique(sizes):
        comps = np.flatnonzero(sizes == size)
        R = min(T.shape[0], factor * (int(size) + 8))
        # At most one chunk per component: np.array_split with more chunks than items makes empty
        # chunks, and np.stack of an empty list raised "need at least one array to stack" (linear
        # 16-16-16, ReLU 12-12-12-12). Chunks keep R x K x size under CHUNK_FLOATS floats.
        n_chunks = min(comps.size, max(1, comps.size * R * int(size) // CHUNK_FLOATS + 1))
        for chunk in np.array_split(comps, n_chunks):
            idx = np.stack([order[bounds[c]:bounds[c + 1]] for c in chunk])  # (K, size)
            A = columns(allmon[idx.ravel()], T[:R], G[:R]).reshape(R, chunk.size, int(size))
            A = A.transpose(1, 0, 2)
            norms = np.linalg.norm(A, axis=1, keepdims=True)
            A = A / np.where(norms > 0, norms, 1.0)
            sv = np.linalg.svd(A, compute_uv=False)  # (K, size)
            top = np.where(sv[:, :1] > 0, sv[:, :1], 1.0)
            rank = (sv > NULL_TOL * top).sum(axis=1)
            keep += [int(c) for c, r in zip(chunk, rank) if r < size]
    return sorted(keep)
