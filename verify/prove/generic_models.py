"""The generic two-layer block used by the generic proofs (symbolic widths).

Layers h and h+1 of any network: z = W_h a (a = output of the layers below, independent of
W_h and W_{h+1}), u = W_{h+1} phi(z), and the layers above enter only through
delta := dL/du, the gradient arriving from above (abstract). So, to first order in W_h and
W_{h+1}, L = <delta, u> + (terms without W_h, W_{h+1}), and SymPy's matrix calculus on
Trace(delta^T u) gives dL/dW_h and dL/dW_{h+1}.

References:
    Du, Hu & Lee (2018), Sec 2.3 (proof of Thm 2.1) and Appendix A.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sympy as sp

from verify.certificates import Proven, Step, Undecided
from verify.prove.generic import _Ctx, context, elementwise_rules, is_zero, residual_text

__all__ = ["TwoLayer", "two_layer", "generic_verdict", "WIDTHS"]

#: Symbolic widths n_{h-1}, n_h, n_{h+1}.
WIDTHS = sp.symbols("n_{h-1} n_h n_{h+1}", integer=True, positive=True)


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
           "widths n_{h-1}, n_h, n_{h+1} are symbols (generic proof)"]
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
