"""Du, Hu & Lee (2018): the identity claims DU-1, DU-1gd, DU-1k, DU-2, DU-3, DU-3gd, DU-4, DU-6.

Generic proofs use symbolic widths (``verify.prove.generic_models``); concrete proofs use small networks
with every entry symbolic (``verify.prove.concrete``). Negative controls must come out ``Refuted``.

References:
    Du, Hu & Lee, "Algorithmic regularization in learning deep homogeneous models: layers are
    automatically balanced", NeurIPS 2018: Thm 2.1, Cor 2.1, Thm 2.2, Thm 2.3, eq. (9).
"""

from __future__ import annotations

import time
from functools import partial

import sympy as sp

from verify.certificates import Proven, Step, Undecided
from verify.claims import get_claim
from verify.prove.dynamics import ETA
from verify.prove.generic import (NotNormalisable, as_expr, context, diagonal_entry, flow_derivative_terms, gd_increment_terms,
                            negate, terms, trace_terms)
from verify.testing.checking import as_increment, as_quantity, stated_family
from verify.prove.generic_models import WIDTHS, generic_verdict, two_layer, two_layer_batch
from verify.model import conv1d_pattern, mlp, shared_mlp
from verify.prove.concrete import QuantityFn, prove_conserved

from .tasks import ProofTask

__all__ = ["TASKS", "neuron_balance", "layer_balance", "matrix_balance", "sq", "NEURON_GD", "MATRIX_GD", "DET_TERM",
           "gd_claim"]

DIAG_REASON = "D diagonal: e_i^T D = d_i e_i^T, D e_i = d_i e_i; a 1x1 product equals its transpose"


def sq(M: sp.Matrix) -> sp.Expr:
    """Sum of squares of the entries."""
    return sum((e**2 for e in M), sp.Integer(0))


# ---------------------------------------------------------------- quantities, in the quantity language
# Each is stated as text that `verify check SPEC --quantity TEXT` accepts; "for every layer h" on a
# concrete net is one text per layer pair, labelled [h=...] (stated_family).

def neuron_balance(model, k: int = 1, with_bias: bool = True) -> QuantityFn:
    """DU-1 / DU-1k for every hidden neuron: ||W_h[i,:]||^2 (+ b_h[i]^2) - k ||W_{h+1}[:,i]||^2."""
    dense = [l for l in model.layers if hasattr(l, "weight")]
    kk = "" if k == 1 else f"{k}*"
    texts = {}
    for h in range(len(dense) - 1):
        W, Wn, b = dense[h].weight, dense[h + 1].weight, dense[h].bias
        bias = f" + {b}[i]**2" if b and with_bias else ""
        texts[f"[h={h + 1}]"] = f"sum({W}[i,:]**2){bias} - {kk}sum({Wn}[:,i]**2)"
    return stated_family(model, texts)


def layer_balance(model) -> QuantityFn:
    """DU-2 / DU-4: ||W_h||_F^2 - ||W_{h+1}||_F^2 (free-parameter vectors for shared layers)."""
    names = [l.weight for l in model.layers if hasattr(l, "weight")]
    return stated_family(model, {f"[h={h + 1}]": f"sum({names[h]}**2) - sum({names[h + 1]}**2)"
                                 for h in range(len(names) - 1)})


def matrix_balance(model, h: int = 1, sign: int = 1) -> QuantityFn:
    """DU-3: W_h W_h^T - W_{h+1}^T W_{h+1} (sign=-1 gives JT-1's orientation)."""
    a, b = f"W{h}", f"W{h + 1}"
    return as_quantity(f"{a} @ {a}.T - {b}.T @ {b}" if sign == 1 else f"{b}.T @ {b} - {a} @ {a}.T", model)


#: The catalog's GD claims in the quantity language (``verify check --increment`` takes the same text):
#: (quantity, increment) with G_W = dL/dW and eta the step.
NEURON_GD = ("sum(W1[i,:]**2) - sum(W2[:,i]**2)", "eta**2*(sum(G_W1[i,:]**2) - sum(G_W2[:,i]**2))")
MATRIX_GD = ("W1 @ W1.T - W2.T @ W2", "eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)")
#: For a 2x2 matrix M, tr(M) M - M M = det(M) I (Cayley-Hamilton); 0 whenever M has rank one, so
#: for a one-point gradient of a linear layer. Added to a correct increment: a negative control.
DET_TERM = " + eta**2*(trace(G_W1)*G_W1 - G_W1 @ G_W1)"


def gd_claim(model, quantity: str, increment: str):
    """(QuantityFn, Increment) parsed from the quantity language against ``model``."""
    return as_quantity(quantity, model), as_increment(increment, model)


# ---------------------------------------------------------------- generic proofs

def _statement(cid):
    return get_claim(cid).statement


#: Claimed GD increments of the generic proofs: the exact one and the negative controls.
GD_CLAIMS = {
    "exact": "",
    "dropped": "control: increment 0 (the eta^2 term dropped)",
    "sign": "control: the eta^2 increment with the wrong sign",
    "rank-one": "control: + eta^2 (tr(M) M - M M), M = G_h W_h^T (0 whenever M has rank one, as for one sample)",
}


def _gd_claimed(kind: str, inc, M=None):
    if kind not in GD_CLAIMS or (kind == "rank-one" and M is None):
        raise ValueError(f"claimed={kind!r}: use one of {', '.join(GD_CLAIMS)}")
    if kind == "exact":
        return ETA**2 * inc
    if kind == "dropped":
        return sp.ZeroMatrix(*inc.shape)
    if kind == "sign":
        return -ETA**2 * inc
    return ETA**2 * inc + ETA**2 * (sp.Trace(M) * M - M * M)


def _not_normalisable(claim_id, title, dynamics, exc, t0):
    return Undecided(claim_id=claim_id, title=title, mode="generic", dynamics=dynamics, statement=_statement(claim_id),
                     seconds=time.perf_counter() - t0, reason=f"outside the generic engine: {exc}")


def du1_generic(claim_id="DU-1", k=1, dynamics="flow", activation="homogeneous", weight=None, claimed="exact"):
    """Per-neuron balance, generic widths: entry (i, i) of W_h W_h^T - k W_{h+1}^T W_{h+1}.

    Flow: one sample (dQ/dt is linear in L). GD: a batch of B samples (``two_layer_batch``);
    ``claimed`` picks the exact increment or a negative control (``GD_CLAIMS``).
    """
    t0 = time.perf_counter()
    kq = k if weight is None else weight
    title = f"per-neuron balance, degree-{k} activation" if activation == "homogeneous" else f"per-neuron, phi: {activation}"
    if dynamics == "gd":
        title += f", batch of B samples{', ' + GD_CLAIMS[claimed] if GD_CLAIMS.get(claimed) else ''}"
        try:
            b = two_layer_batch(activation, k)
        except NotNormalisable as exc:
            return _not_normalisable(claim_id, title, dynamics, exc, t0)
        row, col = as_expr(b.row), as_expr(b.col)
        Q = b.r * b.r.T - kq * b.c.T * b.c
        claim = _gd_claimed(claimed, row * row.T - kq * col.T * col)
        pairs = gd_increment_terms(Q, {b.r: row, b.c: col}, ETA, b.ctx) + negate(terms(claim, b.ctx))
        steps = [*b.steps,
                 Step(f"Q_i = {sp.sstr(Q)}", "||W_h[i,:]||^2 = r r^T, ||W_(h+1)[:,i]||^2 = c^T c (r = row i of W_h, "
                                           "c = column i of W_(h+1))"),
                 Step(f"Q_i(W - eta G) - Q_i(W) - ({sp.sstr(claim)}) = {sp.sstr(as_expr(pairs))}",
                      "one GD step: r -> r - eta e_i^T G_h, c -> c - eta G_(h+1) e_i; expanded exactly by SymPy")]
        return generic_verdict(claim_id, title, _statement(claim_id), dynamics, pairs, "scalar", steps,
                               b.hypotheses, b.ctx, t0, "the terms cancel pairwise (a 1x1 word equals its transpose, "
                                                        "D_i^T = D_i)")
    g = two_layer(activation, k)
    Q = g.W1 * g.W1.T - kq * g.W2.T * g.W2
    steps = [*g.steps, Step(f"Q = {sp.sstr(Q)};  the DU-1 quantity of neuron i is e_i^T Q e_i",
                            "||W_h[i,:]||^2 = (W_h W_h^T)[i,i], ||W_(h+1)[:,i]||^2 = (W_(h+1)^T W_(h+1))[i,i]")]
    pairs = flow_derivative_terms(Q, {g.W1: -g.G1, g.W2: -g.G2}, g.ctx)
    steps.append(Step(f"dQ/dt = {sp.sstr(as_expr(pairs))}", "gradient flow W' = -G, SymPy derivative of Q(W - tG) at t = 0"))
    diag = diagonal_entry(pairs, g.e, g.D, g.d)
    steps.append(Step(f"e_i^T (...) e_i = {sp.sstr(as_expr(diag))}", DIAG_REASON))
    return generic_verdict(claim_id, title, _statement(claim_id), dynamics, diag, "scalar", steps,
                           g.hypotheses, g.ctx, t0, "the terms cancel pairwise")


def du1_bias_generic():
    """Footnote 8: a bias is an extra input column fixed to 1, so DU-1 holds with b_h[i]^2 added."""
    t0 = time.perf_counter()
    n0, n1, _ = WIDTHS
    W, b, a = sp.MatrixSymbol("W_h", n1, n0), sp.MatrixSymbol("b_h", n1, 1), sp.MatrixSymbol("a", n0, 1)
    Wt, at = sp.BlockMatrix([[W, b]]), sp.BlockMatrix([[a], [sp.Identity(1)]])
    z = sp.block_collapse(Wt * at)
    gram = sp.block_collapse(Wt * Wt.T)
    ok = sp.simplify(z - (W * a + b)) == sp.ZeroMatrix(n1, 1) and terms(gram - W * W.T - b * b.T, context()) == []
    inner = du1_generic()
    if not ok or inner.verdict != "proven":
        return inner
    steps = (Step(f"[W_h b_h] [a; 1] = {sp.sstr(z)}", "block multiplication (SymPy block_collapse)"),
             Step(f"[W_h b_h] [W_h b_h]^T = {sp.sstr(gram)}", "block multiplication (SymPy block_collapse)"),
             Step("apply the bias-free generic proof to W~ = [W_h b_h], a~ = [a; 1]", "DU-1 generic (below)"),
             *inner.steps)
    return type(inner)(claim_id="DU-1", title="per-neuron balance with bias (footnote 8)", mode="generic",
                       dynamics="flow", statement="d/dt(||W_h[i,:]||^2 + b_h[i]^2 - ||W_(h+1)[:,i]||^2) = 0",
                       seconds=time.perf_counter() - t0, steps=steps,
                       hypotheses=(*inner.hypotheses, "a bias b_h enters as z = W_h a + b_h"))


def du2_generic():
    t0 = time.perf_counter()
    g = two_layer("homogeneous", 1)
    Q = g.W1 * g.W1.T - g.W2.T * g.W2
    pairs = flow_derivative_terms(Q, {g.W1: -g.G1, g.W2: -g.G2}, g.ctx)
    steps = [*g.steps, Step(f"d/dt tr(W_h W_h^T - W_(h+1)^T W_(h+1)) = tr({sp.sstr(as_expr(pairs))})",
                            "gradient flow; ||W||_F^2 = tr(W W^T)")]
    return generic_verdict("DU-2", "layer balance, degree-1 activation", _statement("DU-2"), "flow", pairs,
                           "trace", steps, g.hypotheses, g.ctx, t0, "tr(AB) = tr(BA) and tr(A) = tr(A^T), D^T = D")


def du3_generic(claim_id="DU-3", dynamics="flow", sign=1, activation="identity", claimed="exact"):
    """Matrix balance sign*(W_h W_h^T - W_(h+1)^T W_(h+1)). Flow: one sample; GD: a batch of B
    samples, ``claimed`` picks the exact increment or a negative control (``GD_CLAIMS``)."""
    t0 = time.perf_counter()
    names = ("W_h", "W_{h+1}") if claim_id != "JT-1" else ("W_k", "W_{k+1}")
    title = "matrix balance, linear layer" if activation == "identity" else f"matrix balance, phi: {activation}"
    if dynamics == "gd":
        title += f", batch of B samples{', ' + GD_CLAIMS[claimed] if GD_CLAIMS.get(claimed) else ''}"
        try:
            g = two_layer_batch(activation, 1, names)
            if g.G1 is None:
                raise NotNormalisable("the full batch gradient needs phi_h = identity")
        except NotNormalisable as exc:
            return _not_normalisable(claim_id, title, dynamics, exc, t0)
        Q = sign * (g.W1 * g.W1.T - g.W2.T * g.W2)
        claim = _gd_claimed(claimed, sign * (g.G1 * g.G1.T - g.G2.T * g.G2), g.G1 * g.W1.T)
        pairs = gd_increment_terms(Q, {g.W1: g.G1, g.W2: g.G2}, ETA, g.ctx) + negate(terms(claim, g.ctx))
        steps = [*g.steps, Step(f"Q(W - eta G) - Q(W) - ({sp.sstr(claim)}) = {sp.sstr(as_expr(pairs))}",
                                "one GD step, expanded exactly by SymPy")]
    else:
        g = two_layer(activation, 1, names)
        Q = sign * (g.W1 * g.W1.T - g.W2.T * g.W2)
        pairs = flow_derivative_terms(Q, {g.W1: -g.G1, g.W2: -g.G2}, g.ctx)
        steps = [*g.steps, Step(f"d/dt ({sp.sstr(Q)}) = {sp.sstr(as_expr(pairs))}", "gradient flow, SymPy")]
    return generic_verdict(claim_id, title, _statement(claim_id), dynamics, pairs, "matrix", steps, g.hypotheses,
                           g.ctx, t0, "non-commutative terms cancel exactly")


def du4_generic(d_free: int = 2):
    """Arbitrary sharing pattern: W_h = sum_p v_p E_p, W_{h+1} = sum_q w_q F_q, E, F arbitrary."""
    t0 = time.perf_counter()
    g = two_layer("homogeneous", 1)
    n0, n1, n2 = WIDTHS
    E = [sp.MatrixSymbol(f"E_{p}", n1, n0) for p in range(1, d_free + 1)]
    F = [sp.MatrixSymbol(f"F_{q}", n2, n1) for q in range(1, d_free + 1)]
    v, w = sp.symbols(f"v1:{d_free + 1}"), sp.symbols(f"w1:{d_free + 1}")
    S1, S2 = sp.MatAdd(*[vp * Ep for vp, Ep in zip(v, E)]), sp.MatAdd(*[wq * Fq for wq, Fq in zip(w, F)])
    dv = [sp.Trace(S1.diff(vp).T * g.G1) for vp in v]  # dL/dv_p = <G_h, dW_h/dv_p>
    dw = [sp.Trace(S2.diff(wq).T * g.G2) for wq in w]
    ddt = -2 * sum(vp * gp for vp, gp in zip(v, dv)) + 2 * sum(wq * gq for wq, gq in zip(w, dw))
    ddt = ddt.xreplace({g.W1: S1, g.W2: S2})
    pairs = trace_terms(ddt, g.ctx)
    steps = [*g.steps,
             Step(f"W_h = {sp.sstr(S1)},  dW_h/dv_1 = {sp.sstr(S1.diff(v[0]))}",
                  "sharing pattern g_h: E_p = indicator of g_h^-1(p) (here any matrices); SymPy derivative"),
             Step(f"dL/dv_p = tr(E_p^T G_h) = {sp.sstr(dv[0])} (p = 1)", "chain rule through the linear parametrisation"),
             Step(f"d/dt(||v||^2 - ||w||^2) = {sp.sstr(ddt)}", "gradient flow on the free parameters v, w"),
             Step(f"= {len(pairs)} trace words before cancellation", "expand with W_h = sum v_p E_p")]
    return generic_verdict("DU-4", f"shared weights, arbitrary pattern, {d_free} free parameters per layer",
                           _statement("DU-4"), "flow", pairs, "trace", steps,
                           (*g.hypotheses, "W_h, W_(h+1) are linear in their free parameters (any pattern)",
                            f"derived with {d_free} free parameters per layer; it covers any number by linearity: "
                            "sum_p v_p tr(E_p^T G_h) = tr((sum_p v_p E_p)^T G_h) = tr(W_h^T G_h), so the residual "
                            "depends on the free parameters only through W_h and W_(h+1), whatever their count"),
                           g.ctx, t0, "tr(AB) = tr(BA), tr(A) = tr(A^T), D^T = D")


def du6_generic():
    """DU-6 in non-commutative matrix algebra, the GD update derived from f by SymPy."""
    t0 = time.perf_counter()
    d1, d2, r = sp.symbols("d_1 d_2 r", integer=True, positive=True)
    U, V, M = sp.MatrixSymbol("U", d1, r), sp.MatrixSymbol("V", d2, r), sp.MatrixSymbol("M*", d1, d2)
    ctx = context()
    R = U * V.T - M
    f = sp.Trace(R.T * R) / 2
    GU, GV = f.diff(U), f.diff(V)
    claimed = ETA**2 * (V.T * R.T * R * V - U.T * R * R.T * U)
    pairs = gd_increment_terms(U.T * U - V.T * V, {U: GU, V: GV}, ETA, ctx) + negate(terms(claimed, ctx))
    steps = [Step(f"f = {sp.sstr(f)}", "objective (1)"),
             Step(f"df/dU = {sp.sstr(GU)},  df/dV = {sp.sstr(GV)}", "SymPy matrix calculus (gives update (9))"),
             Step(f"U+^T U+ - V+^T V+ - (U^T U - V^T V) - {sp.sstr(claimed)} = {sp.sstr(as_expr(pairs))}",
                  "U+ = U - eta df/dU, V+ = V - eta df/dV, expanded exactly")]
    return generic_verdict("DU-6", "matrix factorisation GD identity", _statement("DU-6"), "gd", pairs, "matrix",
                           steps, ("U, V, M* are matrices of symbolic sizes; no commutativity assumed",), ctx, t0,
                           "non-commutative terms cancel exactly")


# ---------------------------------------------------------------- concrete proofs

ACTS = ("relu", "leaky_relu", "identity")
SIZES = tuple((w,) * (depth + 1) for depth in (2, 3) for w in (1, 2, 3))


def concrete_task(claim_id, model, quantity, increment=None):
    """Flow without ``increment``; one GD step (batch of >= 2 points, ``verify.prove.batch``) with it."""
    return prove_conserved(model, quantity, dynamics="gd" if increment else "flow", increment=increment,
                           claim_id=claim_id, statement=_statement(claim_id))


def _du6_model_check(d1, d2, r):
    """DU-6 on concrete sizes: every entry of U, V, M* a symbol."""
    t0 = time.perf_counter()
    U = sp.Matrix(d1, r, lambda i, j: sp.Symbol(f"U[{i},{j}]"))
    V = sp.Matrix(d2, r, lambda i, j: sp.Symbol(f"V[{i},{j}]"))
    M = sp.Matrix(d1, d2, lambda i, j: sp.Symbol(f"M[{i},{j}]"))
    f = sq(U * V.T - M) / 2
    GU, GV = U.applyfunc(f.diff), V.applyfunc(f.diff)  # SymPy gradient entry by entry
    R = U * V.T - M
    Up, Vp = U - ETA * GU, V - ETA * GV
    res = (Up.T * Up - Vp.T * Vp) - (U.T * U - V.T * V + ETA**2 * (V.T * R.T * R * V - U.T * R * R.T * U))
    zero = all(sp.expand(e) == 0 for e in res)
    common = dict(claim_id="DU-6", title=f"matrix factorisation d1={d1}, d2={d2}, r={r}", mode="concrete",
                  dynamics="gd", statement=_statement("DU-6"), seconds=0.0)
    if zero:
        return Proven(**{**common, "seconds": time.perf_counter() - t0},
                      steps=(Step("df/dU, df/dV entrywise by SymPy; U+, V+ by update (9)", "SymPy"),
                             Step(f"all {len(res)} entries of the residual expand to 0", "polynomial identity")),
                      hypotheses=("every entry of U, V, M* is an independent symbol",))
    return Undecided(**{**common, "seconds": time.perf_counter() - t0}, reason="residual non-zero",
                     evidence={"first entry": sp.sstr(sp.expand(res[0]))[:200]})


def _tasks():
    T = []
    add = T.append
    # generic
    add(ProofTask("DU-1", "generic", "generic", du1_generic))
    add(ProofTask("DU-1", "generic-bias", "generic", du1_bias_generic))
    add(ProofTask("DU-1gd", "generic", "generic", partial(du1_generic, "DU-1gd", 1, "gd")))
    for k in (2, 3):
        add(ProofTask("DU-1k", f"generic-k{k}", "generic", partial(du1_generic, "DU-1k", k)))
    add(ProofTask("DU-2", "generic", "generic", du2_generic))
    add(ProofTask("DU-3", "generic", "generic", du3_generic))
    add(ProofTask("DU-3gd", "generic", "generic", partial(du3_generic, "DU-3gd", "gd")))
    add(ProofTask("DU-4", "generic", "generic", du4_generic))
    add(ProofTask("DU-6", "generic", "generic", du6_generic))
    # concrete
    for widths in SIZES:
        for act in ACTS:
            net = mlp(widths, act)
            add(ProofTask("DU-1", f"{net.name}", "concrete", partial(concrete_task, "DU-1", net, neuron_balance(net))))
            add(ProofTask("DU-2", f"{net.name}", "concrete", partial(concrete_task, "DU-2", net, layer_balance(net))))
    for w in (1, 2, 3):
        net = mlp((w, w, w), "relu", bias=True)
        add(ProofTask("DU-1", f"{net.name}", "concrete", partial(concrete_task, "DU-1", net, neuron_balance(net))))
        for act in ("relu", "identity"):
            net = mlp((w, w, w), act)
            add(ProofTask("DU-1gd", net.name, "concrete", partial(concrete_task, "DU-1gd", net, *gd_claim(net, *NEURON_GD))))
        net = mlp((w, w, w), "relu2")
        add(ProofTask("DU-1k", net.name, "concrete", partial(concrete_task, "DU-1k", net, neuron_balance(net, k=2))))
    for widths in SIZES:
        # Thm 2.2 needs only layers h, h+1 linear: the other activation is ReLU.
        acts = ["identity"] + ["relu"] * (len(widths) - 3)
        net = mlp(widths, acts)
        add(ProofTask("DU-3", net.name, "concrete", partial(concrete_task, "DU-3", net, matrix_balance(net))))
    for w in (1, 2, 3):
        net = mlp((w, w, w), "identity")
        add(ProofTask("DU-3gd", net.name, "concrete", partial(concrete_task, "DU-3gd", net, *gd_claim(net, *MATRIX_GD))))
    conv = shared_mlp([conv1d_pattern(5, 3), conv1d_pattern(3, 2)], "relu", name="conv1d(5->3->2, k=3,2)-relu")
    sparse = shared_mlp([((1, 0, 2), (2, 1, 0)), ((1, 1), (0, 2))], "leaky_relu", name="sparse-shared(3->2->2)-leaky")
    for net in (conv, sparse):
        add(ProofTask("DU-4", net.name, "concrete", partial(concrete_task, "DU-4", net, layer_balance(net))))
    for d1, d2, r in ((2, 2, 1), (2, 3, 2)):
        add(ProofTask("DU-6", f"d1={d1},d2={d2},r={r}", "concrete", partial(_du6_model_check, d1, d2, r)))
    # negative controls: the same engine must refute these
    for act in ("tanh", "softplus"):
        net = mlp((2, 2, 2), act)
        add(ProofTask("DU-1", f"control: {act} instead of homogeneous", "concrete",
                      partial(concrete_task, "DU-1", net, neuron_balance(net)), expect="refuted"))
    net = mlp((2, 2, 2), "relu")
    offdiag = as_quantity("(W1 @ W1.T - W2.T @ W2)[0,1]", net)  # with ReLU between
    add(ProofTask("DU-3", "control: off-diagonal entry with ReLU between", "concrete",
                  partial(concrete_task, "DU-3", net, offdiag), expect="refuted"))
    net = mlp((2, 2, 2), "relu", bias=True)
    add(ProofTask("DU-1", "control: bias left out of the quantity", "concrete",
                  partial(concrete_task, "DU-1", net, neuron_balance(net, with_bias=False)), expect="refuted"))
    # GD controls: wrong increments. The det term vanishes for every one-point gradient of the
    # linear layer (rank one), so a one-point "proof" would accept it; the batch must refute it.
    net = mlp((2, 2, 2), "identity")
    add(ProofTask("DU-3gd", "control: + eta^2 det(G_W1) I (0 for one data point)", "concrete", partial(
        concrete_task, "DU-3gd", net, *gd_claim(net, MATRIX_GD[0], MATRIX_GD[1] + DET_TERM)), expect="refuted"))
    net = mlp((2, 2, 2), "relu")
    add(ProofTask("DU-1gd", "control: increment 0 (GD does not conserve it)", "concrete", partial(
        concrete_task, "DU-1gd", net, *gd_claim(net, NEURON_GD[0], "0")), expect="refuted"))
    # Generic GD controls: a generic residual is never a counterexample, so "undecided" is the "no".
    for cid, claimed, run in (("DU-1gd", "dropped", partial(du1_generic, "DU-1gd", 1, "gd", claimed="dropped")),
                              ("DU-3gd", "sign", partial(du3_generic, "DU-3gd", "gd", claimed="sign")),
                              ("DU-3gd", "rank-one", partial(du3_generic, "DU-3gd", "gd", claimed="rank-one"))):
        add(ProofTask(cid, GD_CLAIMS[claimed], "generic", run, expect="undecided"))
    return tuple(T)


TASKS = _tasks()
