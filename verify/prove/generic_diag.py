"""Generic proofs on diagonal (Hadamard) layers: any width n and any depth.

The layer is x -> <w, x> with w = u1 o ... o uL - m1 o ... o mK. The loss enters only through
g_m = dL/dw_m (abstract), so to first order L = sum_m g_m w_m + const, n a symbol and i a symbolic
coordinate; SymPy differentiates the indexed sum (KroneckerDelta) as EX-1/EX-2's proofs do. The
factors the quantity does not name multiply into one abstract vector r (any number of them: any
depth); a product without any of the quantity's factors does not move them and drops out.

References:
    Woodworth et al. (2020); the catalog's EX-1 / EX-2 (derived).
"""

from __future__ import annotations

import time
from typing import Any

import sympy as sp

from verify.certificates import Proven, Step, Undecided

__all__ = ["N", "INDEX", "prove_diagonal", "entry"]

N = sp.Symbol("n", integer=True, positive=True)
INDEX = sp.Symbol("i", integer=True)
_M = sp.Symbol("m", integer=True)


def entry(name: str, index=INDEX):
    """name[i] as an indexed SymPy symbol (the quantity's reading of a factor's entry)."""
    return sp.IndexedBase(name)[index]


def _product(names, named, m, rest: str):
    kept = [entry(f, m) for f in names if f in named]
    if not kept:
        return None
    others = [f for f in names if f not in named]
    return sp.Mul(*kept) * (entry(rest, m) if others else 1), others


def prove_diagonal(layer, Q, named, claim_id: str, title: str, statement: str, spec_n: int):
    """d/dt Q = 0 for the scalar ``Q`` in entries ``name[i]`` of the factors ``named``."""
    t0 = time.perf_counter()
    g = sp.IndexedBase("g")
    parts, notes = [], []
    for names, sign, rest in ((layer.factors, 1, "r"), (layer.minus, -1, "s")):
        got = _product(names, named, _M, rest) if names else None
        if got is None:
            if names:
                notes.append(f"the product {' o '.join(names)} holds none of the quantity's factors: it does not "
                             "move them (drops out of the gradient)")
            continue
        term, others = got
        parts.append(sign * term)
        if others:
            notes.append(f"{rest} = {' o '.join(others)}: the factors the quantity does not name, any number of "
                         "them (any depth)")
    w = sp.Add(*parts)
    L = sp.Sum(g[_M] * w, (_M, 0, N - 1))
    in_range = sp.Q.ge(INDEX, 0) & sp.Q.le(INDEX, N - 1)
    grads = {f: sp.refine(L.diff(entry(f)).doit(), in_range) for f in sorted(named)}
    dQ = -sp.Add(*[Q.diff(entry(f)) * G for f, G in grads.items()])
    residual = sp.simplify(dQ)
    steps = (Step(f"L = {sp.sstr(L)} + const", "w = " + sp.sstr(w.subs(_M, INDEX)) + ", g = dL/dw abstract"),
             Step(",  ".join(f"dL/d{f}[i] = {sp.sstr(G)}" for f, G in grads.items()),
                  "SymPy (KroneckerDelta sum, 0 <= i < n)"),
             Step(f"dQ/dt = {sp.sstr(dQ)}", "gradient flow; only coordinate i of each factor enters Q"))
    hyp = (f"n symbolic ({spec_n} in the spec), i a symbolic coordinate", "the loss enters only through w "
           "(g = dL/dw abstract); dQ/dt is linear in L, so the proof covers every data set", *notes)
    common: dict[str, Any] = dict(claim_id=claim_id, title=title, mode="generic", dynamics="flow",
                                  statement=statement, seconds=time.perf_counter() - t0)
    if residual == 0:
        return Proven(**common, steps=(*steps, Step("= 0", "SymPy simplify")), hypotheses=hyp)
    return Undecided(**common, reason="the generic residual does not reduce to 0",
                     evidence={"residual": sp.sstr(residual)[:300]})
