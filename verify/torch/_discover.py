"""``verify.torch.discover``: count the independent conservation laws of a module and find the
polynomial ones of degree <= 2.

Count (Marcotte, Gribonval & Peyre 2023, Thm 2.14): D - dim Lie(W)(theta0), W spanned by the fields
chi_c(theta) = J(theta)^T c (J the Jacobian of the outputs on a pool of random inputs, c random
cotangents), computed with torch.func in float64:

* round 0: the rows of J (per-point gradients, ``vmap`` over the points of ``jacrev``), scaled to norm
  1; their null space N(theta0) (dimension = laws of W alone), by an SVD, or from 2000 columns on by
  J^T J and its pivoted Cholesky factor (``verify.torch._rank``: each route certifies its decision on
  both sides or hands it to the next), is kept;
* round j: random brackets [A, B](theta0) = DB.A - DA.B of elements of W'_{j-1} (brackets of length
  <= 2^j, ``torch.func.jvp`` of the fields; samples in vmapped chunks of 16, until ``SURPLUS`` of
  them are dependent), scaled by the size of their two terms and projected onto N; an SVD of the
  projection removes the directions they reach. Stops when a round adds nothing. Linear algebra on
  one thread (``_rank.one_thread``).

Every rank decision records its singular-value gap (kept / dropped). The count on a finite input pool
is an upper bound (more inputs can only enlarge W); it is computed on two pool sizes and the smaller
is reported. Piecewise-linear modules (ReLU, max pooling) are differentiated on the activation region
of theta0, as torch.func does.

Laws: a module that maps onto a model the engine's law search handles gets the engine's proven laws;
otherwise (D <= ``SEARCH_MAX``) the degree <= 2 laws are the null space of <grad m(theta), chi(theta)>
over monomials m, rationalised, then proven on the mapped model or property-tested numerically.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from ._bridge import rref
from ._bridge import BadInput, Proven, engine_discover, engine_discover_supported
from ._rank import GRAM_MIN, RANK_TOL, null_space as _null_space, one_thread as _one_thread
from ._trace import from_module

__all__ = ["TorchDiscovery", "discover_module", "count_laws", "RANK_TOL", "GRAM_MIN", "SEARCH_MAX"]

#: Largest parameter count for the dense degree-2 law search of an unmapped module (D(D+3)/2 monomials).
SEARCH_MAX = 60


@dataclass(frozen=True)
class TorchDiscovery:
    module: str
    state_dim: int
    count: int
    counts: tuple[tuple[int, int], ...]  # (input points, count)
    history: tuple[tuple[int, int, float], ...]  # (bracket length, dim Lie so far, gap)
    laws: tuple[tuple[str, str], ...]  # (law text, how it was established)
    mapped: bool
    notes: tuple[str, ...]
    seconds: float

    def render_text(self) -> str:
        out = [f"discover {self.module} (torch) [flow]", f"  state dimension D = {self.state_dim}",
               f"  independent conservation laws: {self.count} = {self.state_dim} - dim Lie(W) = "
               f"{self.state_dim} - {self.state_dim - self.count}",
               "  count per input pool: " + ", ".join(f"{m} points: {c}" for m, c in self.counts)]
        out += [f"    brackets of length <= {L}: dim {d} (gap {g:.2e})" for L, d, g in self.history]
        out.append(f"  polynomial laws of degree <= 2: {len(self.laws)}")
        out += [f"    {t}   [{how}]" for t, how in self.laws]
        out += [f"  note: {n}" for n in self.notes]
        out.append(f"  time: {self.seconds:.2f} s")
        return "\n".join(out)


class _Fields:
    """theta (flat) -> outputs on the pool; fields J^T c and their brackets, all with torch.func."""

    def __init__(self, module, X):
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]
        self.X = X

    def unflat(self, theta):
        return {n: t.reshape(s) for n, t, s in zip(self.names, torch.split(theta, self.sizes), self.shapes)}

    def outputs(self, theta):
        return functional_call(self.module, self.unflat(theta), (self.X,)).reshape(-1)

    def point_outputs(self, theta, x):
        return functional_call(self.module, self.unflat(theta), (x.unsqueeze(0),)).reshape(-1)

    def jacobian(self, theta):
        """Rows = per-point output gradients, point-major: one reverse pass per row of ONE point
        (vmap over points of jacrev), not a reverse pass over the whole pool per row (the pool is
        ~D / n_out points, so this is ~D / n_out times less work)."""
        per_point = vmap(jacrev(self.point_outputs), in_dims=(None, 0), chunk_size=64)(theta, self.X)
        return per_point.reshape(-1, theta.numel())

    def out_dim(self, theta):
        with torch.no_grad():
            return self.outputs(theta).numel() // self.X.shape[0]

    def field(self, tree, leaves):
        """The vector field of a tree: ('leaf', i) is J^T leaves[i], ('sum', A, B), ('bracket', A, B)."""
        if tree[0] == "leaf":
            c = leaves[tree[1]]
            return lambda th: vjp(self.outputs, th)[1](c)[0]
        fa, fb = self.field(tree[1], leaves), self.field(tree[2], leaves)
        if tree[0] == "sum":
            return lambda th: fa(th) + fb(th)
        return lambda th: jvp(fb, (th,), (fa(th),))[1] - jvp(fa, (th,), (fb(th),))[1]

    def brackets_with_scale(self, tree, theta, leaves):
        """[A, B](theta) for a batch of leaf cotangents (leaves: (batch, n_leaves, n_out)), with the
        size of its two terms |DB.A| + |DA.B|; one vmapped call per round instead of a call per sample."""
        def one(lv):
            fa, fb = self.field(tree[1], lv), self.field(tree[2], lv)
            db = jvp(fb, (theta,), (fa(theta),))[1]
            da = jvp(fa, (theta,), (fb(theta),))[1]
            return db - da, db.norm() + da.norm()
        return vmap(one, chunk_size=BRACKET_CHUNK)(leaves)


#: Bracket samples evaluated together (vmap); bounds the memory of nested forward/reverse passes.
BRACKET_CHUNK = 16
#: A round stops once this many of its samples were dependent on the others. Why it may stop early: a
#: sample is a polynomial in its random leaf cotangents, so k samples span min(k, d) of the d dimensions
#: the round's brackets reach, with probability 1; the surplus guards the numerical rank decision. Before,
#: every round took dim N + 4 samples: 164 at D = 9600, where 16 show that the round adds nothing.
SURPLUS = 4


def _leaf_count(tree) -> int:
    return 1 if tree[0] == "leaf" else _leaf_count(tree[1]) + _leaf_count(tree[2])


def _element(counter, j):
    """A random element of W'_j: its shape only; leaves are numbered (their cotangents drawn apart)."""
    if j == 0:
        counter[0] += 1
        return ("leaf", counter[0] - 1)
    return ("sum", _element(counter, j - 1), ("bracket", _element(counter, j - 1), _element(counter, j - 1)))


def _round_shape(j):
    counter = [0]
    if j == 1:
        return ("bracket", _element(counter, 0), _element(counter, 0))
    return ("bracket", ("bracket", _element(counter, j - 2), _element(counter, j - 2)), _element(counter, j - 1))


def count_laws(module, in_shape, *, points: int, seed: int, max_depth: int = 8, timings: dict | None = None):
    """(count, history) on a pool of ``points`` random inputs at a random theta0; ``timings`` (if given)
    receives the seconds of the Jacobian, the round-0 null space (and, on the pivoted route, its Gram,
    pivoted Cholesky and kept-estimate phases, with kept and dropped in units of res) and the bracket rounds."""
    with _one_thread():
        return _count_laws(module, in_shape, points=points, seed=seed, max_depth=max_depth,
                           timings={} if timings is None else timings)


def _count_laws(module, in_shape, *, points: int, seed: int, max_depth: int, timings: dict):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn((points,) + tuple(in_shape), generator=gen, dtype=torch.float64)
    f = _Fields(module, X)
    theta0 = torch.cat([torch.randn(p.shape, generator=gen, dtype=torch.float64).reshape(-1) *
                        (float(p.detach().std()) if p.numel() > 1 and float(p.detach().std()) > 0 else 1.0)
                        for _, p in module.named_parameters()])
    with torch.no_grad():  # the count is of per-point functions f(theta, x): refuse batch coupling
        pool = f.outputs(theta0)
        alone = vmap(f.point_outputs, in_dims=(None, 0))(theta0, X).reshape(-1)
    if not torch.allclose(pool, alone, rtol=1e-9, atol=1e-12 * float(pool.abs().max().clamp(min=1.0))):
        raise BadInput(f"{type(module).__name__}: the output of a point depends on the other points of the batch "
                       "(batch-coupled layers, e.g. BatchNorm in training mode); a law count needs per-point "
                       "outputs. Use check, or put the module in eval mode.")
    t0 = time.perf_counter()
    J = f.jacobian(theta0)
    t1 = time.perf_counter()
    N, gap = _null_space(J, timings=timings)
    timings.update(jacobian=t1 - t0, null_space=time.perf_counter() - t1)
    t1 = time.perf_counter()
    D = theta0.numel()
    history = [(1, D - N.shape[0], gap)]
    rng = np.random.default_rng([seed, 2])
    n_out = J.shape[0]
    j = 1
    while N.shape[0] and 2 ** j <= max_depth:
        tree = _round_shape(j)
        rows = torch.zeros((0, D), dtype=torch.float64)
        taken = 0
        while True:  # chunks of samples until SURPLUS of them are dependent (or the rank is dim N)
            k = min(BRACKET_CHUNK, N.shape[0] + SURPLUS)  # a small N: its dim N + SURPLUS samples in one chunk
            leaves = torch.tensor(rng.standard_normal((k, _leaf_count(tree), n_out)), dtype=torch.float64)
            vals, scales = f.brackets_with_scale(tree, theta0, leaves)
            taken += k
            keep = scales > 0
            rows = torch.cat([rows, vals[keep] / scales[keep, None]])
            proj = rows @ N.T
            if proj.numel():
                _, s, vt = torch.linalg.svd(proj, full_matrices=True)
            else:
                s, vt = torch.zeros(0, dtype=torch.float64), torch.eye(N.shape[0], dtype=torch.float64)
            r = int((s > RANK_TOL).sum())
            if r == N.shape[0] or taken >= r + SURPLUS:
                break
        kept = float(s[r - 1]) if r else 1.0
        dropped = float(s[r]) if r < s.numel() else 0.0
        history.append((2 ** j, D - N.shape[0] + r, kept / dropped if dropped > 0 else math.inf))
        if r == 0:
            break
        N = vt[r:] @ N
        j += 1
    timings["brackets"] = time.perf_counter() - t1
    return N.shape[0], tuple(history)


def _monomials(D):
    return [(i,) for i in range(D)] + list(itertools.combinations_with_replacement(range(D), 2))


def _search(module, in_shape, seed, labels):
    """Degree <= 2 laws of an unmapped module: null space of <grad m(theta), chi(theta)> over samples."""
    rng = np.random.default_rng([seed, 11])
    mons = _monomials(len(labels))
    rows, trows = [], []
    while len(rows) < 2 * len(mons) + 16:
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        X = torch.randn((4,) + tuple(in_shape), generator=gen, dtype=torch.float64)
        f = _Fields(module, X)
        theta = torch.randn(len(labels), generator=gen, dtype=torch.float64)
        J = f.jacobian(theta).numpy()
        rows.extend(J)
        trows.extend([theta.numpy()] * J.shape[0])
    G, T = np.array(rows), np.array(trows)
    A = np.stack([G[:, m[0]] if len(m) == 1 else G[:, m[0]] * T[:, m[1]] + T[:, m[0]] * G[:, m[1]] for m in mons],
                 axis=1)
    scale = np.maximum(np.linalg.norm(A, axis=0), 1e-300)
    N, _ = _null_space(torch.from_numpy(A / scale))
    N = N.numpy() / scale
    laws = []
    for v in rref(N):
        v = v / v[np.argmax(np.abs(v))]
        q = [Fraction(float(x)).limit_denominator(1000) for x in v]
        if max(abs(float(a) - b) for a, b in zip(q, v)) > 1e-7:
            continue
        terms = [(c, mons[i]) for i, c in enumerate(q) if c != 0]
        laws.append(" + ".join(f"({c})*" + "*".join(labels[k] for k in m) for c, m in terms).replace("+ (-", "- ("))
    return laws




def _entry_labels(module):
    out = []
    for n, p in module.named_parameters():
        for idx in itertools.product(*(range(s) for s in p.shape)):
            out.append(f"{n}[{','.join(map(str, idx))}]" if idx else n)
    return out


def discover_module(module, x, *, degree: int = 2, seed: int = 0, points: int | None = None) -> TorchDiscovery:
    """Count (torch.func Lie rank) and degree <= ``degree`` polynomial laws of ``module``."""
    from .api import check
    if degree not in (0, 1, 2):
        raise BadInput(f"Got degree={degree}; the torch route searches degree 0 (count only), 1 or 2.")
    t0 = time.perf_counter()
    m64 = __import__("copy").deepcopy(module).double()
    in_shape = tuple(x.shape[1:])
    with torch.no_grad():
        n_out = m64(x).reshape(x.shape[0], -1).shape[1]
    D = sum(p.numel() for p in m64.parameters())
    base = points or max(16, -(-(D + 8) // n_out))
    counts, hist = [], ()
    for m in (base, 2 * base) if D <= 4000 else (base,):
        try:
            c, h = count_laws(m64, in_shape, points=m, seed=seed)
        except (RuntimeError, ValueError) as exc:  # e.g. BatchNorm's in-place running statistics
            first = (str(exc).strip().splitlines() or [""])[0][:140]
            raise BadInput(f"discover needs the outputs as a function of each point and the parameters; "
                           f"torch.func could not differentiate {type(module).__name__} ({first}). Batch-coupled "
                           "layers (BatchNorm in training mode) have no per-point law count; use check.") from None
        counts.append((m, c))
        if c == min(cc for _, cc in counts):
            hist = h
    count = min(c for _, c in counts)
    notes = []
    if len(counts) > 1 and counts[0][1] != counts[1][1]:
        notes.append("the count fell with more input points: it is an upper bound (more inputs can only lower it)")
    mapping = from_module(module, x)
    laws = []
    model = mapping.model  # None when the module does not map onto the model definition
    why = engine_discover_supported(model) if model is not None else "; ".join(mapping.unsupported[:2])
    if degree and model is not None and not why:
        r = engine_discover(model, degree=degree, seed=seed)
        laws = [(law.text, "proven by the engine") for law in r.laws if isinstance(law.certificate, Proven)]
        notes += list(r.notes)
    elif degree and D <= SEARCH_MAX:
        notes.append(f"law search on the module itself ({why})")
        for text in _search(m64, in_shape, seed, _entry_labels(m64)):
            v = check(module, text, example_input=x, draws=30, seed=seed)
            laws.append((text, v.kind if hasattr(v, "kind") else v.verdict))
    elif degree:
        notes.append(f"law search skipped: D = {D} > {SEARCH_MAX} for the dense degree-2 search on the module "
                     f"itself, used because the engine's search does not apply ({why}); the count above still holds")
    return TorchDiscovery(type(module).__name__, D, count, tuple(counts), hist, tuple(laws), mapping.mapped,
                          tuple(notes), time.perf_counter() - t0)
