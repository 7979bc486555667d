"""``discover``: what is conserved, and have we found everything?

Two answers, both computed from the model:

* every polynomial conservation law of degree <= k valid for every loss, each with its ``Proven``
  certificate (``verify.laws.search``);
* the number of functionally independent laws, D - dim Lie(W)(theta), with the rank history and
  the singular-value gap of every rank decision (``verify.laws.lie_rank``). When the polynomial laws found
  have fewer independent members than the count, the result says so: higher-degree or
  non-polynomial laws exist.

References:
    Marcotte, Gribonval & Peyre (2023), "Abide by the law and follow the flow", NeurIPS.
    Marcotte, Peyre & Gribonval (2024), "Keep the momentum", ICML.
    Du, Hu & Lee (2018), Thm 2.1-2.2.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np

from verify.certificates import to_json as verdict_json
from verify.laws.search import Law, find_laws, param_names
from verify.errors import BadInput
from verify.laws.lie_rank import RankStep, check_supported, lie_rank
from verify.model import Act, Model

__all__ = ["DiscoveryResult", "discover", "polynomial_rank"]


@dataclass(frozen=True)
class DiscoveryResult:
    """Everything ``discover`` found.

    Attributes:
        model: the model's name.
        dynamics: "flow" or "momentum".
        degree: largest polynomial degree searched (0 when the search was skipped).
        seed: the seed of every random choice.
        state_dim: D (flow) or 2D (momentum).
        laws: the proven basis, grouped (each law carries its certificate).
        polynomial_rank: number of functionally independent laws among ``laws`` (rank of their
            gradients at the generic point), or None.
        count: D - dim Lie(W)(theta0), or None when not requested.
        rank_history: one ``RankStep`` per bracket depth.
        gaps: the singular-value gap of each rank decision (bracket depths, then the law search's
            smallest nullspace gap).
        region: statement of the activation region used (None for polynomial networks).
        region_check: the count on a second random region (ReLU), or None.
        fields: the vector fields spanning W.
        notes: plain statements the user should read (completeness, dropped candidates, ...).
        seconds: wall time of (law search + proofs, count).
    """

    model: str
    dynamics: str
    degree: int
    seed: int
    state_dim: int
    laws: tuple[Law, ...]
    polynomial_rank: int | None
    count: int | None
    rank_history: tuple[RankStep, ...]
    gaps: tuple[float, ...]
    region: str | None
    region_check: int | None
    fields: str
    notes: tuple[str, ...]
    seconds: dict

    def to_json(self) -> str:
        """JSON text (certificates in full, infinities as the string "inf")."""
        def num(x):
            return "inf" if isinstance(x, float) and math.isinf(x) else x

        d = {
            "model": self.model, "dynamics": self.dynamics, "degree": self.degree, "seed": self.seed,
            "state_dim": self.state_dim, "count": self.count, "polynomial_rank": self.polynomial_rank,
            "laws": [{"text": l.text, "group": l.group, "params": list(l.params),
                      "terms": [[c, list(m)] for c, m in l.terms],
                      "certificate": verdict_json(l.certificate)} for l in self.laws],
            "rank_history": [{k: num(v) for k, v in vars(h).items()} for h in self.rank_history],
            "gaps": [num(g) for g in self.gaps], "region": self.region, "region_check": self.region_check,
            "fields": self.fields, "notes": list(self.notes), "seconds": self.seconds,
        }
        return json.dumps(d, indent=2, default=str)

    def render_text(self) -> str:
        """Readable report: laws by group, the count, the rank history and the notes."""
        out = [f"discover {self.model} [{self.dynamics}, degree <= {self.degree}, seed {self.seed}]",
               f"  state dimension D = {self.state_dim}"]
        if self.degree:
            out.append(f"  polynomial laws (each PROVEN): {len(self.laws)}"
                       + (f", {self.polynomial_rank} functionally independent" if self.polynomial_rank is not None else ""))
            group = None
            for l in self.laws:
                if l.group != group:
                    group = l.group
                    out.append(f"    {group}:")
                out.append(f"      {l.text}")
        if self.count is not None:
            out.append(f"  independent conservation laws: {self.count} = {self.state_dim} - dim Lie(W)"
                       f" = {self.state_dim} - {self.state_dim - self.count}")
            out.append(f"  fields: {self.fields}")
            for h in self.rank_history:
                out.append(f"    brackets of length <= {h.depth}: dim {h.dim} ({h.samples} samples; "
                           f"sigma kept {h.sigma_kept:.2e}, dropped {h.sigma_dropped:.2e}, gap {h.gap:.2e})")
            if self.region:
                out.append(f"  region: {self.region}")
            if self.region_check is not None:
                out.append(f"  count on a second random region: {self.region_check}")
        out += [f"  note: {n}" for n in self.notes]
        out.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(out)

    # Notebook displays (the report's renderer; added as a unit, independent of the code above).
    def _repr_html_(self) -> str:
        from verify._infra.html import discovery_html, fragment
        return fragment(discovery_html(json.loads(self.to_json())))

    def _repr_markdown_(self) -> str:
        from verify._infra.html import discovery_markdown
        return discovery_markdown(json.loads(self.to_json()))


def polynomial_rank(model: Model, laws, theta0: np.ndarray) -> int:
    """Rank of the gradients of the laws at theta0 (functional independence at a generic point)."""
    if not laws:
        return 0
    index = {e[2]: i for i, e in enumerate(param_names(model))}
    rows = []
    for l in laws:
        g = np.zeros(theta0.size)
        for c, mon in l.terms:
            num, _, den = c.partition("/")
            coef = int(num) / (int(den) if den else 1)
            ids = [index[n] for n in mon]
            for p in range(len(ids)):
                rest = np.prod([theta0[i] for q, i in enumerate(ids) if q != p]) if len(ids) > 1 else 1.0
                g[ids[p]] += coef * rest
        rows.append(g / (np.linalg.norm(g) + 1e-300))
    s = np.linalg.svd(np.array(rows), compute_uv=False)
    return int(np.sum(s > 1e-9 * s[0]))


def discover(model: Model, *, degree: int = 2, count: bool = True, dynamics: str = "flow",
             seed: int = 0) -> DiscoveryResult:
    """Find every polynomial conservation law up to ``degree`` (proven) and count all of them.

    Args:
        model: a ``Model`` with homogeneous activations (linear, ReLU with/without bias, leaky ReLU,
            relu_power, diagonal/Hadamard nets, shared weights).
        degree: largest degree of the polynomial search (0 skips it).
        count: compute D - dim Lie(W)(theta0).
        dynamics: "flow" (gradient flow) or "momentum" (heavy-ball flow on (theta, v); the
            polynomial search is for gradient flow only and is skipped).
        seed: seeds every random choice (theta0, data, samples).

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Thm 2.14; Marcotte, Peyre & Gribonval (2024), ICML.
    """
    if dynamics not in ("flow", "momentum"):
        raise BadInput(f"Got dynamics={dynamics!r}; use 'flow' or 'momentum'.")
    if degree < 0 or int(degree) != degree:
        raise BadInput(f"Got degree={degree}; use an integer >= 0 (0 skips the polynomial search).")
    check_supported(model)
    notes, seconds = [], {}
    relu = any(isinstance(l, Act) and not l.activation.is_identity for l in model.layers)
    laws, gaps, prank = (), [], None
    if dynamics == "momentum" and degree:
        notes.append("the polynomial law search covers gradient flow only; for momentum only the count "
                     "is computed")
        degree = 0
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    if degree:
        t0 = time.perf_counter()
        search = find_laws(model, degree=degree, seed=seed)
        seconds["laws"] = time.perf_counter() - t0
        laws = search.laws
        # Functional independence is decided at a generic point (the laws hold everywhere).
        prank = polynomial_rank(model, laws, np.random.default_rng([seed, 3]).standard_normal(D))
        if search.dropped:
            notes.append(f"{len(search.dropped)} candidate(s) not proven and not reported: "
                         + "; ".join(search.dropped[:5]))
        notes.append(f"law search: {search.components} independent monomial blocks (largest "
                     f"{search.largest_component}) from a rank-{search.grading_rank} grading; smallest "
                     f"nullspace singular-value gap {search.min_gap:.2e}")
    hist, cnt, check, fields, desc = (), None, None, "", None
    if count:
        t0 = time.perf_counter()
        # Proven polynomial laws are a lower bound on the count, which lets the ReLU region stop
        # adding activation patterns as soon as the (upper-bound) count meets it.
        bound = prank if dynamics == "flow" else None
        lr = lie_rank(model, dynamics=dynamics, seed=seed, lower_bound=bound)
        hist, cnt, fields = lr.history, lr.count, lr.fields
        gaps += [h.gap for h in hist]
        desc = lr.region.description if relu else None
        if not lr.converged:
            notes.append("the bracket dimension still grew at the longest bracket tried: the count is "
                         "an upper bound")
        if relu:
            other = lie_rank(model, dynamics=dynamics, seed=seed + 1, lower_bound=bound)
            check = other.count
            if check != cnt:
                notes.append(
                    f"the count differs between two random activation regions ({cnt} vs {check}). On a "
                    "region the count is exact for the activation patterns used and can only fall when "
                    "more patterns are added; it can also genuinely depend on the region, e.g. when two "
                    "units of a layer are active on exactly the same inputs (they then act as one linear "
                    "block with extra laws)")
        seconds["count"] = time.perf_counter() - t0
        if prank is not None:
            if prank < cnt:
                notes.append(f"the polynomial laws of degree <= {degree} account for {prank} of the {cnt} "
                             "independent laws: higher-degree or non-polynomial laws exist"
                             + (" on this region (or activation patterns the data did not reach)"
                                if relu else ""))
            else:
                notes.append(f"the polynomial laws of degree <= {degree} account for every independent law "
                             f"({prank} = count)")
    state_dim = D * (2 if dynamics == "momentum" else 1)
    if degree and "laws" in seconds:
        gaps.append(search.min_gap)
    return DiscoveryResult(model.name, dynamics, int(degree), seed, state_dim, tuple(laws), prank, cnt,
                           tuple(hist), tuple(gaps), desc, check, fields, tuple(notes), seconds)
