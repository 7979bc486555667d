"""The proof half of the polynomial law search: every candidate law is proven by SymPy before it is
reported, on the smallest piece of the network that holds its parameters.

A law touching hidden units U of one layer pair is proven on those units cut out
(``unit_sub_model``), any other on the smallest contiguous run of layers (``sub_model``); the
input of the piece and the gradient arriving from above are symbolic, so the proof covers the
whole network.

References:
    Du, Hu & Lee (2018), Thm 2.1 and 2.2 (the families such proofs cover).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import sympy as sp

from verify.certificates import Proven, Verdict
from verify.model import Act, Activation, DiagonalLinear, Dense, Model, Param, layer_dims
from verify.interpret.jets import param_layout
from verify.prove.concrete import QuantityFn, prove_conserved

__all__ = ["sub_model", "unit_sub_model", "prove_group", "rows_per_unit"]


def rows_per_unit(model: Model) -> list[tuple[str, set[int]]]:
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
    for layer in model.layers:
        if isinstance(layer, DiagonalLinear):
            n = lay[layer.factors[0]][1][0]
            for i in range(n):
                units.append((f"coordinate {i} ({', '.join(f'{f}[{i}]' for f in layer.factors)})",
                              {lay[f][0] + i for f in layer.factors}))
    return units


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


#: (parameter name, index in the model) -> index in a unit cut-out.
Remap = Callable[[str, tuple[int, ...]], tuple[int, ...]]


def unit_sub_model(model: Model, flat: set[int]) -> tuple[Model, str, Remap] | None:
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

        def remap(name: str, idx: tuple[int, ...], pos: dict[int, int] = pos, wb: str = lb.weight) -> tuple[int, ...]:
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


def prove_group(model: Model, laws: list[dict], entries, seed: int, cache: dict | None = None
                ) -> list[tuple[dict, Verdict]]:
    """Prove a group of laws sharing a sub-network; falls back to one call per law, then to the
    whole network, so one bad candidate cannot hide the good ones.

    ``cache`` maps (cut-out network, laws after renaming its units to 0..k-1) to a verdict: two
    groups with the same key are the same SymPy statement, so the expansion is done once (a
    71-wide linear layer has 2485 two-unit laws that all read W1[0,:].W1[1,:] - W2[:,0].W2[:,1])."""
    flat = set().union(*[l["flat"] for l in laws])
    cut = unit_sub_model(model, flat)
    if cut is not None:
        sub, where, remap = cut
    else:
        (sub, where), remap = sub_model(model, flat), None

    def renamed(group, m):
        out = []
        for law in group:
            terms = []
            for c, mon in law["mon"]:
                idx = []
                for i in mon:
                    pname, ix, _ = entries[i]
                    idx.append((pname, tuple(remap(pname, ix)) if remap is not None and m is sub else tuple(ix)))
                terms.append((c, tuple(idx)))
            out.append(tuple(terms))
        return tuple(out)

    def quantity(group, m):
        def build(P):
            out = {}
            for k, terms in enumerate(renamed(group, m)):
                expr = sp.Integer(0)
                for c, mon in terms:
                    term = sp.Rational(c.numerator, c.denominator)
                    for pname, idx in mon:
                        term = term * P[pname][idx if len(idx) == 2 else (idx[0], 0) if idx else (0, 0)]
                    expr += term
                out[f"[law {k + 1}]" if len(group) > 1 else ""] = expr
            return out
        text = "; ".join(l["text"] for l in group) if len(group) <= 3 else f"{len(group)} discovered laws"
        return QuantityFn(text, build)

    def run(m, group, note):
        statement = (f"each of the {len(group)} discovered quantities is conserved under gradient flow; "
                     f"proven on {note}")
        key = (m, renamed(group, m)) if cache is not None and remap is not None and m is sub else None
        if key is not None and key in cache:
            return replace(cache[key], statement=statement + " (the same cut-out and renamed laws as an "
                           "earlier group: the SymPy expansion of that proof applies verbatim)")
        v = prove_conserved(m, quantity(group, m), claim_id="discover", seed=seed,
                            title=f"{len(group)} discovered law(s) on {m.name}", statement=statement)
        if key is not None:
            cache[key] = v
        return v

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


def _sub_units(model: Model, sub: Model, flat: set[int], entries) -> tuple[int, list[int] | None]:
    """(index among the model's Act layers of the sub-network's first Act layer, model unit of each
    unit of a unit cut-out (None: units keep their numbers))."""
    head, tail = sub.layers[0], sub.layers[-1]
    # A piece with activation regions starts at a Dense layer (a unit cut-out also ends at one).
    assert isinstance(head, Dense), f"{sub.name} does not start with a Dense layer"
    first = next(i for i, l in enumerate(model.layers) if isinstance(l, Dense) and l.weight == head.weight)
    offset = sum(isinstance(l, Act) for l in model.layers[:first])
    if not sub.name.endswith(f"unit(s) of {head.weight}]"):
        return offset, None
    assert isinstance(tail, Dense), f"{sub.name} does not end with a Dense layer"
    wa, wb = head.weight, tail.weight
    ba = head.bias
    units = sorted({int(entries[i][1][0]) if entries[i][0] in (wa, ba) else int(entries[i][1][1])
                    for i in flat if entries[i][0] in (wa, ba, wb)})
    return offset, units


def _region_value(act: Activation, on: bool) -> sp.Rational:
    """s+ (unit on) or s- of an activation; discover admits only activations with slopes
    (``lie_rank.check_supported``)."""
    assert act.slopes is not None, f"activation {act.name!r} has no region constants"
    return act.slopes[0] if on else act.slopes[1]


def prove_local(model: Model, laws: list[dict], entries, region, seed: int, label: str) -> Verdict | None:
    """Prove laws that hold on the activation patterns reached at ``region``'s theta0 only.

    The residual dQ/dt is derived by SymPy on the cut-out with a region symbol s per unit (as
    ``prove_conserved`` does); then every pattern of the cut-out's units reached at theta0 is
    substituted for the symbols, and each substituted residual must expand to 0. That proves Q
    conserved while every data point's pattern is one of them: near theta0 (the reached patterns are
    locally constant at a generic theta0), for every loss and data set. Returns None if a residual
    does not vanish."""
    import time

    from verify.certificates import Step
    from verify.prove.dynamics import flow_derivative
    from verify.interpret.symbolic import symbolic_net
    t0 = time.perf_counter()
    flat = set().union(*[l["flat"] for l in laws])
    cut = unit_sub_model(model, flat)
    (sub, where, remap) = cut if cut is not None else (*sub_model(model, flat), None)
    offset, units = _sub_units(model, sub, flat, entries)
    net = symbolic_net(sub, 1)
    P = dict(net.params)
    exprs = []
    for law in laws:
        expr = sp.Integer(0)
        for c, mon in law["mon"]:
            term = sp.Rational(c.numerator, c.denominator)
            for i in mon:
                pname, idx, _ = entries[i]
                if remap is not None:
                    idx = remap(pname, idx)
                term = term * P[pname][idx if len(idx) == 2 else (idx[0], 0) if idx else (0, 0)]
            expr += term
        exprs.append(expr)
    residuals = [flow_derivative(q, net) for q in exprs]
    cols = region.unit_columns(model)
    acts = [l.activation for l in model.layers if isinstance(l, Act)]
    symbols, where_col = [], []
    for r in net.regions:
        h, u = r.symbol.name[1:].split("_")
        a = offset + int(h) - 1
        unit = units[int(u)] if units is not None else int(u)
        symbols.append((r.symbol, acts[a]))
        where_col.append(cols[a] + unit)
    projected = np.unique(region.reached[:, where_col], axis=0) if where_col else np.zeros((1, 0), bool)
    for row in projected:
        sub_map = {s: _region_value(act, on) for (s, act), on in zip(symbols, row)}
        for r in residuals:
            if sp.expand(r.xreplace(sub_map)) != 0:
                return None
    names = ", ".join(str(s) for s, _ in symbols)
    steps = (Step(f"dQ/dt = {sp.sstr(residuals[0])[:200]}", "gradient flow; SymPy derivatives of Q and of the loss "
                  f"on {sub.name}, region symbols s per unit ({names})"),
             Step(f"each of the {len(projected)} patterns of these units reached at theta0 substituted for ({names}): "
                  f"all {len(residuals)} residual(s) expand to 0", "polynomial identity per pattern"))
    statement = (f"each of the {len(laws)} quantities is conserved under gradient flow while every data point's "
                 f"activation pattern is one reached at {label} (a local law: not conserved on every pattern); "
                 f"proven on {where}")
    return Proven(claim_id="discover", title=f"{len(laws)} local law(s) on {sub.name}", mode="concrete",
                  dynamics="flow", statement=statement, seconds=time.perf_counter() - t0, steps=steps,
                  hypotheses=("loss L = an undefined differentiable ell(f(x)) of one data point (dQ/dt is linear "
                              "in L, so one point covers any data set)",
                              f"the activation patterns of the units involved are among the {len(projected)} "
                              f"reached at {label}"))
