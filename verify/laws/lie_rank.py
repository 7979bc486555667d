"""Number of functionally independent conservation laws: D - dim Lie(W)(theta) at a generic theta.

W is spanned by the vector fields chi_{x,j}(theta) = grad_theta f_j(x; theta). Lie(W) is the Lie
algebra they generate under [X1, X2] = DX2.X1 - DX1.X2. We build the nested spaces W'_0 = W and
W'_j = W'_{j-1} + [W'_{j-1}, W'_{j-1}] (doubling: brackets of length <= 2^j after j rounds) and stop
when dim W'_j(theta0) stops growing: at a generic point equal ranks hold on an open set, so the
distribution W'_j(theta) is involutive there and equals Lie(W)(theta).

Numerics, and why they are exact up to round-off:

* fields are evaluated by a hand-vectorised NumPy forward + reverse pass, batched over samples, so
  every sample carries its own random element (a random cotangent ``c`` on a fixed data set);
* on an activation region (ReLU: the region constants s fixed) every field is a polynomial in theta,
  so it extends exactly to truncated Taylor arithmetic ("jets", eps^2 = 0): X(P + eps V) gives
  DX(P).V with no step size, and a bracket nested h deep is evaluated on jets in h directions;
* the span of random samples of a multilinear bracket map equals the span of its image once a
  batch of samples is not of full rank (the failure set is a proper algebraic subset);
* every rank decision is an SVD of rows scaled by the size of their terms, with the gap
  sigma_r / sigma_{r+1} recorded.

References:
    Marcotte, Gribonval & Peyre (2023), "Abide by the law and follow the flow: conservation laws for
    gradient flows", NeurIPS, Thm 2.14 (count = D - dim Lie(W)(theta)) and Sec 3 (algorithm).
    Marcotte, Peyre & Gribonval (2024), "Keep the momentum: conservation laws beyond Euclidean
    gradient flows", ICML, Sec 4 (heavy-ball flow as a first-order system in (theta, v)).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from verify.errors import BadInput
from verify.model import Act, DiagonalLinear, Dense, Model, layer_dims, require_layers

__all__ = [
    "param_layout", "net_degree", "forward_backward", "RankStep", "LieRank", "Region",
    "sample_region", "lie_rank", "RANK_TOL", "single_thread_blas", "check_supported",
]

#: Singular-value threshold of every rank decision (rows scaled by the size of their terms). On
#: the 50 benchmark nets, the test nets and 2-layer momentum flows (brackets up to length 16 on
#: jets) the largest discarded value was 1.2e-12 and the smallest kept one 3.3e-6 (9-3-8-9-2
#: linear, length-8 brackets), measured; 1e-9 sits near their geometric mean (2e-9).
RANK_TOL = 1e-9

#: Samples in the first batch of a round, the probe that decides whether the round adds anything
#: (any positive number is correct with probability 1; 4 guards against a near-degenerate draw).
_PROBE = 4


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run OpenBLAS on one thread inside the block (restored afterwards).

    Why: the matrices here are at most a few hundred wide; on the 2-core reference machine under
    load, OpenBLAS's threads contend and an SVD of a 328 x 324 matrix took 2.6 s with 2 threads
    against 0.05 s with 1 (measured). Without a loaded OpenBLAS this is a no-op.
    """
    lib, getter, setter = None, None, None
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and "/" in ln})
        for path in paths:
            cand = ctypes.CDLL(path)
            for pre in ("scipy_openblas_", "openblas_"):
                for suf in ("64_", ""):
                    if hasattr(cand, f"{pre}set_num_threads{suf}") and hasattr(cand, f"{pre}get_num_threads{suf}"):
                        lib, setter, getter = cand, f"{pre}set_num_threads{suf}", f"{pre}get_num_threads{suf}"
                        break
                if lib is not None:
                    break
            if lib is not None:
                break
    except OSError:
        lib = None
    if lib is None:
        yield
        return
    before = int(getattr(lib, getter)())
    getattr(lib, setter)(1)
    try:
        yield
    finally:
        getattr(lib, setter)(before)


def param_layout(model: Model) -> dict[str, tuple[int, tuple[int, ...]]]:
    """name -> (offset, shape) of each parameter in the flat theta (row-major, declaration order,
    the same order as ``symbolic_net(model).theta``)."""
    out, k = {}, 0
    for p in model.params:
        size = int(np.prod(p.shape)) if p.shape else 1
        out[p.name] = (k, p.shape)
        k += size
    return out


def check_supported(model: Model) -> None:
    """Raise BadInput unless the model is a dense/shared/diagonal net with homogeneous activations
    with concrete slopes (polynomial on each activation region)."""
    require_layers(model, (Dense, Act, DiagonalLinear), "discover")
    for layer in model.layers:
        if isinstance(layer, DiagonalLinear) and layer.minus:
            raise BadInput(f"discover handles w = u1 o ... o uL only, not differences (in {model.name!r}); "
                           "use `verify check` with a quantity for this model.")
        if isinstance(layer, Act) and not layer.activation.is_homogeneous:
            raise BadInput(f"Got activation {layer.activation.name!r} in {model.name!r}; discover needs "
                           "homogeneous activations (identity, relu, leaky_relu, relu_power), where the "
                           "network is polynomial on each activation region.")
        if isinstance(layer, Act) and layer.activation.slopes is None:
            raise BadInput(f"Activation {layer.activation.name!r} has no concrete slopes; use relu, "
                           "leaky_relu(a), identity or relu_power(k).")


def net_degree(model: Model) -> int:
    """Polynomial degree of f in theta on one activation region (an upper bound, from the layers)."""
    deg = 0
    for layer in model.layers:
        if isinstance(layer, Dense):
            deg = deg + 1
        elif isinstance(layer, Act):
            deg = deg * layer.activation.degree
        elif isinstance(layer, DiagonalLinear):
            deg = deg + len(layer.factors)
    return deg


def _unpack(model: Model, Theta: np.ndarray) -> dict[str, np.ndarray]:
    n = Theta.shape[0]
    return {name: Theta[:, k:k + (int(np.prod(s)) if s else 1)].reshape((n,) + s)
            for name, (k, s) in param_layout(model).items()}


def _weight(layer: Dense, P, n):
    if layer.pattern is None:
        return P[layer.weight]
    pat = np.asarray(layer.pattern)
    v = np.concatenate([np.zeros((n, 1)), P[layer.weight]], axis=1)  # index 0 = missing entry
    return v[:, pat]


class _Jets:
    """Truncated Taylor arithmetic in k nilpotent directions (eps_i^2 = 0), batched NumPy.

    A jet is stored jet-major in the batch axis: row ``S * n + i`` is the coefficient of the
    monomial prod_{b in S} eps_b (S a bitmask) for sample i. Polynomial maps extend exactly to
    jets, so F(P + eps V) = F(P) + eps DF(P).V with no step size and no cancellation: the bracket
    [X, Y] = DY.X - DX.Y is exact up to the round-off of the products themselves. The product of
    two jets is the subset convolution C_T = sum_{S subset T} A_S B_{T minus S} (3^k products).
    """

    def __init__(self, k: int):
        self.k, self.J = k, 1 << k
        pairs = [(S, T ^ S, T) for T in range(self.J) for S in range(self.J) if S & T == S]
        self.left = np.array([p[0] for p in pairs])
        self.right = np.array([p[1] for p in pairs])
        T = np.array([p[2] for p in pairs])
        self.starts = np.flatnonzero(np.r_[True, T[1:] != T[:-1]])

    def prod(self, op, x, xc: bool, y, yc: bool):
        """op(x, y) for op bilinear (multiply, matmul); xc / yc say that an operand is a constant
        (free of theta, stored plainly with n or 1 rows). Returns (value, is_constant)."""
        if xc and yc:
            return op(x, y), True
        if self.J == 1:
            return op(x, y), False
        if xc or yc:  # constant times jet acts on every coefficient
            Y = (y if xc else x).reshape((self.J, -1) + (y if xc else x).shape[1:])
            out = op(x[None], Y) if xc else op(Y, y[None])
            return out.reshape((-1,) + out.shape[2:]), False
        A = x.reshape((self.J, -1) + x.shape[1:])
        B = y.reshape((self.J, -1) + y.shape[1:])
        out = np.add.reduceat(op(A[self.left], B[self.right]), self.starts, axis=0)
        return out.reshape((-1,) + out.shape[2:]), False

    def as_jet(self, x, xc: bool, n: int):
        """A value as jet coefficients with n rows (a constant has only the eps^0 coefficient)."""
        if not xc or self.J == 1:
            return x
        out = np.zeros((n,) + x.shape[1:])
        out[:n // self.J] = x
        return out


_PLAIN = _Jets(0)


def forward_backward(model: Model, Theta: np.ndarray, X: np.ndarray, cot: np.ndarray | None = None,
                     slopes: list[np.ndarray] | None = None, want_x: bool = False, jets: _Jets = _PLAIN):
    """Batched forward pass and (optionally) reverse pass.

    Args:
        Theta: (n, D) parameter points (with ``jets``: (2^k n, D) jet coefficients).
        X: (n or 1, m, input_dim) data, m points per parameter point.
        cot: (n or 1, m, output_dim) cotangents; returns grad_theta of sum(cot * f) when given.
        slopes: one (n or 1, m, width) array per activation layer with the region constants s
            (phi(z) = s z**k); ``None`` takes them from the sign of z (the actual region).
        want_x: also return grad_x of sum(cot * f), shape (n, m, input_dim).
        jets: evaluate on jets (``lie_rank``'s exact directional derivatives); X, cot and slopes
            are then constants (free of theta) with the samples' row count (or 1).

    Returns:
        (F, grad_theta, grad_x, slopes_used); absent parts are None.
    """
    n = Theta.shape[0]
    P = _unpack(model, Theta)
    mul = lambda x, xc, y, yc: jets.prod(np.multiply, x, xc, y, yc)  # noqa: E731
    mm = lambda x, xc, y, yc: jets.prod(np.matmul, x, xc, y, yc)  # noqa: E731
    a, ac = np.asarray(X, float), True  # (value, is free of theta)
    tape, used, act_i = [], [], 0
    for layer in model.layers:
        if isinstance(layer, Dense):
            W = _weight(layer, P, n)
            tape.append(("dense", layer, W, a, ac))
            a, ac = mm(a, ac, W.transpose(0, 2, 1), False)  # batched matmul (BLAS), faster than einsum
            if layer.bias is not None:
                a = a + P[layer.bias][:, None, :]
        elif isinstance(layer, Act):
            act = layer.activation
            if slopes is None:
                pos, neg = (float(s) for s in act.slopes)
                s = np.where(a > 0, pos, neg)
            else:
                s = slopes[act_i]
            act_i += 1
            used.append(s)
            tape.append(("act", act.degree, s, a, ac))
            ak, akc = a, ac
            for _ in range(act.degree - 1):
                ak, akc = mul(ak, akc, a, ac)
            a, ac = mul(ak, akc, s, True)
        elif isinstance(layer, DiagonalLinear):
            us = [P[f] for f in layer.factors]
            w = us[0]
            for u in us[1:]:
                w, _ = mul(w, False, u, False)
            tape.append(("diag", layer, us, w, a, ac))
            a, ac = mm(a, ac, w[:, :, None], False)
    if cot is None:
        return a, None, None, used
    G = np.zeros_like(Theta)
    lay = param_layout(model)

    def put(name, g, gc):
        k, s = lay[name]
        size = int(np.prod(s)) if s else 1
        g = jets.as_jet(g, gc, n)
        G[:, k:k + size] += np.broadcast_to(g, (n,) + g.shape[1:]).reshape(n, size)

    d, dc = np.asarray(cot, float), True
    for item in reversed(tape):
        if item[0] == "dense":
            _, layer, W, a_in, c_in = item
            dW, dWc = mm(d.transpose(0, 2, 1), dc, a_in, c_in)
            if layer.bias is not None:
                put(layer.bias, d.sum(axis=1), dc)
            if layer.pattern is None:
                put(layer.weight, dW, dWc)
            else:
                pat = np.asarray(layer.pattern).ravel()
                nv = lay[layer.weight][1][0]
                onehot = np.zeros((pat.size, nv + 1))
                onehot[np.arange(pat.size), pat] = 1.0
                flat = dW.reshape(dW.shape[0], -1) @ onehot  # a constant matrix acts coefficient-wise
                put(layer.weight, flat[:, 1:], dWc)
            d, dc = mm(d, dc, W, False)
        elif item[0] == "act":
            _, k, s, z, c_in = item
            fac, facc = k * s, True  # phi'(z) = k s z^(k-1)
            for _ in range(k - 1):
                fac, facc = mul(fac, facc, z, c_in)
            d, dc = mul(d, dc, fac, facc)
        else:
            _, layer, us, w, a_in, c_in = item
            g = d[..., 0]
            dw, dwc = mm(g[:, None, :], dc, a_in, c_in)
            dw = dw[:, 0, :]
            for i, f in enumerate(layer.factors):
                gi, gic = dw, dwc
                for j, u in enumerate(us):
                    if j != i:
                        gi, gic = mul(gi, gic, u, False)
                put(f, gi, gic)
            d, dc = mul(g[..., None], dc, w[:, None, :], False)
    if want_x:
        d = jets.as_jet(d, dc, n)
    return a, G, (d if want_x else None), used


@dataclass(frozen=True)
class Region:
    """The data set and activation region on which the count is computed.

    Attributes:
        theta0: the generic base point (flat).
        X: (m, input_dim) data points.
        slopes: per activation layer, (m, width) region constants s (phi(z) = s z**k).
        description: human-readable statement of the region.
        patterns: the 0/1 sign pattern (z > 0) of every hidden unit used, one string per pattern.
        patterns_seen: distinct patterns the candidate inputs reached at theta0 (>= len(patterns)).
    """

    theta0: np.ndarray
    X: np.ndarray
    slopes: tuple[np.ndarray, ...]
    description: str
    patterns: tuple[str, ...]
    patterns_seen: int = 0


#: Candidate inputs whose activation patterns at theta0 are collected (a 2-input net reached all
#: of its <= 32 patterns within 1000 points; 9-input nets reach thousands, more than are ever needed).
_POOL = 4000

#: Patterns in the first try of the adaptive region, and the cap on data points (patterns x points
#: per pattern) beyond which patterns are no longer added (cost grows linearly with the data).
_FIRST_PATTERNS = 16
_MAX_DATA = 1500


def _points_per_pattern(model: Model) -> int:
    """Generic points that span the fields of one pattern: with the slopes fixed, f is a polynomial
    in x of degree prod(k) (affine for relu/identity), so that many monomials in x suffice."""
    deg = 1
    for layer in model.layers:
        if isinstance(layer, Act):
            deg *= layer.activation.degree
    return min(int(math.comb(model.input_dim + deg, deg)), 64)


def sample_region(model: Model, seed: int, n_patterns: int | None = None) -> Region:
    """A generic theta0 and data covering the activation patterns that inputs reach at theta0.

    Why patterns and not random data: a law must hold for every input x, so W is spanned by the
    fields of every piece of input space. Random data miss thin pieces, and then W is too small and
    the count too large (a 2-5-4-7-7 ReLU net gave 31, 26, 16 and 22 laws for 56..3000 random
    points, measured). With the slopes of a pattern fixed, its fields are polynomial in x, so
    ``_points_per_pattern`` generic points (not necessarily inside the piece) span them exactly.

    Args:
        n_patterns: how many of the reached patterns to use, in order of first appearance among
            random inputs (so roughly by probability); None uses all of them.
    """
    check_supported(model)
    rng = np.random.default_rng(seed)
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    dims = layer_dims(model)
    acts = [l.activation for l in model.layers if isinstance(l, Act)]
    relu = any(not a.is_identity for a in acts)
    q = _points_per_pattern(model)
    if not relu:
        X = rng.standard_normal((q, dims[0]))
        theta0 = rng.standard_normal(D)
        _, _, _, used = forward_backward(model, theta0[None], X[None])
        return Region(theta0, X, tuple(s[0] for s in used),
                      "polynomial network (no activation region needed)", (), 0)
    pool = rng.standard_normal((_POOL, dims[0]))
    # A *generic* region: every hidden unit active on some inputs and inactive on others. A random
    # theta0 can kill a whole deep layer (then its weights are trivially conserved and the count
    # differs); redraw theta0 (same seed stream) until each unit's active fraction is in [0.2, 0.8],
    # keeping the most balanced draw if 200 tries do not succeed.
    best, best_score = None, -1.0
    for _ in range(200):
        theta0 = rng.standard_normal(D)
        _, _, _, used = forward_backward(model, theta0[None], pool[None, :500])  # fractions: 500 suffice
        fr = [np.mean(s[0] == float(a.slopes[0]), axis=0) for s, a in zip(used, acts) if not a.is_identity]
        score = min((min(f.min(), 1 - f.max()) for f in fr), default=0.5)
        if score > best_score:
            best, best_score = (theta0, used), score
        if score >= 0.2:
            break
    theta0, _ = best
    _, _, _, used = forward_backward(model, theta0[None], pool[None])
    pos = [float(a.slopes[0]) for a in acts]  # SymPy numbers: convert once (51k float() cost 0.4 s)
    on = np.concatenate([s[0] == p for s, p in zip(used, pos)], axis=1)
    _, first = np.unique(on, axis=0, return_index=True)
    first = np.sort(first)
    seen = first.size
    first = first[:n_patterns] if n_patterns else first
    X = rng.standard_normal((first.size * q, dims[0]))
    slopes = tuple(np.repeat(s[0][first], q, axis=0) for s in used)
    rows = tuple("|".join("".join("1" if v == ps else "0" for v in s[0][p])
                          for s, ps, a in zip(used, pos, acts) if not a.is_identity) for p in first)
    frac = [float(np.mean(s[0] == ps)) for s, ps, a in zip(used, pos, acts) if not a.is_identity]
    desc = (f"activation region at a random theta0 (seed {seed}): {first.size} of the {seen} activation "
            f"patterns reached by {_POOL} random inputs, each with its slopes fixed and {q} generic data "
            "points; fraction of active units per hidden layer " + ", ".join(f"{f:.2f}" for f in frac))
    return Region(theta0, X, slopes, desc, rows, seen)


# ---------------------------------------------------------------------------------------------
# Vector fields on a region, evaluated on jets, and random elements of the nested spaces


@dataclass(frozen=True)
class _Family:
    """A family of polynomial vector fields X(z; c) on R^N, c a random element label per sample."""

    dim: int
    sample: Callable  # (rng, n) -> parameters
    evaluate: Callable  # (Z (2^k n, N) jet coefficients, params, jets) -> (2^k n, N)


def _gradient_family(model: Model, region: Region) -> _Family:
    D = region.theta0.size
    m, out = region.X.shape[0], layer_dims(model)[-1]
    X1 = region.X[None]
    slopes = [s[None] for s in region.slopes]

    def sample(rng, n):
        return rng.standard_normal((n, m, out))

    def evaluate(Z, C, jets):
        return forward_backward(model, Z, X1, C, slopes, jets=jets)[1]

    return _Family(D, sample, evaluate)


def _momentum_family(model: Model, region: Region, friction: float) -> _Family:
    """Heavy-ball flow theta' = v, v' = -friction v - grad L(theta) for every loss L.

    The flow field for a loss is X_0 - sum_{x,j} l'_{x,j} Y_{x,j} with X_0(theta, v) = (v, -friction v)
    and Y_{x,j}(theta, v) = (0, grad_theta f_j(x; theta)); a law for every loss (the l' are
    arbitrary, zero included) is orthogonal to X_0 and to every Y, so W = span{X_0, Y_{x,j}}.
    """
    grad = _gradient_family(model, region)
    D = grad.dim

    def sample(rng, n):
        return rng.standard_normal(n), grad.sample(rng, n)

    def evaluate(Z, params, jets):
        a0, C = params
        a0 = np.concatenate([a0] * jets.J)[:, None]  # a constant acts on every jet coefficient
        th, v = Z[:, :D], Z[:, D:]
        out = np.empty_like(Z)
        out[:, :D] = a0 * v
        out[:, D:] = -friction * a0 * v + grad.evaluate(th, C, jets)
        return out

    return _Family(2 * D, sample, evaluate)


# A random element of a space of fields is a tree: ("leaf", params) is a random element of W,
# ("sum", A, B) is A + B and ("bracket", A, B) is [A, B].

def _element(fam: _Family, rng, n: int, j: int):
    """A random element of W'_j, where W'_0 = W and W'_j = W'_{j-1} + [W'_{j-1}, W'_{j-1}]
    (brackets of length <= 2^j): e_j = e_{j-1} + [e'_{j-1}, e''_{j-1}] with independent draws.
    Sums of such draws span W'_j, and the bracket map is bilinear, so random draws of e_j reach
    the span of [W'_j, W'_j](theta0) with probability 1 (the failure set is algebraic)."""
    if j == 0:
        return ("leaf", fam.sample(rng, n))
    return ("sum", _element(fam, rng, n, j - 1),
            ("bracket", _element(fam, rng, n, j - 1), _element(fam, rng, n, j - 1)))


def _round_sample(fam: _Family, rng, n: int, j: int):
    """A random element of what round j can add: [W'_{j-1}, W'_{j-1}] modulo W'_{j-1}.

    With N_{j-1} = [W'_{j-2}, W'_{j-2}] (N_0 = W): [W'_{j-1}, W'_{j-1}] is
    [W'_{j-2}, W'_{j-2}] (already in W'_{j-1}) + [N_{j-1}, W'_{j-1}], so only the new directions
    are bracketed again."""
    if j == 1:
        return ("bracket", _element(fam, rng, n, 0), _element(fam, rng, n, 0))
    new = ("bracket", _element(fam, rng, n, j - 2), _element(fam, rng, n, j - 2))
    return ("bracket", new, _element(fam, rng, n, j - 1))


def _evaluate(fam: _Family, tree, P: np.ndarray, k: int, n: int):
    """Value of the field ``tree`` on the jet point P (level k: 2^k n rows), exact to round-off.

    [A, B](P) = DB(P).A(P) - DA(P).B(P): B on the jet P + eps A(P) (eps a new nilpotent direction)
    returns B(P) and DB(P).A(P) as its two halves, and likewise for A. Returns (value, scale) where
    scale is |DB.A| + |DA.B| (the size of the terms a cancelling bracket is round-off of)."""
    kind = tree[0]
    if kind == "leaf":
        v = fam.evaluate(P, tree[1], _jets(k))
        return v, None
    if kind == "sum":
        (a, _), (b, _) = _evaluate(fam, tree[1], P, k, n), _evaluate(fam, tree[2], P, k, n)
        return a + b, None
    A, B = tree[1], tree[2]
    rows = P.shape[0]
    av, _ = _evaluate(fam, A, P, k, n)
    bb, _ = _evaluate(fam, B, np.concatenate([P, av]), k + 1, n)
    aa, _ = _evaluate(fam, A, np.concatenate([P, bb[:rows]]), k + 1, n)
    dB, dA = bb[rows:], aa[rows:]
    scale = np.linalg.norm(dB[:n], axis=1) + np.linalg.norm(dA[:n], axis=1) if k == 0 else None
    return dB - dA, scale


@lru_cache(maxsize=None)
def _jets(k: int) -> _Jets:
    """The (read-only) product tables for k directions, built once per k."""
    return _Jets(k)


@dataclass(frozen=True)
class RankStep:
    """One rank decision: dimension after adding brackets of length <= ``depth``, and its SVD gap.

    ``sigma_kept`` is the smallest singular value counted (relative), ``sigma_dropped`` the largest
    discarded one (0 if none); ``gap`` = sigma_kept / sigma_dropped (inf if nothing was dropped).
    """

    depth: int
    samples: int
    dim: int
    sigma_kept: float
    sigma_dropped: float
    gap: float


@dataclass(frozen=True)
class LieRank:
    """D - dim Lie(W)(theta0) with the rank history.

    ``converged`` is False when the dimension still grew at the last allowed bracket length (the
    count is then only an upper bound on the number of laws).
    """

    state_dim: int
    lie_dim: int
    count: int
    history: tuple[RankStep, ...]
    fields: str
    region: Region
    converged: bool = True


def _gradient_rows(model: Model, region: Region, start: int = 0) -> np.ndarray:
    """The rows grad_theta f_j(x_i; theta0) for data points i >= start, each with its region slopes."""
    m, out = region.X.shape[0] - start, layer_dims(model)[-1]
    Theta = np.broadcast_to(region.theta0, (m, region.theta0.size))
    X = region.X[start:, None, :]
    slopes = [s[start:, None, :] for s in region.slopes]
    rows = []
    for j in range(out):
        cot = np.zeros((m, 1, out))
        cot[:, :, j] = 1.0
        rows.append(forward_backward(model, Theta, X, cot, slopes)[1])
    return np.vstack(rows)


def _decide(rows: np.ndarray, scale: np.ndarray, basis: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """New orthonormal directions among ``rows`` modulo ``basis``; (directions, kept, dropped).

    Rows are divided by the size of the terms they were computed from (not by their own norm), so
    an exactly vanishing bracket stays at round-off level instead of being blown up to norm 1.
    """
    ok = scale > 0
    rows = rows[ok] / scale[ok, None]
    if basis is not None and basis.shape[0]:
        # Projected twice ("twice is enough", Giraud et al. 2005): keeps the basis orthonormal to
        # round-off even when a sample lies almost inside the current span.
        rows = rows - (rows @ basis.T) @ basis
        rows = rows - (rows @ basis.T) @ basis
    if rows.shape[0] == 0:
        return np.zeros((0, rows.shape[1] if rows.ndim == 2 else 0)), 1.0, 0.0
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    k = int(np.sum(s > RANK_TOL))
    kept = float(s[k - 1]) if k else 1.0  # nothing kept: compare with the unit scale of the rows
    dropped = float(s[k]) if k < s.size else 0.0
    return vt[:k], kept, dropped


def lie_rank(model: Model, *, dynamics: str = "flow", seed: int = 0, friction: float = 0.0,
             max_depth: int = 32, region: Region | None = None, lower_bound: int | None = None) -> LieRank:
    """Count functionally independent conservation laws as D - dim Lie(W)(theta0).

    Args:
        model: a Dense/Act/DiagonalLinear model with homogeneous activations.
        dynamics: "flow" (gradient flow, state theta) or "momentum" (heavy-ball, state (theta, v)).
        seed: seeds theta0, the data set (hence the region) and the random elements of W.
        friction: heavy-ball friction; laws are time-independent only for 0 (the default).
        max_depth: longest bracket tried before giving up (rounds double it: 2, 4, 8, ...); when
            the dimension still grows there, ``converged`` is False.
        region: use exactly this region (else ``sample_region(model, seed)``, with activation
            patterns added until the count repeats).
        lower_bound: a proven number of independent laws (e.g. ``discover``'s polynomial laws);
            adding patterns stops once the count reaches it, since more data can only lower it.

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Thm 2.14 and Prop 3.8 (stopping rule).
        Marcotte, Peyre & Gribonval (2024), ICML, Sec 4 (momentum).
    """
    with single_thread_blas():
        if region is not None:
            return _lie_rank(model, dynamics, seed, friction, max_depth, region)[0]
        full = sample_region(model, seed)
        if not full.patterns:
            return _lie_rank(model, dynamics, seed, friction, max_depth, full)[0]
        # More patterns can only enlarge W, hence Lie(W): the count on a subset of the patterns is
        # an upper bound. Double the patterns used until the count repeats (or all are used, or
        # the data would exceed _MAX_DATA points); most nets settle with a few dozen patterns.
        counts, n_pat, result, prior = [], _FIRST_PATTERNS, None, None
        while True:
            n_pat = min(n_pat, len(full.patterns))
            q = full.X.shape[0] // len(full.patterns)
            region = Region(full.theta0, full.X[:n_pat * q], tuple(s[:n_pat * q] for s in full.slopes),
                            full.description.replace(f"{len(full.patterns)} of the", f"{n_pat} of the", 1),
                            full.patterns[:n_pat], full.patterns_seen)
            result, w0 = _lie_rank(model, dynamics, seed, friction, max_depth, region, prior)
            prior = (w0, region.X.shape[0])
            counts.append((n_pat, result.count))
            if n_pat == len(full.patterns):
                why = "every reached pattern used"
            elif lower_bound is not None and result.count <= lower_bound:
                why = "the count met the proven lower bound"
            elif len(counts) > 1 and counts[-1][1] == counts[-2][1]:
                why = "the count repeated"
            elif 2 * n_pat * q > _MAX_DATA:
                why = f"data cap of {_MAX_DATA} points reached: the count is an upper bound"
            else:
                n_pat *= 2
                continue
            break
        desc = (region.description + "; count with " + ", ".join(f"{p} patterns: {c}" for p, c in counts)
                + f" (stopped: {why})")
        return LieRank(result.state_dim, result.lie_dim, result.count, result.history, result.fields,
                       Region(region.theta0, region.X, region.slopes, desc, region.patterns,
                              region.patterns_seen), result.converged)


def _lie_rank(model, dynamics, seed, friction, max_depth, region, prior=None) -> tuple[LieRank, np.ndarray]:
    """The count on ``region``, and an orthonormal basis of W(theta0).

    ``prior`` = (basis of W(theta0) for the first m0 data points, m0): round 0 then only mixes the
    gradient rows of the points after m0 (W of more data contains W of fewer), so the adaptive
    region does not redo the largest product of each try (flow only)."""
    region = region or sample_region(model, seed)
    if dynamics == "flow":
        fam = _gradient_family(model, region)
        z0 = region.theta0
        fields = "chi_{x,j}(theta) = grad_theta f_j(x; theta) over the region's data points and outputs"
    elif dynamics == "momentum":
        fam = _momentum_family(model, region, friction)
        rng_v = np.random.default_rng([seed, 1])
        z0 = np.concatenate([region.theta0, rng_v.standard_normal(region.theta0.size)])
        fields = (f"on (theta, v): X_0 = (v, -{friction:g} v) and Y_{{x,j}} = (0, grad_theta f_j(x; theta)); "
                  "heavy-ball flow theta' = v, v' = -gamma v - grad L is X_0 - sum l'_{x,j} Y_{x,j}")
    else:
        raise BadInput(f"Got dynamics={dynamics!r}; use 'flow' or 'momentum'.")
    rng = np.random.default_rng([seed, 2])
    N = fam.dim
    if dynamics != "flow":
        prior = None
    if dynamics == "flow":
        jac = _gradient_rows(model, region, prior[1] if prior else 0)
    basis = prior[0] if prior else np.zeros((0, N))
    w0 = basis
    history = []
    converged = False
    # Round 0 is W(theta0); round j adds [W'_{j-1}, W'_{j-1}], brackets of length <= 2^j. Doubling
    # reaches length 8 in 3 rounds where bracketing with generators needs 7 (a 9-3-8-9-2 linear
    # net needs length 7: 209 s with generator brackets and interpolated derivatives, measured).
    j = 0
    while True:
        # Sample in growing batches, each modulo the span so far: a batch of b fresh random samples
        # of a space of dimension d has rank min(b, d) with probability 1, so a batch whose rank
        # is below its size has exhausted the round. The first batch is a small probe (an empty
        # probe ends the search); later batches double, capped at N - r + 4 (a margin over the
        # largest possible new part). A 9-3-8-9-2 linear net then needs 12 samples in its last
        # round instead of 101.
        batch, total, found = _PROBE, 0, 0
        kept, dropped = 1.0, 0.0
        while True:
            n = min(batch, N - basis.shape[0] + 4) if j else N + 4
            if j == 0 and prior:
                n = N - basis.shape[0] + 4  # the new points' rows, modulo the prior span
            if j == 0 and dynamics == "flow":
                # W(theta0) directly: random combinations of the m x out gradient rows are one
                # BLAS product, instead of N + 4 backward passes over all m points (a 9-9-7-9-8
                # ReLU net has N = 279 and m ~ 1300: 35x fewer passes).
                vals = rng.standard_normal((n, jac.shape[0])) @ jac
                scale = np.linalg.norm(vals, axis=1)
            else:
                tree = _round_sample(fam, rng, n, j) if j else _element(fam, rng, n, 0)
                vals, scale = _evaluate(fam, tree, np.broadcast_to(z0, (n, N)).copy(), 0, n)
                if scale is None:
                    scale = np.linalg.norm(vals, axis=1)
            new, k_b, d_b = _decide(vals, scale, basis)
            total += n
            if new.shape[0]:
                kept = min(kept, k_b)
            dropped = max(dropped, d_b)
            basis = np.vstack([basis, new])
            found += new.shape[0]
            if new.shape[0] < n or basis.shape[0] == N or not j:
                break
            batch *= 2
        history.append(RankStep(2 ** j, total, basis.shape[0], kept, dropped,
                                (kept / dropped) if dropped > 0 else np.inf))
        new = basis[basis.shape[0] - found:]
        if j == 0:
            w0 = basis
        # Stop when the dimension stops growing (or fills the space): generic ranks are equal, so
        # the distribution W'_j(theta) is involutive near theta0 and contains Lie(W)(theta).
        if (new.shape[0] == 0 and j) or basis.shape[0] == N:
            converged = True
            break
        if 2 ** (j + 1) > max_depth:
            break
        j += 1
    return LieRank(N, basis.shape[0], N - basis.shape[0], tuple(history), fields, region, converged), w0
