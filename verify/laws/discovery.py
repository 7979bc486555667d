"""``discover``: what is conserved, and how many independent laws there are, as a certified interval.

* every polynomial conservation law of degree <= k valid for every loss, each with its ``Proven``
  certificate (``verify.laws.search``);
* the number of functionally independent laws lies in [lower, upper]:
  - lower = rank of the gradients of the proven laws at a random integer point, computed exactly mod
    p (a rank mod p never exceeds the rational rank, and independence at one point means functional
    independence): a proven number of independent laws;
  - upper = D - rank of the elements of Lie(W) actually sampled, exactly mod p
    (``verify.laws.lie_rank``): no more laws can exist.
  The count is "exactly N" only when the two meet; otherwise the result says what would close the
  gap (more activation patterns, longer brackets, or a law the polynomial search cannot find).

References:
    Marcotte, Gribonval & Peyre (2023), "Abide by the law and follow the flow", NeurIPS, Thm 2.14.
    Marcotte, Gribonval & Peyre (2024), "Keep the momentum", ICML.
    Du, Hu & Lee (2018), Thm 2.1-2.2.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from verify.certificates import to_json as verdict_json
from verify.laws.search import Law, find_laws, param_names
from verify.errors import BadInput
from verify.laws.lie_fields import DYNAMICS
from verify.laws.lie_rank import COUNT_KINDS, LieRank, RankStep, check_supported, lie_rank
from verify.model import Model
from verify.interpret.jets import MODP, to_ring
from verify.laws.modp import independent_rows, rank_mod_p

__all__ = ["DiscoveryResult", "discover", "polynomial_rank"]

#: Largest (data points x state dimension) for which the every-path count is computed as a comparison
#: when the generic bounds do not meet (it needs one pattern per path combination).
_PATHS_WORK = 4e7


@dataclass(frozen=True)
class DiscoveryResult:
    """Everything ``discover`` found.

    Attributes:
        lower: functionally independent proven laws (a proven lower bound on the count): the laws of
            the network, plus the local laws proven at the theta0 of the upper bound.
        network_lower: functionally independent laws of the network (valid at every theta0 and with
            every path active).
        local_laws: laws of the activation patterns reached at the theta0 of the upper bound that
            raise the rank of the network's laws (each proven on those patterns).
        upper: D - rank of the sampled Lie(W) (a proven upper bound), or None if not computed.
        kind: "generic" (smallest bound over several theta0), "local", "paths" (every path active)
            or "polynomial" (no activation regions).
        trials: per theta0 tried: seed, upper bound, pattern-tensor rank / dimension.
        paths_upper: the every-path upper bound, computed when the bounds do not meet on a net with
            activation regions (None otherwise).
        closing: what would close the gap (empty when exact).
    """

    model: str
    dynamics: str
    friction: str
    degree: int
    seed: int
    state_dim: int
    laws: tuple[Law, ...]
    lower: int
    upper: int | None
    kind: str
    rank_history: tuple[RankStep, ...]
    stop: str
    region: str | None
    trials: tuple[dict, ...]
    paths_upper: int | None
    fields: str
    closing: str
    notes: tuple[str, ...]
    seconds: dict = field(default_factory=dict)
    network_lower: int = 0
    local_laws: tuple[Law, ...] = ()

    @property
    def exact(self) -> bool:
        return self.upper is not None and self.lower == self.upper

    @property
    def count(self) -> int | None:
        """The number of independent laws when certified exactly (lower == upper), else None."""
        return self.lower if self.exact else None

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict` (certificates in full)."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_dict(self) -> dict:
        """JSON-ready dict (certificates in full)."""
        d = {
            "model": self.model, "dynamics": self.dynamics, "friction": self.friction, "degree": self.degree,
            "seed": self.seed, "state_dim": self.state_dim,
            "count": {"lower": self.lower, "upper": self.upper, "exact": self.exact, "value": self.count,
                      "kind": self.kind, "closing": self.closing},
            "network_lower": self.network_lower,
            "laws": [_law_json(l) for l in self.laws], "local_laws": [_law_json(l) for l in self.local_laws],
            "rank_history": [vars(h) for h in self.rank_history], "stop": self.stop, "region": self.region,
            "trials": list(self.trials), "paths_upper": self.paths_upper,
            "paths_exact": self.paths_upper is not None and self.paths_upper == self.network_lower, "fields": self.fields,
            "notes": list(self.notes), "seconds": self.seconds,
        }
        return json.loads(json.dumps(d, default=str))  # plain JSON types only (Rationals, tuples -> str, list)

    def render(self) -> str:
        return self.render_text()

    # Notebook displays (the report's renderer).
    def _repr_html_(self) -> str:
        from verify._infra.html import discovery_html, fragment
        return fragment(discovery_html(self.to_dict()))

    def _repr_markdown_(self) -> str:
        from verify._infra.html import discovery_markdown
        return discovery_markdown(self.to_dict())

    def render_text(self) -> str:
        """Readable report: laws by group, the certified interval, the rounds and the notes."""
        dyn = self.dynamics + (f", friction {self.friction}" if self.dynamics == "momentum" else "")
        out = [f"discover {self.model} [{dyn}, degree <= {self.degree}, seed {self.seed}]",
               f"  state dimension D = {self.state_dim}" + (" (t, theta, v)" if self.dynamics != "flow" else "")]
        if self.degree:
            out.append(f"  polynomial laws (each PROVEN): {len(self.laws)}, {self.network_lower} functionally independent "
                       "(rank of their gradients mod p at a random integer point)")
            out += _law_lines(self.laws)
            if self.local_laws:
                out.append(f"  local laws (each PROVEN on the activation patterns reached at {self.local_laws[0].scope.removeprefix('patterns reached at ')}; "
                           f"not laws of every pattern): {len(self.local_laws)}, raising the rank to {self.lower}")
                out += _law_lines(self.local_laws)
        if self.upper is not None:
            D, up = self.state_dim, self.upper
            local = (f" locally at {self.local_laws[0].scope.removeprefix('patterns reached at ')} ({self.network_lower} of the network + "
                     f"{len(self.local_laws)} local)") if self.local_laws else ""
            if self.exact:
                out.append(f"  independent conservation laws: {self.lower} exactly{local} ({self.lower} proven independent "
                           f"= {D} - {D - up}, the rank of Lie(W) sampled)")
            else:
                out.append(f"  independent conservation laws: between {self.lower} and {up}, not exact (lower: "
                           f"proven independent laws; upper: {D} - {D - up}, the rank of Lie(W) sampled)")
                out.append(f"  to close the gap: {self.closing}")
            out.append(f"  count kind: {self.kind}" + (
                " (smallest upper bound over theta0 " + ", ".join(f"#{t['seed']}: {t['upper']}" for t in self.trials) + ")"
                if self.kind == "generic" and len(self.trials) > 1 else ""))
            if self.paths_upper is not None:
                out.append("  with every path active (every pattern tensor): " + (
                    f"exactly {self.paths_upper} (= the network's proven laws)" if self.paths_upper == self.network_lower
                    else f"between {self.network_lower} and {self.paths_upper}"))
            out.append(f"  fields: {self.fields}")
            for h in self.rank_history:
                out.append(f"    brackets of length <= {h.depth}: rank {h.dim} mod p (+{h.new} from {h.samples} samples)")
            out.append(f"  stopped: {self.stop}")
            if self.region:
                out.append(f"  region: {self.region}")
        out += [f"  note: {n}" for n in self.notes]
        out.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(out)


def _law_json(l: Law) -> dict:
    return {"text": l.text, "group": l.group, "params": list(l.params), "scope": l.scope,
            "terms": [[c, list(m)] for c, m in l.terms], "certificate": verdict_json(l.certificate)}


def _law_lines(laws) -> list[str]:
    out, group = [], None
    for l in laws:
        if l.group != group:
            group = l.group
            out.append(f"    {group}:")
        out.append(f"      {l.text}")
    return out


def _law_gradients(model: Model, laws, point: np.ndarray) -> np.ndarray:
    """Gradients of the laws at an integer point, exactly mod p (one row per law)."""
    index = {e[2]: i for i, e in enumerate(param_names(model))}
    rows = np.zeros((len(laws), point.size))
    for r, l in enumerate(laws):
        for c, mon in l.terms:
            coef = to_ring(np.array([Fraction(c)], dtype=object), MODP)[0]
            ids = [index[n] for n in mon]
            for p in range(len(ids)):
                rest = coef
                for q, i in enumerate(ids):
                    if q != p:
                        rest = MODP.reduce(rest * point[i])
                rows[r, ids[p]] = MODP.reduce(rows[r, ids[p]] + rest)
    return rows


def _point(model: Model, seed: int) -> np.ndarray:
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    return np.random.default_rng([seed, 3]).integers(1, MODP.modulus, D).astype(float)


def polynomial_rank(model: Model, laws, point: np.ndarray | None = None, seed: int = 0) -> int:
    """Rank mod p of the gradients of the laws at an integer point (random if None): a proven lower
    bound on the number of functionally independent laws among them."""
    if not laws:
        return 0
    return rank_mod_p(_law_gradients(model, laws, _point(model, seed) if point is None else point))


def _extra_laws(model: Model, base, extra, seed: int) -> tuple:
    """The laws of ``extra`` that raise the rank of the gradients of ``base`` (mod p), greedily."""
    if not extra:
        return ()
    G = _law_gradients(model, list(base) + list(extra), _point(model, seed))
    keep = [i - len(base) for i in independent_rows(G) if i >= len(base)]
    return tuple(extra[i] for i in keep)


def _closing(lr: LieRank, lower: int, degree: int, paths_upper: int | None, dynamics: str = "flow") -> str:
    """What would close the gap between the bounds, from why the sampling stopped."""
    if not lr.converged:
        return f"longer brackets: {lr.stop} (raise max_depth)"
    reg = lr.region
    parts = []
    if reg.kind == "local" and reg.tensor_rank < reg.tensor_dim:
        parts.append(f"more activation patterns: the patterns reached span {reg.tensor_rank} of the "
                     f"{reg.tensor_dim} pattern-tensor dimensions" + (
                         f"; with every path active the upper bound is {paths_upper}" if paths_upper is not None else ""))
        if paths_upper is not None and paths_upper == lower:
            parts.append("so the excess is local: at the theta0 tried the reachable patterns generate a smaller "
                         "Lie algebra; a law valid on such a region only (not for every theta) is not searched")
    if degree and dynamics != "flow":
        parts.append(f"a law of higher degree in (theta, v) or another time dependence (the search covered s^e m with "
                     f"deg m <= {degree})")
    elif degree:
        parts.append(f"a law of degree > {degree} or a non-polynomial law (the polynomial search covered degree <= "
                     f"{degree})")
    else:
        parts.append("proven laws: no polynomial law search ran (--count), so the lower bound is 0")
    return "; ".join(parts)


def discover(model: Model, *, degree: int = 2, count: bool = True, dynamics: str = "flow", seed: int = 0,
             friction=0, kind: str = "generic", tries: int = 4) -> DiscoveryResult:
    """Find every polynomial conservation law up to ``degree`` (proven) and bound their number.

    Args:
        model: a ``Model`` with homogeneous activations (linear, ReLU with/without bias, leaky ReLU,
            relu_power, diagonal/Hadamard nets, shared weights).
        degree: largest degree of the polynomial search (0 skips it).
        count: compute the upper bound D - rank of the sampled Lie(W).
        dynamics: "flow", "momentum" (heavy ball with ``friction``) or "nesterov" (friction 3/t); the
            momentum state is (t, theta, v) and the law search is ``verify.laws.momentum_laws``.
        kind: "generic" (smallest bound over ``tries`` random theta0), "local" or "paths".

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Thm 2.14; (2024), ICML.
    """
    if dynamics not in DYNAMICS:
        raise BadInput(f"Got dynamics={dynamics!r}; use one of {', '.join(DYNAMICS)}.")
    if kind not in COUNT_KINDS:
        raise BadInput(f"Got kind={kind!r}; use one of {', '.join(COUNT_KINDS)}.")
    if not model.params:
        raise BadInput(f"{model.name!r} has no parameters, so gradient flow does not move it: there is nothing to "
                       "discover; add a dense layer.")
    if degree < 0 or int(degree) != degree:
        raise BadInput(f"Got degree={degree}; use an integer >= 0 (0 skips the polynomial search).")
    try:
        fr = Fraction(str(friction))
    except (ValueError, ZeroDivisionError):
        raise BadInput(f"Got friction={friction!r}; use a number >= 0 such as 0, 1 or 0.5.") from None
    if fr < 0:
        raise BadInput(f"Got friction={friction}; friction must be >= 0.")
    check_supported(model)
    notes: list[str] = []
    seconds: dict[str, float] = {}
    laws: tuple[Law, ...] = ()
    lower = 0
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    if dynamics != "flow" and degree:
        from verify.laws.momentum_laws import MAX_MONOMIALS, find_momentum_laws
        t0 = time.perf_counter()
        laws, lower, coord, ran = find_momentum_laws(model, dynamics=dynamics, friction=fr, degree=degree, seed=seed)
        seconds["laws"] = time.perf_counter() - t0
        notes.append(f"momentum law search: Q = sum s^e m(theta, v), deg m <= {degree}, time coordinate {coord}"
                     if ran else f"momentum law search skipped: more than {MAX_MONOMIALS} monomials")
    elif degree:
        t0 = time.perf_counter()
        search = find_laws(model, degree=degree, seed=seed)
        laws = search.laws
        lower = polynomial_rank(model, laws, seed=seed)
        seconds["laws"] = time.perf_counter() - t0
        if search.dropped:
            notes.append(f"{len(search.dropped)} candidate(s) not proven and not reported: "
                         + "; ".join(search.dropped[:5]))
        notes.append(f"law search: {search.components} independent monomial blocks (largest "
                     f"{search.largest_component}) from a rank-{search.grading_rank} grading; smallest "
                     f"nullspace singular-value gap {search.min_gap:.2e}")
    up: int | None = None
    hist: tuple[RankStep, ...] = ()
    trials: tuple[dict, ...] = ()
    stop, desc, paths_up, fields, closing, ckind = "", None, None, "", "", kind
    local_laws: tuple[Law, ...] = ()
    bound = lower
    if count:
        t0 = time.perf_counter()
        lr = lie_rank(model, dynamics=dynamics, seed=seed, friction=fr, lower_bound=lower, kind=kind, tries=tries)
        up, hist, stop, fields, ckind = lr.upper, lr.history, lr.stop, lr.fields, lr.kind
        desc = lr.region.description
        trials = tuple({"seed": t.seed, "upper": t.upper, "tensor_rank": t.region.tensor_rank,
                        "tensor_dim": t.region.tensor_dim, "patterns_seen": t.region.patterns_seen}
                       for t in (lr.trials or (lr,)))
        if up > lower and lr.region.kind == "local" and degree:
            from verify.laws.regions import sample_region
            reg = sample_region(model, seed, "paths")
            if reg.X.shape[0] * lr.state_dim <= _PATHS_WORK:
                paths_up = lie_rank(model, dynamics=dynamics, seed=seed, friction=fr, lower_bound=lower,
                                    region=reg).upper
        if up > lower and lr.region.kind == "local" and degree and dynamics == "flow":
            # Laws of the patterns reached at this theta0 only (a law of the network is one of them):
            # each proven on those patterns; the ones that raise the rank close (part of) the gap.
            t1 = time.perf_counter()
            local = find_laws(model, degree=degree, seed=seed, region=lr.region, region_label=f"theta0 #{lr.seed}")
            local_laws = _extra_laws(model, laws, local.laws, seed)
            bound = lower + len(local_laws)
            seconds["local laws"] = time.perf_counter() - t1
        if bound > up:  # two certificates contradict each other: a bug, never a result
            raise RuntimeError(f"discover: proven lower bound {bound} exceeds the upper bound {up} on {model.name}")
        closing = "" if up == bound else _closing(lr, bound, degree, paths_up, dynamics)
        seconds["count"] = time.perf_counter() - t0 - seconds.get("local laws", 0.0)
    state_dim = D if dynamics == "flow" else 2 * D + 1
    return DiscoveryResult(model.name, dynamics, str(fr), int(degree), seed, state_dim, tuple(laws), bound, up, ckind,
                           tuple(hist), stop, desc, trials, paths_up, fields, closing, tuple(notes), seconds,
                           lower, tuple(local_laws))
