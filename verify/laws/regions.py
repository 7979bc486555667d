"""Which vector fields a count needs: activation patterns at a real theta0 and their pattern tensors.

A law must hold for every input x, so W is spanned by grad_theta f_j(x; theta) over all x. On an
activation pattern s (the region constants of every unit fixed) f is a polynomial in theta and x,
so the fields of a pattern are polynomial fields and a few generic points x span them exactly
(``points_per_pattern``; with the slopes fixed the points need not lie in the pattern's cell).

Which patterns are needed: with homogeneous activations of degree 1 (relu, leaky relu, identity)
f is multi-affine in the slope vectors s_l of the activation layers, so
f(x; theta, s) = <Phi(theta), xhat (x) shat_1 (x) ... (x) shat_A>, with shat_l = (s_l, 1) (or s_l when
no layer has a bias). The fields of a set S of patterns therefore depend only on the span of
their *pattern tensors* shat(s): a basis of that span (computed exactly mod p) gives the same fields
as all of S. The tensors of the patterns reachable at theta0 may span less than every tensor
(few inputs, narrow layers): the count is then *local* to theta0 and can exceed the count with
every path active (``kind="paths"``: slopes one-hot per layer, the path-lifting fields of
Marcotte, Gribonval & Peyre 2023, Sec 4).

References:
    Marcotte, Gribonval & Peyre (2023), NeurIPS, Sec 4 (ReLU networks, path lifting).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from verify.model import Act, Activation, Dense, Model, layer_dims
from verify.interpret.jets import FLOAT, MODP, Ring, forward_backward, to_ring
from verify.laws.modp import independent_rows

__all__ = ["Region", "sample_region", "points_per_pattern", "KINDS"]

#: "local": patterns reached by inputs at theta0; "paths": every pattern tensor (every path active);
#: "polynomial": a network without activation regions.
KINDS = ("local", "paths", "polynomial")

#: Inputs drawn per round when collecting reachable patterns, and the radii they are drawn at (a
#: net with biases has cells reachable only far from the origin: 3-7-9-3-3 with biases reached 692
#: patterns with unit-normal inputs and more at radius 10-1000, measured).
_POOL = 4096
_RADII = (1.0, 10.0, 100.0, 1000.0)
#: Rounds without any new pattern tensor before the collection stops.
_QUIET_ROUNDS = 3
#: Cap on pattern-collection rounds (each round is _POOL inputs at every radius).
_MAX_ROUNDS = 64


@dataclass(frozen=True)
class Region:
    """The data points, region constants and base point of a count.

    Attributes:
        theta0: the real base point whose activation patterns were read (flat).
        X: (m, input_dim) exact integer data points.
        codes: per activation layer, (m, width) int8 region codes: 1 = the positive-side slope s+,
            0 = the negative-side slope s-, 3 = the value 1, 2 = the value 0 (one-hot ``paths``).
        description: human-readable statement of the region.
        patterns: the 0/1 sign pattern of every hidden unit used, one string per pattern.
        patterns_seen: distinct patterns the candidate inputs reached at theta0.
        reached: those patterns, one bool row each (units of the non-identity activation layers in
            order; ``unit_columns`` says where each layer starts).
        kind: one of ``KINDS``.
        tensor_rank: rank of the used patterns' tensors (= dim of their span), 0 if not applicable.
        tensor_dim: dimension of the space of pattern tensors (tensor_rank == tensor_dim: every path).
    """

    theta0: np.ndarray
    X: np.ndarray
    codes: tuple[np.ndarray, ...]
    description: str
    patterns: tuple[str, ...]
    patterns_seen: int = 0
    kind: str = "local"
    tensor_rank: int = 0
    tensor_dim: int = 0
    reached: np.ndarray | None = None

    def unit_columns(self, model: Model) -> dict[int, int]:
        """Activation-layer index -> first column of its units in ``reached`` (non-identity layers)."""
        out, col = {}, 0
        for i, (l, w) in enumerate(zip([l for l in model.layers if isinstance(l, Act)],
                                       [w for l, w in zip(model.layers, layer_dims(model)[1:]) if isinstance(l, Act)])):
            if not l.activation.is_identity:
                out[i] = col
                col += w
        return out

    def slopes(self, model: Model, ring: Ring = FLOAT) -> list[np.ndarray]:
        """Region constants per activation layer, (m, width), as exact ring elements."""
        out = []
        acts = [l.activation for l in model.layers if isinstance(l, Act)]
        for code, act in zip(self.codes, acts):
            neg_pos = list(_slopes(act))[::-1] + [0, 1]
            table = to_ring(np.array(neg_pos, dtype=object), ring)
            out.append(table[code.astype(int)])
        return out


def _slopes(act: Activation) -> tuple[sp.Rational, sp.Rational]:
    """(s+, s-) of an activation; ``lie_rank.check_supported`` admits only activations that have them."""
    assert act.slopes is not None, f"activation {act.name!r} has no region constants"
    return act.slopes


def _degree(act: Activation) -> int:
    """k of a homogeneous activation; ``lie_rank.check_supported`` admits no other."""
    assert act.degree is not None, f"activation {act.name!r} is not homogeneous"
    return act.degree


def _has_bias(model: Model) -> bool:
    return any(isinstance(l, Dense) and l.bias is not None for l in model.layers)


def _active_layers(model: Model) -> list[int]:
    """Indices (among Act layers) of the activations that are not the identity."""
    acts = [l.activation for l in model.layers if isinstance(l, Act)]
    return [i for i, a in enumerate(acts) if not a.is_identity]


def points_per_pattern(model: Model) -> int:
    """Generic points that span the fields of one pattern: with the slopes fixed, f is a polynomial
    in x of degree prod(k); that many monomials in x (affine: n0 + 1, linear: n0)."""
    deg = 1
    for layer in model.layers:
        if isinstance(layer, Act):
            deg *= _degree(layer.activation)
    if deg == 1:
        return model.input_dim + (1 if _has_bias(model) else 0)
    return math.comb(model.input_dim + deg, deg)


def _points(model: Model, n_patterns: int, rng: np.random.Generator) -> np.ndarray:
    """Data for each pattern: the unit vectors (and 0 with biases) when f is affine in x, else
    random small integers (generic for a polynomial of higher degree in x)."""
    n0, q = model.input_dim, points_per_pattern(model)
    if q <= n0 + 1 and all(l.activation.degree == 1 for l in model.layers if isinstance(l, Act)):
        one = np.eye(n0) if q == n0 else np.vstack([np.eye(n0), np.zeros((1, n0))])
        return np.tile(one, (n_patterns, 1))
    return rng.integers(-9, 10, size=(n_patterns * q, n0)).astype(float)


def _tensor(on: list[np.ndarray], vals: list[np.ndarray], hat: bool) -> np.ndarray:
    """Pattern tensors mod p, one row per pattern: kron over layers of (s_l, 1) (or s_l); ``vals``
    holds each layer's exact (s-, s+) as residues."""
    T = np.ones((on[0].shape[0], 1))
    for o, (neg, pos) in zip(on, vals):
        s = np.where(o, pos, neg)
        if hat:
            s = np.hstack([s, np.ones((s.shape[0], 1))])
        T = MODP.multiply(T[:, :, None], s[:, None, :]).reshape(T.shape[0], -1)
    return T


def _balanced_theta0(model: Model, rng: np.random.Generator, D: int, acts: list[Activation]) -> np.ndarray:
    """A generic theta0 with every hidden unit active on some inputs and inactive on others (a
    random theta0 can kill a whole deep layer); the most balanced of up to 200 draws."""
    probe = rng.standard_normal((500, model.input_dim))
    best: np.ndarray | None = None
    best_score = -1.0
    for _ in range(200):
        theta0 = rng.standard_normal(D)
        used = forward_backward(model, theta0[None], probe[None])[3]
        fr = [np.mean(used[i][0] == float(_slopes(acts[i])[0]), axis=0) for i in _active_idx(acts)]
        score = min((min(f.min(), 1 - f.max()) for f in fr), default=0.5)
        if score > best_score:
            best, best_score = theta0, score
        if score >= 0.2:
            break
    assert best is not None  # every score is >= 0 > the initial -1, so the first draw is kept
    return best


def _active_idx(acts: list[Activation]) -> list[int]:
    return [i for i, a in enumerate(acts) if not a.is_identity]


def _direction_patterns(model: Model, theta0: np.ndarray, pos: list[float], active: list[int]) -> np.ndarray | None:
    """Every pattern reached at theta0, exactly, for a bias-free Dense/activation chain with 1 or 2
    inputs (None otherwise). Without biases the pattern depends on the direction of x only: the two
    directions of a line, or the circle of directions in the plane, cut into arcs where a unit's
    preactivation a cos(phi) + b sin(phi) changes sign (linear on each arc of the earlier layers'
    patterns, so its zeros are atan2(-a, b) + k pi). One pattern per arc, read at its midpoint."""
    if model.input_dim > 2 or _has_bias(model) or not all(isinstance(l, (Dense, Act)) for l in model.layers):
        return None
    from verify.interpret.jets import unpack  # the model's own weight layout
    P = unpack(model, theta0[None])
    # (kind, value): "W" with the weight matrix, "A" with the Activation.
    layers: list[tuple[str, Any]] = []
    for l in model.layers:
        if isinstance(l, Dense):
            layers.append(("W", l.batched_weight(P, 1)[0]))
        else:
            assert isinstance(l, Act)  # checked on entry: a Dense/Act chain
            layers.append(("A", l.activation))

    def pattern_maps(phi, upto):
        """(pattern bits of the active layers before ``upto``, linear map x -> input of layer ``upto``)."""
        x = np.array([np.cos(phi), np.sin(phi)])[:model.input_dim]
        M, bits, a = np.eye(model.input_dim), [], 0
        for k, (kind, val) in enumerate(layers[:upto]):
            if kind == "W":
                M = val @ M
            else:
                on = (M @ x) > 0
                M = np.where(on, float(val.slopes[0]), float(val.slopes[1]))[:, None] * M
                if a in active:
                    bits.append(on)
                a += 1
        return bits, M

    if model.input_dim == 1:
        return np.array([np.concatenate(pattern_maps(phi, len(layers))[0]) for phi in (0.0, np.pi)])
    cells = [(0.0, 2 * np.pi)]
    for k, (kind, _) in enumerate(layers):
        if kind != "A":
            continue
        refined = []
        for lo, hi in cells:
            _, M = pattern_maps((lo + hi) / 2, k)
            cuts = []
            for a, b in M:
                if a == 0 and b == 0:
                    continue
                base = np.arctan2(-a, b)
                cuts += [c for c in (base + j * np.pi for j in range(-2, 4)) if lo + 1e-12 < c < hi - 1e-12]
            edges = [lo, *sorted(cuts), hi]
            refined += [(u, v) for u, v in zip(edges, edges[1:]) if v - u > 1e-12]
        cells = refined
    rows = {np.concatenate(pattern_maps((lo + hi) / 2, len(layers))[0]).tobytes(): None for lo, hi in cells}
    return np.array([np.frombuffer(r, dtype=bool) for r in rows])


def sample_region(model: Model, seed: int, kind: str = "local") -> Region:
    """The data and region constants of a count.

    ``kind="local"``: a random theta0 (seed), patterns collected from random inputs at several radii
    until _QUIET_ROUNDS rounds add no pattern tensor, then a basis of their tensors (mod p).
    ``kind="paths"``: every pattern tensor (slopes one-hot per layer): the count with every path
    active, which no reachable set of patterns can make smaller.
    """
    rng = np.random.default_rng(seed)
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    acts = [l.activation for l in model.layers if isinstance(l, Act)]
    widths = [w for l, w in zip(model.layers, layer_dims(model)[1:]) if isinstance(l, Act)]
    active = _active_idx(acts)
    hat = _has_bias(model)
    if not active:
        X = _points(model, 1, rng)
        codes = [np.ones((X.shape[0], w), dtype=np.int8) for w in widths]
        return Region(rng.standard_normal(D), X, tuple(codes), "polynomial network (no activation region needed)", (),
                      0, "polynomial")
    if kind == "paths":
        choices = [([None] if hat else []) + list(range(widths[i])) for i in active]
        combos = list(itertools.product(*choices))
        q = points_per_pattern(model)
        X = _points(model, len(combos), rng)
        codes = [np.ones((X.shape[0], w), dtype=np.int8) for w in widths]
        for j, i in enumerate(active):
            c = np.full((len(combos), widths[i]), 2, dtype=np.int8)
            for r, combo in enumerate(combos):
                if combo[j] is not None:
                    c[r, combo[j]] = 3
            codes[i] = np.repeat(c, q, axis=0)
        dim = int(np.prod([widths[i] + hat for i in active]))
        desc = (f"every path active: {len(combos)} one-hot slope patterns spanning all {dim} pattern tensors "
                f"(the path-lifting fields), {q} data points each; not a region of any theta0")
        return Region(rng.standard_normal(D), X, tuple(codes), desc, (), 0, "paths", dim, dim)
    theta0 = _balanced_theta0(model, rng, D, acts)
    pos = [float(_slopes(acts[i])[0]) for i in active]  # SymPy numbers: convert once
    vals = [to_ring(np.array(_slopes(acts[i])[::-1], dtype=object), MODP) for i in active]
    dim = int(np.prod([widths[i] + hat for i in active]))
    seen: dict[bytes, np.ndarray] = {}
    basis_rows: list[np.ndarray] = []
    splits = np.cumsum([widths[i] for i in active])[:-1]
    exact = _direction_patterns(model, theta0, pos, active)
    if exact is not None:
        seen = {row.tobytes(): row for row in exact}
        keep = independent_rows(_tensor(np.split(exact, splits, axis=1), vals, hat))
        basis_rows = [exact[i] for i in keep]
    quiet, rounds = 0, 0
    while exact is None and quiet < _QUIET_ROUNDS and rounds < _MAX_ROUNDS and len(basis_rows) < dim:
        rounds += 1
        fresh = []
        for radius in _RADII if hat else _RADII[:1]:
            pool = radius * rng.standard_normal((_POOL, model.input_dim))
            used = forward_backward(model, theta0[None], pool[None])[3]
            on = np.concatenate([used[i][0] == pos[k] for k, i in enumerate(active)], axis=1)
            for row in np.unique(on, axis=0):
                key = row.tobytes()
                if key not in seen:
                    seen[key] = row
                    fresh.append(row)
        before = len(basis_rows)
        if fresh:
            cand = np.array(basis_rows + fresh)
            T = _tensor(np.split(cand, splits, axis=1), vals, hat)
            keep = independent_rows(T)
            basis_rows = [cand[i] for i in keep]
        quiet = quiet + 1 if len(basis_rows) == before else 0
    chosen = np.array(basis_rows)
    q = points_per_pattern(model)
    X = _points(model, len(chosen), rng)
    codes = [np.ones((X.shape[0], w), dtype=np.int8) for w in widths]
    parts = np.split(chosen, np.cumsum([widths[i] for i in active])[:-1], axis=1)
    for part, i in zip(parts, active):
        codes[i] = np.repeat(part.astype(np.int8), q, axis=0)
    names = tuple("|".join("".join("1" if v else "0" for v in part[r]) for part in parts) for r in range(len(chosen)))
    full = len(chosen) == dim
    how = ("every pattern reached, enumerated exactly on the " + ("line" if model.input_dim == 1 else "circle")
           + " of input directions" if exact is not None else
           f"{len(seen)} distinct patterns reached by {rounds * _POOL * (len(_RADII) if hat else 1)} random inputs"
           + (f" at radii {', '.join(f'{r:g}' for r in _RADII)}" if hat else "")
           + f" (stopped after {_QUIET_ROUNDS} rounds of {_POOL} without a new pattern tensor)")
    desc = (f"activation patterns at a random theta0 (seed {seed}): {len(seen)} patterns, {how}"
            + f"; their pattern tensors span {len(chosen)} of {dim} dimensions"
            + (" (every path: the local count equals the every-path count)" if full else
               " (not every path: the count is local to this theta0)")
            + f"; a basis of {len(chosen)} patterns, {q} data points each")
    return Region(theta0, X, tuple(codes), desc, names, len(seen), "local", len(chosen), dim,
                  np.array(list(seen.values())))
