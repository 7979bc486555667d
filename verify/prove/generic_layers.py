"""Generic models of single layers whose parameters enter through a fixed structure.

* Softmax attention: the scores are S = X Wq Wk^T X^T, so the loss depends on Wq and Wk only through
  M = Wq Wk^T; to first order L = <Gamma, M> + const with Gamma = dL/dM abstract (the tokens, the
  softmax, the value and read-out layers and the loss all enter through Gamma), for any number of
  tokens T, token width d and key width k.
* Weight-normalised rows: V = rows of W divided by their norms. Row i of V is N(w), w = W^T e_i, with
  N(c w) = N(w) for c > 0; to first order row i of V moves by J_i dw (J_i the Jacobian of N at w, J_i
  w = 0 by Euler's theorem for degree 0), and the rows j != i of dL/dW do not reach e_i^T dL/dW
  (e_i^T e_j = 0). So L = tr(Delta^T e_i e_i^T W J_i^T) + (terms without row i) with Delta = dL/dV
  abstract.

Both return a ``generic_net.Segment``, proven by ``generic_rules.prove_segment``.

References:
    Vaswani et al. (2017), eq. (1); Salimans & Kingma (2016), eq. (2) (gain fixed to 1).
"""

from __future__ import annotations

import sympy as sp

from verify.certificates import Step
from verify.prove.generic import context, terms
from verify.prove.generic_net import NoGenericRule, Segment

__all__ = ["attention_segment", "weightnorm_weight", "weightnorm_segment"]


def _width(name: str, concrete: int):
    return sp.Symbol(name, integer=True, positive=True), concrete


def attention_segment(layer, shapes, names, where: str) -> Segment:
    """Softmax attention (``verify.model.layers.Attention``) around its query and key."""
    extra = sorted(set(names) - {layer.query, layer.key})
    if extra:
        raise NoGenericRule(f"the quantity names {', '.join(extra)} besides the attention layer {where}'s query and "
                            "key; the attention rule covers Wq and Wk alone (the value and other layers enter "
                            "through Gamma = dL/d(Wq Wk^T))")
    (d, dc), (k, kc) = _width("d", shapes[layer.query][0]), _width("k", shapes[layer.query][1])
    Wq, Wk = sp.MatrixSymbol(layer.query, d, k), sp.MatrixSymbol(layer.key, d, k)
    Gamma = sp.MatrixSymbol("Gamma", d, d)
    L = sp.Trace(Gamma.T * Wq * Wk.T)
    Gq, Gk = L.diff(Wq), L.diff(Wk)
    ctx = context()
    steps = (Step(f"S = X {Wq} {Wk}^T X^T = X M X^T,  M = {Wq} {Wk}^T", f"layer {where}: the scores of softmax "
                  "attention (tokens X, T x d); the layer depends on its query and key only through M"),
             Step(f"L = tr(Gamma^T {sp.sstr(Wq * Wk.T)}) + const", "first order in M: Gamma = dL/dM (abstract)"),
             Step(f"G_{Wq} = {sp.sstr(Gq)},  G_{Wk} = {sp.sstr(Gk)}", "SymPy matrix calculus on tr(Gamma^T Wq Wk^T)"))
    hyp = (f"layer {where}: softmax attention over T tokens (any T; {layer.tokens} in the spec); the tokens X, the "
           "softmax, the value and the layers above and below enter only through Gamma = dL/dM (abstract); the loss "
           "is arbitrary",)
    return Segment({layer.query: Wq, layer.key: Wk}, {}, {Wq: terms(Gq, ctx), Wk: terms(Gk, ctx)}, ctx, steps, hyp,
                   ("the tokens X, the softmax weights and everything above: through Gamma",),
                   ((d, dc), (k, kc)), (), (), None, Gamma, f"layer {where}")


def weightnorm_weight(layer, shapes):
    """The generic weight (n_1 x n_0) of a weight-normalised layer."""
    return sp.MatrixSymbol(layer.weight, _width("n_1", 0)[0], _width("n_0", 0)[0])


def weightnorm_segment(layer, shapes, names, where: str, e) -> Segment:
    """Row i (unit vector ``e``) of a weight-normalised dense layer's weight."""
    if set(names) != {layer.weight}:
        raise NoGenericRule(f"the weight-normalised layer {where}'s rule covers a quantity of row i of "
                            f"{layer.weight} alone; the quantity also names {', '.join(sorted(set(names) - {layer.weight}))}")
    W = weightnorm_weight(layer, shapes)
    if e is None or e.shape[0] != W.shape[0]:
        raise NoGenericRule(f"the weight-normalised layer {where}'s rule covers a quantity of one row "
                            f"{layer.weight}[i,:] (a free index i over its rows)")
    (n0, c0), (n1, c1) = _width("n_0", shapes[layer.weight][1]), _width("n_1", shapes[layer.weight][0])
    J, Delta = sp.MatrixSymbol("J_i", n0, n0), sp.MatrixSymbol("Delta", n1, n0)
    L = sp.Trace(Delta.T * e * e.T * W * J.T)
    G = L.diff(W)
    ctx = context()
    steps = (Step(f"e_i^T V = N({layer.weight}^T e_i)^T,  N(c w) = N(w) (c > 0)", f"layer {where}: weight "
                  "normalisation, row i"),
             Step(f"L = tr(Delta^T e_i e_i^T {layer.weight} J_i^T) + const", "first order in row i: J_i = dN/dw at "
                  f"w = {layer.weight}^T e_i; Delta = dL/dV (abstract); rows j != i do not reach e_i^T G "
                  "(e_i^T e_j = 0)"),
             Step(f"G_{layer.weight} = {sp.sstr(G)}", "SymPy matrix calculus"))
    hyp = (f"layer {where}: weight-normalised rows W[i,:]/||W[i,:]|| (gain 1); the input, the bias and every other "
           "layer enter only through Delta = dL/dV (abstract); the loss is arbitrary",
           "N(w) = w/||w|| is scale invariant: J_i w = 0 (Euler, degree 0)")
    return Segment({layer.weight: W}, {}, {W: terms(G, ctx)}, ctx, steps, hyp,
                   ("the input, the bias and the layers above: through Delta",), ((n0, c0), (n1, c1)), (),
                   ((J, [(sp.Integer(1), (sp.Transpose(W), e))]),), None, Delta, f"layer {where}")
