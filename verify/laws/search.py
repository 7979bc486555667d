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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from verify.certificates import Proven, Verdict
from verify.laws.law_algebra import (candidate_components, columns, components, gradings, monomials, nullspace,
                          rationalise, rref, samples)
from verify.laws.law_proofs import prove_group, prove_local, rows_per_unit, sub_model, unit_sub_model
from verify.laws.lie_rank import single_thread_blas
from verify.model import Act, Model

__all__ = ["Law", "LawSearch", "find_laws", "param_names", "law_text", "gradings", "sub_model", "unit_sub_model"]


@dataclass(frozen=True)
class Law:
    """One proven conservation law.

    Attributes:
        text: the polynomial, e.g. ``W1[0,0]^2 + W1[0,1]^2 - W2[0,0]^2``.
        terms: (coefficient as exact rational string, monomial as tuple of parameter-entry names).
        params: parameter names involved (the grouping key).
        group: readable group label, e.g. ``hidden unit W1 row 0`` or ``W1, W2``.
        certificate: the ``Proven`` verdict (shared by the laws proven together).
        scope: "every activation pattern" (a law of the network), or the activation patterns it was
            proven on (a local law, from ``find_laws(region=...)``).
    """

    text: str
    terms: tuple[tuple[str, tuple[str, ...]], ...]
    params: tuple[str, ...]
    group: str
    certificate: Proven
    scope: str = "every activation pattern"


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
    out: list[tuple[str, tuple[int, ...], str]] = []
    for p in model.params:
        if p.shape == ():
            out.append((p.name, (), p.name))
        else:
            for idx in itertools.product(*[range(s) for s in p.shape]):
                out.append((p.name, idx, f"{p.name}[{','.join(map(str, idx))}]"))
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


def find_laws(model: Model, *, degree: int = 2, seed: int = 0, prove: bool = True, region=None,
              region_label: str = "") -> LawSearch:
    """All polynomial conservation laws of degree 1..``degree`` (every loss), each proven.

    With ``region`` (a ``verify.laws.regions.Region`` of kind "local"), the laws of the activation
    patterns reached at its theta0 (local laws; every law of the network is one of them), each
    proven by ``prove_local`` on the reached patterns and labelled ``region_label``.

    References:
        Marcotte, Gribonval & Peyre (2023), NeurIPS, Sec 2.3; Du, Hu & Lee (2018), Thm 2.1-2.2.
    """
    with single_thread_blas():
        return _find_laws(model, degree, seed, prove, region, region_label)


def _find_laws(model: Model, degree: int, seed: int, prove: bool, region=None, region_label: str = "") -> LawSearch:
    t0 = time.perf_counter()
    entries = param_names(model)
    D = len(entries)
    Wg = gradings(model, seed, region)
    mons = monomials(D, degree)
    allmon = np.full((sum(a.shape[0] for a in mons), degree), -1, dtype=np.int64)
    k = 0
    for a in mons:
        allmon[k:k + a.shape[0], :a.shape[1]] = a
        k += a.shape[0]
    lab, ncomp = components(mons, Wg)
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(ncomp + 1))
    sizes = np.diff(bounds)
    rng = np.random.default_rng([seed, 11])
    has_act = any(isinstance(l, Act) and not l.activation.is_identity for l in model.layers)
    # One row per (theta, x) with a random cotangent (``samples``): a component of s monomials gets
    # s + 8 of them (x2 for ReLU, whose rows vanish where a unit is off). With s + 16 rows taken as
    # the n_out rows of fewer (theta, x) a 9-9-9 linear net lost 36 of its 45 laws to spurious null
    # vectors (measured): those rows are far from independent.
    factor = 2 if has_act else 1
    need = int(factor * (sizes.max() + 8))
    n_x = 4
    n_theta = max(8, -(-need // n_x))
    T, G = samples(model, rng, n_theta, n_x, region)
    Tv, Gv = samples(model, np.random.default_rng([seed, 13]), 8, n_x, region)  # fresh rows for re-checks
    units = rows_per_unit(model)
    # One dict per candidate law: mon (terms), flat (entry indices), params, text, group.
    found: list[dict[str, Any]] = []
    min_gap = np.inf
    for c in candidate_components(allmon, order, bounds, sizes, T, G, factor):
        idx = order[bounds[c]:bounds[c + 1]]
        mon = allmon[idx]
        R = min(T.shape[0], factor * (idx.size + 8))
        A = columns(mon, T[:R], G[:R])
        N, kept, dropped = nullspace(A)
        if N.shape[0] == 0:
            continue
        min_gap = min(min_gap, kept / dropped if dropped > 0 else np.inf)
        vecs: list[np.ndarray] = []
        labels: list[str | None] = []  # None: a vector not confined to one structural unit
        if N.shape[0] > 1:  # choose readable vectors: one structural unit at a time
            for unit_label, uidx in units:
                inside = np.array([all(int(i) in uidx for i in m if i >= 0) for m in mon])
                if not inside.any():
                    continue
                Nu, _, _ = nullspace(A[:, inside])
                # Reduced row-echelon rows of a rational space are rational (pivots 1).
                for v in (rref(Nu) if Nu.shape[0] else Nu):
                    full = np.zeros(idx.size)
                    full[inside] = v
                    if np.linalg.matrix_rank(np.vstack(vecs + [full]), tol=1e-8) > len(vecs):
                        vecs.append(full)
                        labels.append(unit_label)
        for v in rref(N):
            if len(vecs) == N.shape[0]:
                break
            if not vecs or np.linalg.matrix_rank(np.vstack(vecs + [v]), tol=1e-8) > len(vecs):
                vecs.append(v)
                labels.append(None)
        for v, label in zip(vecs, labels):
            q = rationalise(v)
            if q is None:
                continue
            qv = np.array([float(x) for x in q])
            check = columns(mon, Tv, Gv) @ qv
            scale = np.abs(columns(mon, Tv, Gv)).sum(axis=1).max() + 1e-300
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
    laws: list[Law] = []
    unproven: list[str] = []  # not ``dropped``: that name holds the nullspace's dropped singular value above
    if prove:
        groups: dict[tuple, list[dict[str, Any]]] = {}
        cache: dict = {}
        for f in found:
            cut = unit_sub_model(model, f["flat"])
            key = cut[:2] if cut is not None else sub_model(model, f["flat"])
            groups.setdefault(key, []).append(f)
        for group in groups.values():
            verdicts: Sequence[tuple[dict[str, Any], Verdict | None]]
            if region is None:
                verdicts = prove_group(model, group, entries, seed, cache)
            else:
                v = prove_local(model, group, entries, region, seed, region_label)
                verdicts = [(f, v) for f in group] if v is not None else [
                    (f, prove_local(model, [f], entries, region, seed, region_label)) for f in group]
            for f, v in verdicts:
                if isinstance(v, Proven):
                    laws.append(Law(f["text"], tuple((str(c), tuple(entries[i][2] for i in mm)) for c, mm in f["mon"]),
                                    f["params"], f["group"], v,
                                    f"patterns reached at {region_label}" if region is not None else
                                    "every activation pattern"))
                else:
                    unproven.append(f"{f['text']}: {v.verdict if v is not None else 'a reached pattern leaves a residual'}")
    return LawSearch(tuple(laws), len(found), tuple(unproven), ncomp, int(sizes.max()), float(min_gap),
                     int(Wg.shape[0]), t1 - t0, time.perf_counter() - t1)
