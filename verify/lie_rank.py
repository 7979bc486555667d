"""Number of functionally independent conservation laws: D - dim Lie(W)(theta) at a generic theta.

W is spanned by the vector fields chi_{x,j}(theta) = grad_theta f_j(x; theta). Lie(W) is the Lie
algebra they generate under [X1, X2] = DX2.X1 - DX1.X2. By the Jacobi identity it is spanned by
right-nested brackets [X1, [X2, ..., [X_{d-1}, X_d]]], X_i in W, so we build the nested spaces
W_1 = W(theta0) and W_d = W_{d-1} + {depth-d brackets}(theta0) and stop when the dimension stops
growing (at a generic point the rank of each W_d is its generic rank, so equal ranks mean the
distribution is involutive-invariant on an open set and Lie(W)(theta0) = W_d(theta0)).

Numerics, and why they are exact up to round-off:

* fields are evaluated by a hand-vectorised NumPy forward + reverse pass, batched over points, so
  every sample can carry its own random element of W (a random cotangent ``c`` on a fixed data set);
* on an activation region (ReLU: the region constants s fixed) every field is a polynomial in theta
  of known degree, so a directional derivative DX(theta).v is the derivative at t = 0 of the
  polynomial t -> X(theta + t v), recovered exactly from deg+1 Chebyshev nodes;
* the span of N random samples of a multilinear bracket map equals the span of its image once N is
  at least the dimension of that image (the failure set is a proper algebraic subset);
* every rank decision is an SVD of unit-normalised rows with the gap sigma_r / sigma_{r+1} recorded.

References:
    Marcotte, Gribonval & Peyre (2023), "Abide by the law and follow the flow: conservation laws for
    gradient flows", NeurIPS, Thm 2.14 (count = D - dim Lie(W)(theta)) and Sec 3 (algorithm).
    Marcotte, Peyre & Gribonval (2024), "Keep the momentum: conservation laws beyond Euclidean
    gradient flows", ICML, Sec 4 (heavy-ball flow as a first-order system in (theta, v)).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import BadInput
from .model import Act, DiagonalLinear, Dense, Model, layer_dims

__all__ = [
    "param_layout", "net_degree", "forward_backward", "RankStep", "LieRank", "Region",
    "sample_region", "lie_rank", "RANK_TOL", "single_thread_blas",
]

#: Relative singular-value threshold of every rank decision. Nested brackets of depth <= 4 lose
#: about 1e-11 relative accuracy through the interpolated derivatives (measured on 1-1-1 .. 9^5
#: nets); structural zeros sit below 1e-12 and true directions above 1e-4, so 1e-7 sits in the gap.
RANK_TOL = 1e-7

#: Samples in the probe that decides whether a bracket depth adds anything (any positive number is
#: correct with probability 1; 3 guards against an unlucky near-degenerate draw).
_PROBE = 3

#: Chebyshev-type nodes (scaled) give well-conditioned interpolation for degrees <= ~12.
_MAX_POLY_DEGREE = 24


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


def _check_supported(model: Model) -> None:
    for layer in model.layers:
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


def forward_backward(model: Model, Theta: np.ndarray, X: np.ndarray, cot: np.ndarray | None = None,
                     slopes: list[np.ndarray] | None = None, want_x: bool = False):
    """Batched forward pass and (optionally) reverse pass.

    Args:
        Theta: (n, D) parameter points.
        X: (n, m, input_dim) data, m points per parameter point.
        cot: (n, m, output_dim) cotangents; returns grad_theta of sum(cot * f) when given.
        slopes: one (n or 1, m, width) array per activation layer with the region constants s
            (phi(z) = s z**k); ``None`` takes them from the sign of z (the actual region).
        want_x: also return grad_x of sum(cot * f), shape (n, m, input_dim).

    Returns:
        (F, grad_theta, grad_x, slopes_used); absent parts are None.
    """
    n = Theta.shape[0]
    P = _unpack(model, Theta)
    a = np.asarray(X, float)
    tape, used, act_i = [], [], 0
    for layer in model.layers:
        if isinstance(layer, Dense):
            W = _weight(layer, P, n)
            tape.append(("dense", layer, W, a))
            a = a @ W.transpose(0, 2, 1)  # batched matmul (BLAS), much faster than einsum here
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
            tape.append(("act", act.degree, s, a))
            a = s * a**act.degree
        elif isinstance(layer, DiagonalLinear):
            us = [P[f] for f in layer.factors]
            w = np.prod(us, axis=0)
            tape.append(("diag", layer, us, w, a))
            a = a @ w[:, :, None]
    if cot is None:
        return a, None, None, used
    G = np.zeros_like(Theta)
    lay = param_layout(model)

    def put(name, g):
        k, s = lay[name]
        size = int(np.prod(s)) if s else 1
        G[:, k:k + size] += g.reshape(n, size)

    d = np.asarray(cot, float)
    for item in reversed(tape):
        if item[0] == "dense":
            _, layer, W, a_in = item
            dW = d.transpose(0, 2, 1) @ a_in
            if layer.bias is not None:
                put(layer.bias, d.sum(axis=1))
            if layer.pattern is None:
                put(layer.weight, dW)
            else:
                pat = np.asarray(layer.pattern).ravel()
                nv = lay[layer.weight][1][0]
                onehot = np.zeros((pat.size, nv + 1))
                onehot[np.arange(pat.size), pat] = 1.0
                put(layer.weight, (dW.reshape(n, -1) @ onehot)[:, 1:])
            d = d @ W
        elif item[0] == "act":
            _, k, s, z = item
            d = d * (k * s * z ** (k - 1) if k != 1 else s)
        else:
            _, layer, us, w, a_in = item
            g = d[..., 0]
            dw = (g[:, None, :] @ a_in)[:, 0, :]
            for i, f in enumerate(layer.factors):
                others = np.prod([u for j, u in enumerate(us) if j != i], axis=0) if len(us) > 1 else 1.0
                put(f, dw * others)
            d = g[..., None] * w[:, None, :]
    return a, G, (d if want_x else None), used


@dataclass(frozen=True)
class Region:
    """The data set and activation region on which the count is computed.

    Attributes:
        theta0: the generic base point (flat).
        X: (m, input_dim) data points.
        slopes: per activation layer, (m, width) region constants s at theta0 (phi(z) = s z**k).
        description: human-readable statement of the region.
        patterns: per data point, the 0/1 sign pattern z > 0 of every hidden unit (as strings).
    """

    theta0: np.ndarray
    X: np.ndarray
    slopes: tuple[np.ndarray, ...]
    description: str
    patterns: tuple[str, ...]


def sample_region(model: Model, seed: int, n_points: int | None = None) -> Region:
    """A generic theta0 and a random data set; the region is their activation pattern at theta0.

    The data set has enough points that W(theta0) is spanned: f is affine in x on a region, so
    ``input_dim + 1`` points suffice per pattern, and ReLU nets need every unit active on many points
    (we use 4 D / output_dim + 2 input_dim + 10, capped at 600: with 2 D / output_dim a 9^5 ReLU net
    on seed 0 still showed one spurious law, measured).
    """
    _check_supported(model)
    rng = np.random.default_rng(seed)
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    dims = layer_dims(model)
    has_act = any(isinstance(l, Act) and not l.activation.is_identity for l in model.layers)
    if n_points is None:
        n_points = (min(600, 4 * D // dims[-1] + 2 * dims[0] + 10) if has_act else dims[0] + 2)
    acts = [l.activation for l in model.layers if isinstance(l, Act)]
    X = rng.standard_normal((n_points, dims[0]))
    # A *generic* region: every hidden unit active on some points and inactive on others. A random
    # theta0 can kill a whole deep layer (then its weights are trivially conserved and the count
    # differs); redraw theta0 (same seed stream) until each unit's active fraction is in [0.2, 0.8],
    # keeping the most balanced draw if 200 tries do not succeed.
    best, best_score = None, -1.0
    for _ in range(200):
        theta0 = rng.standard_normal(D)
        _, _, _, used = forward_backward(model, theta0[None], X[None])
        fr = [np.mean(s[0] == float(a.slopes[0]), axis=0) for s, a in zip(used, acts) if not a.is_identity]
        score = min((min(f.min(), 1 - f.max()) for f in fr), default=0.5)
        if score > best_score:
            best, best_score = (theta0, used), score
        if score >= 0.2:
            break
    theta0, used = best
    slopes = tuple(s[0] for s in used)
    patterns, desc = (), "polynomial network (no activation region needed)"
    if any(not a.is_identity for a in acts):
        rows = []
        for p in range(n_points):
            rows.append("|".join("".join("1" if v == float(a.slopes[0]) else "0" for v in s[p])
                                 for s, a in zip(slopes, acts) if not a.is_identity))
        patterns = tuple(rows)
        frac = [float(np.mean(s == float(a.slopes[0]))) for s, a in zip(slopes, acts) if not a.is_identity]
        desc = (f"activation region of {n_points} random data points (seed {seed}) at a random theta0: "
                "the sign pattern of every hidden unit at every point is fixed; fraction of active "
                "units per hidden layer " + ", ".join(f"{f:.2f}" for f in frac))
    return Region(theta0, X, slopes, desc, patterns)


# ---------------------------------------------------------------------------------------------
# Vector fields on a region and exact directional derivatives of polynomial fields


@dataclass(frozen=True)
class _Family:
    """A family of polynomial vector fields X(z; c) on R^N, c a random element label per sample."""

    dim: int
    degree: int
    sample: Callable  # (rng, n) -> parameters
    evaluate: Callable  # (Z (n, N), params) -> (n, N)


def _gradient_family(model: Model, region: Region) -> _Family:
    D = region.theta0.size
    m, out = region.X.shape[0], layer_dims(model)[-1]

    def sample(rng, n):
        return rng.standard_normal((n, m, out))

    def evaluate(Z, C):
        n = Z.shape[0]
        Xb = np.broadcast_to(region.X, (n,) + region.X.shape)
        slopes = [np.broadcast_to(s, (1,) + s.shape) for s in region.slopes]
        return forward_backward(model, Z, Xb, C, slopes)[1]

    return _Family(D, max(net_degree(model) - 1, 0), sample, evaluate)


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

    def evaluate(Z, params):
        a0, C = params
        th, v = Z[:, :D], Z[:, D:]
        out = np.empty_like(Z)
        out[:, :D] = a0[:, None] * v
        out[:, D:] = -friction * a0[:, None] * v + grad.evaluate(th, C)
        return out

    return _Family(2 * D, max(grad.degree, 1), sample, evaluate)


def _derivative_weights(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes tau and weights w with sum_i w_i p(tau_i) = p'(0) for every polynomial of ``degree``."""
    k = degree + 1
    tau = np.cos(np.pi * (np.arange(k) + 0.5) / k)  # Chebyshev nodes on [-1, 1]
    V = np.vander(tau, k, increasing=True)  # p(tau_i) = sum_c coef_c tau_i^c
    w = np.linalg.inv(V)[1]  # coef_1 = p'(0)
    return tau, w


def _jvp(fn: Callable, degree: int, Z: np.ndarray, V: np.ndarray) -> np.ndarray:
    """D fn(Z).V for a polynomial map of the given degree (exact up to round-off), row-wise."""
    if degree == 0:
        return np.zeros_like(Z)
    if degree > _MAX_POLY_DEGREE:
        raise BadInput(f"Bracket degree {degree} exceeds {_MAX_POLY_DEGREE}; lower the network depth.")
    tau, w = _derivative_weights(degree)
    # Scale the step so that t*V is as large as Z: round-off relative to the terms stays ~1e-16.
    h = (np.linalg.norm(Z, axis=1) + 1.0) / (np.linalg.norm(V, axis=1) + 1e-300)
    n = Z.shape[0]
    pts = (Z[None] + (tau[:, None, None] * h[None, :, None]) * V[None]).reshape(len(tau) * n, -1)
    vals = fn(pts).reshape(len(tau), n, -1)
    return np.einsum("k,knd->nd", w, vals) / h[:, None]


def _nested(family: _Family, params: list, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[X_1, [X_2, ..., [X_{d-1}, X_d]]] at the rows of Z; returns (values, scale of their terms)."""
    def tile(p, reps):
        if isinstance(p, tuple):
            return tuple(tile(q, reps) for q in p)
        return np.concatenate([p] * reps, axis=0) if reps > 1 else p

    def build(k):
        """Callable evaluating the bracket of fields k..d-1 at points (batch a multiple of n)."""
        if k == len(params) - 1:
            def leaf(P):
                return family.evaluate(P, tile(params[k], P.shape[0] // params_n))
            return leaf, family.degree
        inner, dinner = build(k + 1)

        def outer(P):
            reps = P.shape[0] // params_n
            pk = tile(params[k], reps)
            Xk = family.evaluate(P, pk)
            Bv = inner(P)
            # [X_k, B] = DB.X_k - DX_k.B
            dB = _jvp(inner, dinner, P, Xk)
            dX = _jvp(lambda Q: family.evaluate(Q, tile(pk, Q.shape[0] // P.shape[0])), family.degree, P, Bv)
            return dB - dX
        return outer, dinner + family.degree - 1

    params_n = Z.shape[0]
    if len(params) == 1:
        v = family.evaluate(Z, params[0])
        return v, np.linalg.norm(v, axis=1)
    inner, dinner = build(1)
    Xk = family.evaluate(Z, params[0])
    dB = _jvp(inner, dinner, Z, Xk)
    dX = _jvp(lambda Q: family.evaluate(Q, tile(params[0], Q.shape[0] // params_n)), family.degree, Z, inner(Z))
    # The scale of the terms: a bracket that vanishes exactly comes out as round-off of this size.
    return dB - dX, np.linalg.norm(dB, axis=1) + np.linalg.norm(dX, axis=1)


@dataclass(frozen=True)
class RankStep:
    """One rank decision: dimension after adding depth-``depth`` brackets, and its SVD gap.

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
    """D - dim Lie(W)(theta0) with the rank history."""

    state_dim: int
    lie_dim: int
    count: int
    history: tuple[RankStep, ...]
    fields: str
    region: Region


def _decide(rows: np.ndarray, scale: np.ndarray, basis: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """New orthonormal directions among ``rows`` modulo ``basis``; (directions, kept, dropped).

    Rows are divided by the size of the terms they were computed from (not by their own norm), so
    an exactly vanishing bracket stays at round-off level instead of being blown up to norm 1.
    """
    ok = scale > 0
    rows = rows[ok] / scale[ok, None]
    if basis is not None and basis.shape[0]:
        rows = rows - (rows @ basis.T) @ basis
    if rows.shape[0] == 0:
        return np.zeros((0, rows.shape[1] if rows.ndim == 2 else 0)), 1.0, 0.0
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    k = int(np.sum(s > RANK_TOL))
    kept = float(s[k - 1]) if k else 1.0  # nothing kept: compare with the unit scale of the rows
    dropped = float(s[k]) if k < s.size else 0.0
    return vt[:k], kept, dropped


def lie_rank(model: Model, *, dynamics: str = "flow", seed: int = 0, friction: float = 0.0,
             max_depth: int = 8, region: Region | None = None) -> LieRank:
    """Count functionally independent conservation laws as D - dim Lie(W)(theta0).

    Args:
        model: a Dense/Act/DiagonalLinear model with homogeneous activations.
        dynamics: "flow" (gradient flow, state theta) or "momentum" (heavy-ball, state (theta, v)).
        seed: seeds theta0, the data set (hence the region) and the random elements of W.
        friction: heavy-ball friction; laws are time-independent only for 0 (the default).
        max_depth: largest bracket depth tried before giving up (reported in the history).
        region: reuse a region (else ``sample_region(model, seed)``).

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Thm 2.14 and Prop 3.8 (stopping rule).
        Marcotte, Peyre & Gribonval (2024), ICML, Sec 4 (momentum).
    """
    with single_thread_blas():
        return _lie_rank(model, dynamics, seed, friction, max_depth, region)


def _lie_rank(model, dynamics, seed, friction, max_depth, region) -> LieRank:
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
    basis = np.zeros((0, N))
    history = []
    for depth in range(1, max_depth + 1):
        # Probe with a few samples first: if the depth-d brackets add anything modulo the current
        # span, a random sample shows it with probability 1, so an empty probe ends the search
        # cheaply; otherwise sample N - r + 4 (>= the dimension of any new part, plus a margin).
        for n in ((_PROBE, N - basis.shape[0] + 4) if depth > 1 else (N + 4,)):
            params = [fam.sample(rng, n) for _ in range(depth)]
            Z = np.broadcast_to(z0, (n, N)).copy()
            vals, scale = _nested(fam, params, Z)
            new, kept, dropped = _decide(vals, scale, basis)
            if new.shape[0] == 0:
                break
        basis = np.vstack([basis, new])
        history.append(RankStep(depth, n, basis.shape[0], kept, dropped,
                                (kept / dropped) if dropped > 0 else np.inf))
        # Stop when the dimension stops growing (or fills the space): generic ranks are equal, so
        # W_d(theta) = W_{d-1}(theta) near theta0 and no deeper bracket can add a direction.
        if (new.shape[0] == 0 and depth > 1) or basis.shape[0] == N:
            break
    return LieRank(N, basis.shape[0], N - basis.shape[0], tuple(history), fields, region)
