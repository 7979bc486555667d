"""Upper bound on the number of functionally independent conservation laws: D - rank of Lie(W) sampled.

W is spanned by the vector fields of ``verify.laws.lie_fields`` (gradients chi_{x,j}, or the momentum
fields on (t, theta, v)); Lie(W) is the Lie algebra they generate under [X, Y] = DY.X - DX.Y. The
number of independent laws near a generic point is D - dim Lie(W)(theta) (Marcotte, Gribonval &
Peyre 2023, Thm 2.14). Every vector sampled here *is* the value of an element of Lie(W), so

    number of laws <= D - rank(sampled vectors)

holds whatever was sampled: the rank is computed exactly mod p at a random integer point z0
(``verify.laws.modp``: a rank mod p never exceeds the rational rank, which never exceeds the generic
dim Lie(W)). More samples can only lower the bound. Sampling stops when the bound meets a proven
lower bound (then the count is exact), when a round of brackets adds no direction (the dimension
stopped growing; at a generic point equal ranks mean the nested space is involutive), or at the
longest bracket allowed.

Rounds: W'_0 = W (round 0, every gradient row), W'_j = W'_{j-1} + [W'_{j-1}, W'_{j-1}] (brackets of
length <= 2^j), each sampled in batches that double until one is rank-deficient (a batch of b
random samples of a space of dimension d has rank min(b, d) with probability 1).

For ReLU-type nets the fields depend on the activation patterns used (``verify.laws.regions``): a
*local* count uses patterns reachable at one real theta0, the *generic* count (default) is the
smallest upper bound over several theta0, and ``kind="paths"`` uses every path.

References:
    Marcotte, Gribonval & Peyre (2023), NeurIPS, Thm 2.14 and Sec 3 (algorithm).
    Marcotte, Gribonval & Peyre (2024), ICML, Sec 3-4 (momentum; laws depending on time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from verify._infra.pools import one_blas_thread as single_thread_blas
from verify.errors import BadInput
from verify.laws.lie_fields import DYNAMICS, element, evaluate, family, gradient_rows, round_sample
from verify.model import Model, layer_dims, walk
from verify.interpret.jets import MODP, forward_backward, param_layout
from verify.laws.modp import EchelonBasis
from verify.laws.regions import Region, sample_region

__all__ = [
    "param_layout", "net_degree", "forward_backward", "RankStep", "LieRank", "Region", "sample_region",
    "lie_rank", "single_thread_blas", "check_supported", "COUNT_KINDS",
]

#: Samples in the first batch of a bracket round: the probe that decides whether the round adds
#: anything (any positive number is correct with probability 1; 4 guards against a bad draw).
_PROBE = 4
#: Rows reduced at once (memory: rows x state dimension floats).
_ROWS = 256
#: "generic": smallest bound over several theta0; "local": one theta0; "paths": every path active.
COUNT_KINDS = ("generic", "local", "paths")


def check_supported(model: Model) -> None:
    """Raise BadInput unless every layer can be evaluated on jets (``LayerBase.jet_support``): a
    dense/shared/diagonal net with homogeneous activations with concrete slopes (polynomial on each
    activation region)."""
    for i, layer in enumerate(walk(model.layers), 1):
        why = layer.jet_support()
        if why is not None:
            raise BadInput(f"discover cannot handle layer {i} ({type(layer).__name__}) of {model.name!r}: {why}. "
                           "Use `verify check` with a quantity for this model.")


def net_degree(model: Model) -> int:
    """Polynomial degree of f in theta on one activation region (an upper bound, from the layers)."""
    deg = 0
    for layer in model.layers:
        deg = layer.jet_degree(deg)
    return deg


@dataclass(frozen=True)
class RankStep:
    """One round: exact rank (mod p) of everything sampled after brackets of length <= ``depth``."""

    depth: int
    samples: int
    dim: int
    new: int


@dataclass(frozen=True)
class LieRank:
    """``upper`` = state_dim - rank: a proven upper bound on the number of independent laws.

    Attributes:
        rank: exact rank mod p of the sampled elements of Lie(W) at the integer point (<= dim Lie(W)).
        converged: the last bracket round added no direction (the dimension stopped growing).
        stop: why the sampling stopped, in words.
        kind: "generic", "local", "paths" or "polynomial" (see ``COUNT_KINDS``).
        trials: for "generic", the result at each theta0 tried (this one is the smallest bound).
    """

    state_dim: int
    rank: int
    upper: int
    history: tuple[RankStep, ...]
    fields: str
    region: Region
    converged: bool
    stop: str
    kind: str = "local"
    trials: tuple["LieRank", ...] = ()
    seconds: float = 0.0
    seed: int = 0


def lie_rank(model: Model, *, dynamics: str = "flow", seed: int = 0, friction=0, max_depth: int = 32,
             region: Region | None = None, lower_bound: int | None = None, kind: str = "generic",
             tries: int = 4) -> LieRank:
    """Upper bound on the number of functionally independent laws, D - rank of sampled Lie(W).

    Args:
        model: a Dense/Act/DiagonalLinear model with homogeneous activations.
        dynamics: "flow" (state theta), "momentum" (heavy ball with ``friction``, state (t, theta, v))
            or "nesterov" (friction 3/t, state (t, theta, v)).
        seed: seeds theta0 (the patterns), the integer point and the random elements.
        max_depth: longest bracket tried (rounds double it: 2, 4, 8, ...).
        region: use exactly this region (data points and region constants).
        lower_bound: a proven number of independent laws; sampling stops when the bound meets it.
        kind: "generic" (default: patterns at up to ``tries`` random theta0, the smallest bound),
            "local" (the patterns reachable at the theta0 of ``seed``) or "paths" (every path active).

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Thm 2.14; (2024), ICML, Sec 3-4.
    """
    check_supported(model)
    if dynamics not in DYNAMICS:
        raise BadInput(f"Got dynamics={dynamics!r}; use one of {', '.join(DYNAMICS)}.")
    if kind not in COUNT_KINDS:
        raise BadInput(f"Got kind={kind!r}; use one of {', '.join(COUNT_KINDS)}.")
    with single_thread_blas():
        if region is not None:
            return _count(model, region, dynamics, seed, friction, max_depth, lower_bound)
        if kind != "generic":
            reg = sample_region(model, seed, "paths" if kind == "paths" else "local")
            return _count(model, reg, dynamics, seed, friction, max_depth, lower_bound)
        trials: list[LieRank] = []
        for i in range(max(1, tries)):
            reg = sample_region(model, seed + i, "local")
            trials.append(_count(model, reg, dynamics, seed + i, friction, max_depth, lower_bound))
            if reg.kind == "polynomial" or (lower_bound is not None and trials[-1].upper <= lower_bound):
                break
        best = min(trials, key=lambda t: t.upper)
        total = sum(t.seconds for t in trials)
        return replace(best, kind="generic" if best.region.kind == "local" else best.region.kind,
                       trials=tuple(trials), seconds=total)


def _first_round(model, fam, region, dynamics, z0, basis, rng, target) -> int:
    """Round 0: W(z0) itself. Every gradient row when there are at most twice as many rows as
    dimensions still possible (a linear net: n0 * nL rows), else random elements of W in batches
    capped at the dimension still possible, each batch doubling until one is rank-deficient. (Rows
    that turn out dependent cost a reduction each: a 50-50-50 ReLU net has 2550 data points and
    127,500 rows for W of dimension 4950, and adding 74,835 of them took 253 s.) Returns the number
    of vectors sampled."""
    N = fam.dim
    D = region.theta0.size
    out = layer_dims(model)[-1]
    missing = min(N, target) - basis.rank
    if region.X.shape[0] * out + fam.time_slot > 2 * (missing + 4):
        return _batches(fam, lambda k: element(fam, rng, k, 0), z0, basis, target)
    offset, sampled = 0, 0
    if fam.time_slot:  # X_0 first: coefficient 1, no gradient part
        _, (C, X) = fam.sample(rng, 1)
        params = (np.ones(1), (np.zeros_like(C), X))
        basis.add(evaluate(fam, ("leaf", params), z0[None].copy()))
        offset, sampled = D + 1, 1
    theta = z0[offset - D:offset] if fam.time_slot else z0
    step = max(1, _ROWS // out)
    for s in range(0, region.X.shape[0], step):
        if basis.rank >= min(N, target):
            break
        rows = gradient_rows(model, region, theta, np.arange(s, min(s + step, region.X.shape[0])), MODP)
        if fam.time_slot:
            full = np.zeros((rows.shape[0], N))
            full[:, offset:] = rows
            rows = full
        sampled += rows.shape[0]
        basis.add(rows)
    return sampled


def _batches(fam, draw, z0, basis, target) -> int:
    """Random elements ``draw(k)`` in batches 4, 8, 16, ... (capped at the dimension still possible
    plus 4) until a batch is rank-deficient or the target rank is reached; returns how many."""
    N = fam.dim
    batch, total = _PROBE, 0
    while True:
        n = min(batch, target - basis.rank + 4)
        new = 0
        for s in range(0, n, _ROWS):
            k = min(_ROWS, n - s)
            new += basis.add(evaluate(fam, draw(k), np.broadcast_to(z0, (k, N)).copy()))
        total += n
        if new < n or basis.rank >= target:
            return total
        batch *= 2


def _count(model, region, dynamics, seed, friction, max_depth, lower_bound) -> LieRank:
    t0 = time.perf_counter()
    fam = family(model, region, dynamics, friction, MODP)
    N = fam.dim
    target = N - lower_bound if lower_bound is not None else N
    rng = np.random.default_rng([seed, 2])
    z0 = rng.integers(1, MODP.modulus, N).astype(float)  # nonzero entries (t0 != 0 for Nesterov)
    basis = EchelonBasis(N)
    history = [RankStep(1, _first_round(model, fam, region, dynamics, z0, basis, rng, target), basis.rank,
                        basis.rank)]
    converged, stop = False, ""
    j = 1
    while True:
        if basis.rank >= target:
            stop = ("the fields fill the whole space" if basis.rank == N else
                    "the bound met the proven lower bound")
            converged = True
            break
        if 2 ** j > max_depth:
            stop = f"the dimension still grew with brackets of length {2 ** (j - 1)}, the longest allowed"
            break
        before = basis.rank
        total = _batches(fam, lambda k: round_sample(fam, rng, k, j), z0, basis, target)
        found = basis.rank - before
        history.append(RankStep(2 ** j, total, basis.rank, found))
        if found == 0:
            stop = f"brackets of length <= {2 ** j} added no direction (the dimension stopped growing)"
            converged = True
            break
        j += 1
    return LieRank(N, basis.rank, N - basis.rank, tuple(history), fam.fields, region, converged, stop,
                   region.kind, (), time.perf_counter() - t0, seed)
