"""The generic two-layer block used by the generic proofs (symbolic widths).

Layers h and h+1 of any network: z = W_h a (a = output of the layers below, independent of
W_h and W_{h+1}), u = W_{h+1} phi(z), and the layers above enter only through
delta := dL/du, the gradient arriving from above (abstract). So, to first order in W_h and
W_{h+1}, L = <delta, u> + (terms without W_h, W_{h+1}), and SymPy's matrix calculus on
Trace(delta^T u) gives dL/dW_h and dL/dW_{h+1}.

``two_layer`` is one sample (a, delta vectors): enough for gradient flow, whose dQ/dt is linear in
L. ``two_layer_batch`` is a batch of B samples, B a symbol (A = [a_1 ... a_B], Delta =
[delta_1 ... delta_B]), for GD, whose increment is quadratic in the gradient: a one-sample
gradient has structure (rank one) that a batch gradient lacks.

References:
    Du, Hu & Lee (2018), Sec 2.3 (proof of Thm 2.1) and Appendix A.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sympy as sp

from verify.certificates import Proven, Step, Undecided
from verify.prove.generic import (NotNormalisable, _Ctx, as_expr, context, elementwise_rules, is_zero, replace_adjacent,
                      residual_text, terms)

__all__ = ["TwoLayer", "two_layer", "BatchBlock", "two_layer_batch", "generic_verdict", "WIDTHS", "BATCH",
           "ONE_SAMPLE_FLOW"]

#: Symbolic widths n_{h-1}, n_h, n_{h+1}.
WIDTHS = sp.symbols("n_{h-1} n_h n_{h+1}", integer=True, positive=True)
#: Symbolic batch size of the GD block.
BATCH = sp.Symbol("B", integer=True, positive=True)
#: Why one sample covers every data set under flow (and only there).
ONE_SAMPLE_FLOW = ("one sample (a, delta vectors): dQ/dt is linear in L, and L is a sum over samples, so the "
                   "proof covers every data set (flow only; GD is quadratic in the gradient)")


@dataclass(frozen=True)
class TwoLayer:
    W1: sp.MatrixSymbol
    W2: sp.MatrixSymbol
    a: sp.MatrixSymbol
    delta: sp.MatrixSymbol
    D: sp.MatrixSymbol
    e: sp.MatrixSymbol
    d: sp.Symbol
    G1: sp.MatrixExpr
    G2: sp.MatrixExpr
    ctx: _Ctx
    steps: tuple[Step, ...]
    hypotheses: tuple[str, ...]


def two_layer(activation: str, k: int | None = 1, names=("W_h", "W_{h+1}")) -> TwoLayer:
    """Build the block with ``activation`` in ``{"identity", "homogeneous", "none"}``.

    ``homogeneous`` applies Euler's identity of degree ``k``; ``none`` declares nothing about phi.
    """
    n0, n1, n2 = WIDTHS
    W1, W2 = sp.MatrixSymbol(names[0], n1, n0), sp.MatrixSymbol(names[1], n2, n1)
    a, delta = sp.MatrixSymbol("a", n0, 1), sp.MatrixSymbol("delta", n2, 1)
    D, e, d = sp.MatrixSymbol("D", n1, n1), sp.MatrixSymbol("e_i", n1, 1), sp.Symbol("d_i")
    z = W1 * a
    hyp = ["the layers below enter only through a (input of layer h); the layers above only through "
           "delta = dL/du (gradient arriving from above, abstract); the loss is arbitrary",
           "widths n_{h-1}, n_h, n_{h+1} are symbols (generic proof)", ONE_SAMPLE_FLOW]
    if activation == "identity":
        u = W2 * z
        steps = [Step(f"u = {sp.sstr(u)}, L = <delta, u> + const", "layers h, h+1 with phi_h = identity")]
        L = sp.Trace(delta.T * u)
        G1, G2 = L.diff(W1), L.diff(W2)
        steps.append(Step(f"G_h = {sp.sstr(G1)},  G_(h+1) = {sp.sstr(G2)}", "SymPy matrix calculus on Trace(delta^T u)"))
        hyp.append("phi_h is the identity")
        return TwoLayer(W1, W2, a, delta, D, e, d, G1, G2, context([D]), tuple(steps), tuple(hyp))
    phi = sp.Function("phi")
    u = W2 * z.applyfunc(phi)
    L = sp.Trace(delta.T * u)
    R1, R2 = L.diff(W1), L.diff(W2)
    steps = [Step("z = W_h a,  u = W_(h+1) phi(z),  L = <delta, u> + const", "network structure, phi elementwise"),
             Step(f"G_h = {sp.sstr(R1)},  G_(h+1) = {sp.sstr(R2)}", "SymPy matrix calculus on Trace(delta^T u)")]
    kk = k if activation == "homogeneous" else None
    G1, G2 = elementwise_rules(R1, z, D, kk), elementwise_rules(R2, z, D, kk)
    steps.append(Step(f"G_h = {sp.sstr(G1)}", "x o phi'(z) = D x with D := diag(phi'(z)) (elementwise derivative)"))
    if kk:
        lhs = "phi(z)" if kk == 1 else f"{kk} phi(z)"
        steps.append(Step(f"G_(h+1) = {sp.sstr(G2)}", f"{lhs} = phi'(z) o z = D z (homogeneity of degree {kk}); D^T = D"))
        hyp.append(f"phi is an undefined function with {lhs} = phi'(z) z (homogeneous of degree {kk})")
    else:
        hyp.append("phi is an undefined function with no declared property")
    return TwoLayer(W1, W2, a, delta, D, e, d, G1, G2, context([D]), tuple(steps), tuple(hyp))


@dataclass(frozen=True)
class BatchBlock:
    """Layers h, h+1 over a batch of B samples (``two_layer_batch``).

    ``G1``, ``G2``: the full gradients dL/dW_h, dL/dW_{h+1} (identity activation; else None).
    ``row`` = e_i^T dL/dW_h and ``col`` = dL/dW_{h+1} e_i as (coefficient, word) terms in
    r = row i of W_h, c = column i of W_{h+1}, A, Delta and D_i (homogeneous activation; else None).
    """

    W1: sp.MatrixSymbol
    W2: sp.MatrixSymbol
    A: sp.MatrixSymbol
    Delta: sp.MatrixSymbol
    r: sp.MatrixSymbol
    c: sp.MatrixSymbol
    G1: sp.MatrixExpr | None
    G2: sp.MatrixExpr | None
    row: tuple | None
    col: tuple | None
    ctx: _Ctx
    steps: tuple[Step, ...]
    hypotheses: tuple[str, ...]


def two_layer_batch(activation: str = "identity", k: int = 1, names=("W_h", "W_{h+1}")) -> BatchBlock:
    """The block over a batch of B samples, B a symbol, for GD proofs.

    ``identity``: SymPy's matrix calculus on tr(Delta^T W_{h+1} W_h A) gives both full gradients.
    ``homogeneous`` (degree ``k``): SymPy derives one sample's gradients (``two_layer``); neuron i's
    row / column of the batch gradient is then assembled with two declared rules, each recorded
    as a step: e_i^T D_p = d_(p,i) e_i^T (D_p = diag(phi'(z_p)) is diagonal), and
    sum_p delta_p d_(p,i) a_p^T = Delta D_i A^T with D_i = diag(d_(1,i), ..., d_(B,i)) (the matrix
    product, column by column). (SymPy 1.14's matrix calculus gives a mis-shaped Hadamard product
    for phi(W_h A) with a matrix A, so the batch is not differentiated as a whole there.)
    """
    n0, n1, n2 = WIDTHS
    A, Delta = sp.MatrixSymbol("A", n0, BATCH), sp.MatrixSymbol("Delta", n2, BATCH)
    r, c = sp.MatrixSymbol(f"{names[0]}[i,:]", 1, n0), sp.MatrixSymbol(f"{names[1]}[:,i]", n2, 1)
    hyp = ["a batch of B samples, B a symbol: A = [a_1 ... a_B] (n_{h-1} x B) are the inputs of layer h (the layers "
           "below enter only through A), Delta = [delta_1 ... delta_B] (n_{h+1} x B) the gradients dL/du_p arriving "
           "from above (abstract); L = sum_p <delta_p, u_p> + (terms without W_h, W_(h+1)) has the exact gradient of "
           "any loss at the current point, so one GD step on any batch size and any data set is covered",
           "widths n_{h-1}, n_h, n_{h+1} and the batch size B are symbols (generic proof)"]
    if activation == "identity":
        W1, W2 = sp.MatrixSymbol(names[0], n1, n0), sp.MatrixSymbol(names[1], n2, n1)
        L = sp.Trace(Delta.T * W2 * W1 * A)
        G1, G2 = L.diff(W1), L.diff(W2)
        lin = (Step(f"u = {names[1]} {names[0]} A, L = tr(Delta^T u) + const", "layers h, h+1 with phi_h = identity, "
                      "batch of B samples (one column each)"),
                 Step(f"G_h = {sp.sstr(G1)},  G_(h+1) = {sp.sstr(G2)}", "SymPy matrix calculus on Trace(Delta^T u)"))
        return BatchBlock(W1, W2, A, Delta, r, c, G1, G2, None, None, context(), lin,
                          (*hyp, "phi_h is the identity"))
    if activation != "homogeneous":
        raise NotNormalisable(f"the batch block supports identity and homogeneous activations, not {activation!r}")
    one = two_layer("homogeneous", k, names)
    e, D, d, delta, a = one.e, one.D, one.d, one.delta, one.a
    Di = sp.MatrixSymbol("D_i", BATCH, BATCH)
    ctx = context([Di])
    row = terms(e.T * one.G1, ctx)
    col = terms(one.G2 * e, ctx)
    row, col = replace_adjacent(row, (e.T, D), (e.T,), d), replace_adjacent(col, (D, e), (e,), d)
    steps = [Step(s.text, f"one sample p (a = a_p, delta = delta_p, D = D_p): {s.reason}") for s in one.steps]
    steps.append(Step(f"e_i^T G_h = sum_p {sp.sstr(as_expr(row))},  G_(h+1) e_i = sum_p {sp.sstr(as_expr(col))}",
                      "e_i^T D_p = d_(p,i) e_i^T, D_p e_i = d_(p,i) e_i (D_p = diag(phi'(z_p)) diagonal, "
                      "d_(p,i) = d_i of sample p); the batch gradient is the sum over samples"))
    row = replace_adjacent(row, (delta, a.T), (Delta, Di, A.T), 1 / d)
    col = replace_adjacent(col, (delta, a.T), (Delta, Di, A.T), 1 / d)
    row = replace_adjacent(row, (e.T, one.W2.T), (c.T,))
    col = replace_adjacent(col, (one.W1.T, e), (r.T,))
    for coeff, word in (*row, *col):
        if coeff.has(d) or any(x in word for x in (delta, a.T, e, e.T, D, one.W1, one.W2, one.W1.T, one.W2.T)):
            raise NotNormalisable(f"cannot assemble the batch gradient from the term {coeff}*{word}")
    steps.append(Step(f"e_i^T G_h = {sp.sstr(as_expr(row))},  G_(h+1) e_i = {sp.sstr(as_expr(col))}",
                      "sum_p delta_p d_(p,i) a_p^T = Delta D_i A^T, D_i = diag(d_(1,i), ..., d_(B,i)) (matrix product "
                      f"column by column); e_i^T {names[1]}^T = {c}^T, {names[0]}^T e_i = {r}^T"))
    hyp += [one.hypotheses[-1], "neuron i: D_i = diag(phi'(z_(1,i)), ..., phi'(z_(B,i))) (B x B) holds the B samples' "
            "slopes at unit i (one diagonal D_p = diag(phi'(z_p)) per sample, read at entry i)"]
    return BatchBlock(one.W1, one.W2, A, Delta, r, c, None, None, tuple(row), tuple(col), ctx, tuple(steps), tuple(hyp))


def generic_verdict(claim_id: str, title: str, statement: str, dynamics: str, pairs, mode: str,
                    steps, hypotheses, ctx: _Ctx, t0: float, final_reason: str):
    """``Proven`` when the normal form of ``pairs`` is empty, else ``Undecided`` with the residual.

    A generic residual cannot be a counterexample by itself (phi is undefined, widths symbolic):
    refutations come from the concrete engine, which builds an exact witness.
    """
    common = dict(claim_id=claim_id, title=title, mode="generic", dynamics=dynamics, statement=statement)
    if is_zero(pairs, ctx, mode):
        steps = (*steps, Step("= 0", final_reason))
        return Proven(**common, seconds=time.perf_counter() - t0, steps=tuple(steps), hypotheses=tuple(hypotheses))
    return Undecided(**common, seconds=time.perf_counter() - t0,
                     reason="the generic residual does not reduce to 0 under the declared properties",
                     evidence={"residual normal form": residual_text(pairs, ctx, mode)})
