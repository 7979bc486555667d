"""Every polynomial conservation law of degree <= k, valid for every loss, with a proof of each.

Q is a law when <grad Q(theta), grad_theta f_j(x; theta)> = 0 for all x, j, theta. Writing
Q = sum_m c_m m(theta) over monomials m, this is linear in c. Three steps make it fast and exact:

1. **Grading (computed from the model).** Integer/real weights w on parameters (and u on inputs)
   with sum_a w_a theta_a d_a f_j + sum_k u_k x_k d_{x_k} f_j = kappa_j f_j (an Euler identity, so f_j
   is homogeneous) are the nullspace of a sampled linear system. Then <grad m, grad f_j> splits into
   pieces of degree alpha(m) - 2 w_a (+kappa_j): monomials sharing no such key never interact, so the
   law space is the direct sum of the law spaces of the connected components (union-find on keys).
   Neuron rescalings and per-layer scalings come out of this; nothing is typed in per architecture.
2. **Nullspace per component** from samples (theta, x, j) in float64, columns normalised, SVD with
   the singular-value gap recorded; a readable basis is chosen by first trying the monomials of
   each structural unit (a hidden neuron's incoming row, bias and outgoing column; a diagonal
   net's coordinate), then completing with a reduced row-echelon basis. Coefficients are
   rationalised and re-checked on the samples.
3. **Proof.** Each group of laws is proven with ``prove_conserved`` on the smallest contiguous
   sub-network holding its parameters (its input and the gradient arriving from above are left
   symbolic, so the proof covers the whole network: f = g(sub(a(x))) and any loss of f is a loss of
   sub's output). A law that is not ``Proven`` is never reported.

References:
    Marcotte, Gribonval & Peyre (2023), NeurIPS, Sec 2.3 (polynomial laws as a linear system).
    Du, Hu & Lee (2018), Thm 2.1 and 2.2 (the families a basis must span).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from verify.certificates import Proven, Verdict
from verify.model import Act, DiagonalLinear, Dense, Model, Param, layer_dims
from verify.prove.concrete import Quantity, prove_conserved
from verify.laws.lie_rank import forward_backward, param_layout, single_thread_blas

__all__ = ["Law", "LawSearch", "find_laws", "param_names", "law_text", "gradings", "sub_model", "unit_sub_model"]

#: Relative singular-value threshold for nullspace decisions (columns have norm 1; values are exact
#: polynomial evaluations in float64, so true zeros sit near 1e-15 and the smallest genuine singular
#: values of these sample matrices measured >= 1e-5).
NULL_TOL = 1e-9

#: Largest denominator accepted when rationalising a coefficient (laws found so far have +-1, +-2).
MAX_DENOMINATOR = 1000


@dataclass(frozen=True)
class Law:
    """One proven conservation law.

    Attributes:
        text: the polynomial, e.g. ``W1[0,0]^2 + W1[0,1]^2 - W2[0,0]^2``.
        terms: (coefficient as exact rational string, monomial as tuple of parameter-entry names).
        params: parameter names involved (the grouping key).
        group: readable group label, e.g. ``hidden unit W1 row 0`` or ``W1, W2``.
        certificate: the ``Proven`` verdict (shared by the laws proven together).
    """

    text: str
    terms: tuple[tuple[str, tuple[str, ...]], ...]
    params: tuple[str, ...]
    group: str
    certificate: Proven


@dataclass(frozen=True)
class LawSearch:
    """Result of ``find_laws``: proven laws, the candidates' dimension and the decision gaps."""

    laws: tuple[Law, ...]
    candidates: int
    dropped: tuple[str, ...]
    components: int
    largest_component: int
    min_gap: float
    grading_rank: int
    seconds_search: float
    seconds_proof: float


def param_names(model: Model) -> list[tuple[str, tuple[int, ...], str]]:
    """(param name, index, display name) for each flat theta entry (``W1[0,1]``, ``u1[2]``)."""
    out = []
    for p in model.params:
        if p.shape == ():
            out.append((p.name, (), p.name))
        else:
            for idx in itertools.product(*[range(s) for s in p.shape]):
                out.append((p.name, idx, f"{p.name}[{','.join(map(str, idx))}]"))
    return out


def _rows_per_unit(model: Model) -> list[tuple[str, set[int]]]:
    """Structural units: (label, flat indices). A hidden neuron: incoming row, bias, outgoing column
    of the next Dense; a diagonal net's coordinate i: every factor's entry i."""
    lay = param_layout(model)
    units = []
    dense = [(n, l) for n, l in enumerate(model.layers) if isinstance(l, Dense)]
    for (n, l), nxt in zip(dense, dense[1:] + [None]):
        if l.pattern is not None or nxt is None or nxt[1].pattern is not None:
            continue
        off, (rows, cols) = lay[l.weight]
        noff, (nrows, ncols) = lay[nxt[1].weight]
        for i in range(rows):
            idx = {off + i * cols + k for k in range(cols)} | {noff + r * ncols + i for r in range(nrows)}
            if l.bias is not None:
                idx.add(lay[l.bias][0] + i)
            units.append((f"hidden unit {i} of layer {l.weight} (row {i} of {l.weight}, column {i} of "
                           f"{nxt[1].weight}{', ' + l.bias + f'[{i}]' if l.bias else ''})", idx))
    for l in model.layers:
        if isinstance(l, DiagonalLinear):
            n = lay[l.factors[0]][1][0]
            for i in range(n):
                units.append((f"coordinate {i} ({', '.join(f'{f}[{i}]' for f in l.factors)})",
                              {lay[f][0] + i for f in l.factors}))
    return units


def _samples(model: Model, rng: np.random.Generator, n_theta: int, n_x: int):
    """Rows (theta_r, grad_theta f_j(x_r; theta_r)), interleaved so that consecutive rows come from
    different theta (a small component sees many parameter points)."""
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    dims = layer_dims(model)
    TH = rng.standard_normal((n_theta * n_x, D))
    X = rng.standard_normal((n_theta * n_x, 1, dims[0]))
    TH[n_theta:] = np.tile(TH[:n_theta], (n_x - 1, 1))
    rows_t, rows_g = [], []
    for j in range(dims[-1]):
        cot = np.zeros((TH.shape[0], 1, dims[-1]))
        cot[:, :, j] = 1.0
        _, G, _, _ = forward_backward(model, TH, X, cot)
        rows_t.append(TH)
        rows_g.append(G)
    # Order: j fastest, then theta: row r = (theta r // n_out mod n_theta, ...).
    T = np.stack(rows_t, axis=1).reshape(-1, D)
    G = np.stack(rows_g, axis=1).reshape(-1, D)
    return T, G


def gradings(model: Model, seed: int = 0) -> np.ndarray:
    """Real weights w (r x D) with f_j homogeneous of some degree under theta_a -> lambda^{w_a} theta_a
    (inputs weighted too): the nullspace of the sampled Euler identity, in reduced row-echelon form."""
    rng = np.random.default_rng([seed, 7])
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    dims = layer_dims(model)
    n0, nL = dims[0], dims[-1]
    # One (theta, x) sample per unknown (plus 8), not one per nL unknowns: the nL rows of one sample
    # are far from independent, and with (D + n0 + nL) / nL + 8 samples an 8-9-3-6 linear net got a
    # spurious grading that split its 36 off-diagonal DU-3 laws into single monomials (12 of 51
    # laws found, measured).
    n = D + n0 + nL + 8
    TH = rng.standard_normal((n, D))
    X = rng.standard_normal((n, 1, dims[0]))
    blocks = []
    for j in range(nL):
        cot = np.zeros((n, 1, nL))
        cot[:, :, j] = 1.0
        F, G, GX, _ = forward_backward(model, TH, X, cot, want_x=True)
        kap = np.zeros((n, nL))
        kap[:, j] = -F[:, 0, j]
        blocks.append(np.hstack([TH * G, X[:, 0, :] * GX[:, 0, :], kap]))
    M = np.vstack(blocks)
    M = M / (np.linalg.norm(M, axis=1, keepdims=True) + 1e-300)
    _, s, vt = np.linalg.svd(M, full_matrices=M.shape[0] < M.shape[1])
    rank = int(np.sum(s > NULL_TOL * s[0]))
    N = vt[rank:]
    if N.shape[0] == 0:
        return np.zeros((0, D))
    R = _rref(N)
    return R[:, :D]


def _rref(B: np.ndarray) -> np.ndarray:
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


def _monomials(D: int, degree: int) -> list[np.ndarray]:
    """Monomials of degree 1..k as index arrays (one array of shape (M_d, d) per degree)."""
    out = []
    for d in range(1, degree + 1):
        out.append(np.array(list(itertools.combinations_with_replacement(range(D), d)), dtype=np.int64)
                   .reshape(-1, d))
    return out


def _components(mons: list[np.ndarray], Wg: np.ndarray) -> tuple[np.ndarray, int]:
    """Component label of every monomial (concatenated over degrees) from the grading keys."""
    keys, owners, base = [], [], 0
    for arr in mons:
        alpha = Wg[:, arr].sum(axis=2).T  # (M, r)
        for p in range(arr.shape[1]):
            keys.append(np.round((alpha - 2 * Wg[:, arr[:, p]].T) * 1e6).astype(np.int64))
            owners.append(np.arange(base, base + arr.shape[0]))
        base += arr.shape[0]
    K = np.vstack(keys)
    own = np.concatenate(owners)
    if K.shape[1] == 0:
        return np.zeros(base, dtype=np.int64), 1
    # Hash each key row to one int64 (a fixed random odd multiplier per column, wrapping): unique
    # on rows sorted 40k x 2 rows x 25 columns lexicographically in 1.1 s of a 3.5 s search on a
    # 9-9-7-9-8 ReLU net (measured). A collision can only merge two components, which is safe:
    # the law space of a merged block is still found by its own nullspace.
    mult = np.random.default_rng(0x5EED).integers(1, 2**62, size=K.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        h = (K * mult).sum(axis=1)
    _, kid = np.unique(h, return_inverse=True)
    kid = kid.ravel()
    nk = int(kid.max()) + 1
    g = coo_matrix((np.ones(own.size), (own, base + kid)), shape=(base + nk, base + nk))
    n, lab = connected_components(g, directed=False)
    lab = lab[:base]
    _, lab = np.unique(lab, return_inverse=True)
    return lab.ravel(), int(lab.max()) + 1


def _columns(mon: np.ndarray, T: np.ndarray, G: np.ndarray) -> np.ndarray:
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


def _nullspace(A: np.ndarray) -> tuple[np.ndarray, float, float]:
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


def _rationalise(v: np.ndarray) -> list[Fraction] | None:
    v = v / v[np.argmax(np.abs(v))]
    out = [Fraction(float(x)).limit_denominator(MAX_DENOMINATOR) for x in v]
    if max(abs(float(q) - x) for q, x in zip(out, v)) > 1e-7:
        return None
    return out


def law_text(terms: list[tuple[Fraction, tuple[str, ...]]]) -> str:
    """``W1[0,0]^2 - 2*W1[0,0]*W2[0,0]`` style printing (exact rationals)."""
    parts = []
    for c, mon in terms:
        names = []
        for name, k in itertools.groupby(mon):
            e = len(list(k))
            names.append(name + (f"^{e}" if e > 1 else ""))
        body = "*".join(names)
        mag = abs(c)
        coef = "" if mag == 1 else (f"{mag}*" if mag.denominator == 1 else f"({mag})*")
        sign = "-" if c < 0 else "+"
        parts.append((sign, coef + body))
    if not parts:
        return "0"
    s = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        s += f" {sign} {body}"
    return s


def sub_model(model: Model, flat: set[int]) -> tuple[Model, str]:
    """Smallest contiguous run of layers holding the parameters with flat indices ``flat``."""
    lay = param_layout(model)
    names = {p.name for p in model.params
             if any(lay[p.name][0] <= i < lay[p.name][0] + (int(np.prod(p.shape)) if p.shape else 1)
                    for i in flat)}
    used = []
    for n, l in enumerate(model.layers):
        ps = ({l.weight, l.bias} if isinstance(l, Dense) else set(l.factors) if isinstance(l, DiagonalLinear)
              else set())
        if ps & names:
            used.append(n)
    lo, hi = min(used), max(used)
    if lo == 0 and hi == len(model.layers) - 1:
        return model, f"the whole network {model.name}"
    layers = model.layers[lo:hi + 1]
    keep = set()
    for l in layers:
        if isinstance(l, Dense):
            keep |= {l.weight} | ({l.bias} if l.bias else set())
        elif isinstance(l, DiagonalLinear):
            keep |= set(l.factors)
    sub = Model(f"{model.name}[layers {lo + 1}..{hi + 1}]", layer_dims(model)[lo],
                tuple(p for p in model.params if p.name in keep), layers)
    return sub, (f"layers {lo + 1}..{hi + 1} of {model.name} with their input and the gradient arriving "
                 "from above left symbolic (conservation there implies it for the whole network)")


def unit_sub_model(model: Model, flat: set[int]) -> tuple[Model, str, dict] | None:
    """The hidden units a law touches, cut out with their weights; None if the law is not of that form.

    A law whose parameters are rows U of a Dense layer W_a (and entries U of its bias b_a) and
    columns U of the next Dense layer W_b (only activations in between) is proven on the network
    a -> W_b[:, U] phi(W_a[U, :] a + b_a[U]) with its input a and the gradient arriving at its
    output left symbolic. Why that proves it for the whole network: W_b's output is this
    sub-network's output plus a term free of its parameters (the other units, b_b), so any loss of
    the network is a loss of the sub-network's output, and the gradients of the law's parameters
    are the same in both. A unit sub-network has ~2 |U| n parameters instead of the layer pair's
    ~2 n^2: SymPy's symbolic gradient of a 9-wide layer pair cost ~4.6 s (measured), a unit's ~0.05 s.

    Returns:
        (sub-network, statement of what was cut out, entry map (name, index) -> index in the sub).
    """
    lay = param_layout(model)
    owner = {}
    for p in model.params:
        k, shape = lay[p.name]
        size = int(np.prod(shape)) if shape else 1
        for i in range(k, k + size):
            owner[i] = (p.name, np.unravel_index(i - k, shape) if shape else ())
    dense = [(n, l) for n, l in enumerate(model.layers) if isinstance(l, Dense)]
    touched = {owner[i][0] for i in flat}
    for (na, la), (nb, lb) in zip(dense, dense[1:]):
        if la.pattern is not None or lb.pattern is not None:
            continue
        if not all(isinstance(l, Act) for l in model.layers[na + 1:nb]):
            continue
        allowed = {la.weight, lb.weight} | ({la.bias} if la.bias else set())
        if not touched <= allowed or lb.weight not in touched or la.weight not in touched:
            continue
        units = sorted({int(idx[0]) if name != lb.weight else int(idx[1])
                        for name, idx in (owner[i] for i in flat)})
        pos = {u: k for k, u in enumerate(units)}
        dims = layer_dims(model)
        n_in = lay[la.weight][1][1]
        n_out = lay[lb.weight][1][0]
        params = [Param(la.weight, (len(units), n_in))]
        if la.bias:
            params.append(Param(la.bias, (len(units),)))
        params.append(Param(lb.weight, (n_out, len(units))))
        layers = (Dense(la.weight, la.bias),) + model.layers[na + 1:nb] + (Dense(lb.weight),)
        label = ",".join(map(str, units))
        # The name does not say which units: structurally equal cut-outs are then equal Models, so
        # ``symbolic_net``'s cache derives the symbolic gradient once per shape (a 9-wide linear
        # layer has 45 two-unit laws; each derivation cost ~0.13 s, measured). Each law is still
        # proven by its own SymPy expansion on that derived network.
        sub = Model(f"{model.name}[{len(units)} unit(s) of {la.weight}]", dims[na], tuple(params), layers)

        def remap(name, idx, pos=pos, wb=lb.weight):
            if name == wb:
                return (idx[0], pos[idx[1]])
            return (pos[idx[0]],) + tuple(idx[1:])
        where = (f"hidden unit(s) {label} of {la.weight}: rows {label} of {la.weight}"
                 + f" become {la.weight}[0..{len(units) - 1}, :]"
                 + (f", entries {label} of {la.bias} become {la.bias}[0..{len(units) - 1}]" if la.bias else "")
                 + f", columns {label} of {lb.weight} become "
                 f"{lb.weight}[:, 0..{len(units) - 1}]; the layer input and the gradient arriving at "
                 f"{lb.weight}'s output are symbolic and the other units only add a term free of these "
                 "parameters, so conservation here implies it for the whole network")
        return sub, where, remap
    return None


def _prove_group(model: Model, laws: list[dict], entries, seed: int) -> list[tuple[dict, Verdict]]:
    """Prove a group of laws sharing a sub-network; falls back to one call per law, then to the
    whole network, so one bad candidate cannot hide the good ones."""
    flat = set().union(*[l["flat"] for l in laws])
    cut = unit_sub_model(model, flat)
    if cut is not None:
        sub, where, remap = cut
    else:
        (sub, where), remap = sub_model(model, flat), None

    def quantity(group, m):
        def build(P):
            out = {}
            for k, law in enumerate(group):
                expr = sp.Integer(0)
                for c, mon in law["mon"]:
                    term = sp.Rational(c.numerator, c.denominator)
                    for i in mon:
                        pname, idx, _ = entries[i]
                        if remap is not None and m is sub:
                            idx = remap(pname, idx)
                        term = term * P[pname][idx if len(idx) == 2 else (idx[0], 0) if idx else (0, 0)]
                    expr += term
                out[f"[law {k + 1}]" if len(group) > 1 else ""] = expr
            return out
        text = "; ".join(l["text"] for l in group) if len(group) <= 3 else f"{len(group)} discovered laws"
        return Quantity(text, build)

    def run(m, group, note):
        return prove_conserved(m, quantity(group, m), claim_id="discover", seed=seed,
                               title=f"{len(group)} discovered law(s) on {m.name}",
                               statement=(f"each of the {len(group)} discovered quantities is conserved under "
                                          f"gradient flow; proven on {note}"))

    v = run(sub, laws, where)
    if isinstance(v, Proven):
        return [(l, v) for l in laws]
    out = []
    for l in laws:
        v1 = run(sub, [l], where)
        if not isinstance(v1, Proven) and sub is not model:
            v1 = run(model, [l], f"the whole network {model.name}")
        out.append((l, v1))
    return out


def _candidate_components(allmon, order, bounds, sizes, T, G, factor, n_out) -> list[int]:
    """Components whose sampled matrix has a nullspace, decided for all components of one size at
    once (a batched SVD); most components have none, and a Python loop over ~5e4 of them cost
    ~10 s on a 9^5 net (measured)."""
    keep = []
    for size in np.unique(sizes):
        comps = np.flatnonzero(sizes == size)
        R = min(T.shape[0], factor * (int(size) + 8) * n_out)
        for chunk in np.array_split(comps, max(1, comps.size * R * int(size) // 4_000_000 + 1)):
            idx = np.stack([order[bounds[c]:bounds[c + 1]] for c in chunk])  # (K, size)
            A = _columns(allmon[idx.ravel()], T[:R], G[:R]).reshape(R, chunk.size, int(size))
            A = A.transpose(1, 0, 2)
            norms = np.linalg.norm(A, axis=1, keepdims=True)
            A = A / np.where(norms > 0, norms, 1.0)
            sv = np.linalg.svd(A, compute_uv=False)  # (K, size)
            top = np.where(sv[:, :1] > 0, sv[:, :1], 1.0)
            rank = (sv > NULL_TOL * top).sum(axis=1)
            keep += [int(c) for c, r in zip(chunk, rank) if r < size]
    return sorted(keep)


def find_laws(model: Model, *, degree: int = 2, seed: int = 0, prove: bool = True) -> LawSearch:
    """All polynomial conservation laws of degree 1..``degree`` (every loss), each proven.

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Sec 2.3; Du, Hu & Lee (2018), Thm 2.1-2.2.
    """
    with single_thread_blas():
        return _find_laws(model, degree, seed, prove)


def _find_laws(model: Model, degree: int, seed: int, prove: bool) -> LawSearch:
    import time
    t0 = time.perf_counter()
    entries = param_names(model)
    D = len(entries)
    Wg = gradings(model, seed)
    mons = _monomials(D, degree)
    allmon = np.full((sum(a.shape[0] for a in mons), degree), -1, dtype=np.int64)
    k = 0
    for a in mons:
        allmon[k:k + a.shape[0], :a.shape[1]] = a
        k += a.shape[0]
    lab, ncomp = _components(mons, Wg)
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(ncomp + 1))
    sizes = np.diff(bounds)
    rng = np.random.default_rng([seed, 11])
    dims = layer_dims(model)
    has_act = any(isinstance(l, Act) and not l.activation.is_identity for l in model.layers)
    # The nL rows of one (theta, x) are far from independent, so count distinct (theta, x) samples:
    # a component of s monomials gets s + 8 of them (x2 for ReLU, whose rows vanish where a unit
    # is off). With only s + 16 *rows* a 9-9-9 linear net lost 36 of its 45 laws to spurious
    # null vectors (measured).
    factor = 2 if has_act else 1
    need = int(factor * (sizes.max() + 8))
    n_x = 4
    n_theta = max(8, -(-need // n_x))
    T, G = _samples(model, rng, n_theta, n_x)
    Tv, Gv = _samples(model, np.random.default_rng([seed, 13]), 8, n_x)  # fresh rows for re-checks
    units = _rows_per_unit(model)
    found, min_gap = [], np.inf
    for c in _candidate_components(allmon, order, bounds, sizes, T, G, factor, dims[-1]):
        idx = order[bounds[c]:bounds[c + 1]]
        mon = allmon[idx]
        R = min(T.shape[0], factor * (idx.size + 8) * dims[-1])
        A = _columns(mon, T[:R], G[:R])
        N, kept, dropped = _nullspace(A)
        if N.shape[0] == 0:
            continue
        min_gap = min(min_gap, kept / dropped if dropped > 0 else np.inf)
        vecs, labels = [], []
        if N.shape[0] > 1:  # choose readable vectors: one structural unit at a time
            for label, uidx in units:
                inside = np.array([all(int(i) in uidx for i in m if i >= 0) for m in mon])
                if not inside.any():
                    continue
                Nu, _, _ = _nullspace(A[:, inside])
                # Reduced row-echelon rows of a rational space are rational (pivots 1).
                for v in (_rref(Nu) if Nu.shape[0] else Nu):
                    full = np.zeros(idx.size)
                    full[inside] = v
                    if np.linalg.matrix_rank(np.vstack(vecs + [full]), tol=1e-8) > len(vecs):
                        vecs.append(full)
                        labels.append(label)
        for v in _rref(N):
            if len(vecs) == N.shape[0]:
                break
            if not vecs or np.linalg.matrix_rank(np.vstack(vecs + [v]), tol=1e-8) > len(vecs):
                vecs.append(v)
                labels.append(None)
        for v, label in zip(vecs, labels):
            q = _rationalise(v)
            if q is None:
                continue
            qv = np.array([float(x) for x in q])
            check = _columns(mon, Tv, Gv) @ qv
            scale = np.abs(_columns(mon, Tv, Gv)).sum(axis=1).max() + 1e-300
            if np.abs(check).max() > 1e-9 * scale:
                continue  # not a law on fresh samples: never reported
            terms = [(q[i], tuple(int(t) for t in mon[i] if t >= 0)) for i in range(idx.size) if q[i] != 0]
            if terms and terms[0][0] < 0:
                terms = [(-cf, mm) for cf, mm in terms]
            flat = set(i for _, mm in terms for i in mm)
            pnames = tuple(sorted({entries[i][0] for i in flat}, key=[p.name for p in model.params].index))
            text = law_text([(cf, tuple(entries[i][2] for i in mm)) for cf, mm in terms])
            found.append(dict(mon=terms, flat=flat, params=pnames, text=text,
                              group=label or ", ".join(pnames)))
    t1 = time.perf_counter()
    laws, dropped = [], []
    if prove:
        groups: dict = {}
        for f in found:
            cut = unit_sub_model(model, f["flat"])
            key = cut[:2] if cut is not None else sub_model(model, f["flat"])
            groups.setdefault(key, []).append(f)
        for group in groups.values():
            for f, v in _prove_group(model, group, entries, seed):
                if isinstance(v, Proven):
                    laws.append(Law(f["text"], tuple((str(c), tuple(entries[i][2] for i in mm)) for c, mm in f["mon"]),
                                    f["params"], f["group"], v))
                else:
                    dropped.append(f"{f['text']}: {v.verdict}")
    return LawSearch(tuple(laws), len(found), tuple(dropped), ncomp, int(sizes.max()), float(min_gap),
                     int(Wg.shape[0]), t1 - t0, time.perf_counter() - t1)


