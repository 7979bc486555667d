"""Generic proof of a quantity written as matrix words on a generic model (``generic_net.Segment``).

The quantity arrives already translated (``GenericQuantity``: a matrix expression, "every entry", or
a scalar that is a linear combination of traces; a 1x1 word is its own trace) with one unit vector
e_i per free index. Gradient flow moves every parameter P by -G_P; SymPy differentiates Q(P - tG) at
t = 0 (``verify.prove.generic.flow_derivative_terms``). Then the declared rules, each a printed step:

* D diagonal: e_i^T D = d_i e_i^T and D e_i = d_i e_i (D = diag(phi'(z)), e_i a unit of its width);
* scale invariance: J z = 0 for the Jacobian J of a scale-invariant map at z (Euler, degree 0); a
  value z = W a + b is exposed by writing b = z - W a (as NM-1's proof);
* cross-entropy: 1^T delta = 0;
* a shared layer W = sum_p v_p E_p: d/dt ||v||^2 = -2 sum_p v_p tr(E_p^T G) = -2 tr(W^T G), derived
  by SymPy with two free parameters and any number by linearity (as DU-4's proof);

and the normal form of ``verify.prove.generic`` (cyclic traces, 1x1 words equal their transposes).
A residual that does not reduce is ``Undecided``, never a refutation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sympy as sp

from verify.certificates import Proven, Step, Undecided
from verify.prove.generic import (NotNormalisable, as_expr, context, words_text, flow_derivative_words, is_zero, replace_adjacent,
                                  residual_text, terms, trace_terms)
from verify.prove.generic_models import ONE_SAMPLE_FLOW
from verify.prove.generic_net import Segment

__all__ = ["GenericQuantity", "prove_segment", "shared_norm_step", "kill_words", "coverage"]


@dataclass(frozen=True)
class GenericQuantity:
    """A quantity as matrix words: ``value`` is a MatrixExpr (``kind="matrix"``: every entry) or a
    scalar linear combination of ``sp.Trace`` (``kind="trace"``); ``units`` maps each free index
    letter to its unit vector; ``steps`` say how the text became words."""

    text: str
    kind: str
    value: Any
    units: dict
    steps: tuple


def _contains(word, pattern, cyclic: bool) -> bool:
    w = tuple(word) + (tuple(word[:len(pattern) - 1]) if cyclic else ())
    n = len(pattern)
    return any(w[k:k + n] == tuple(pattern) for k in range(len(w) - n + 1))


def kill_words(pairs, patterns, cyclic: bool):
    """Drop every word holding one of ``patterns`` (adjacent atoms whose product is 0)."""
    return [(c, w) for c, w in pairs if not any(_contains(w, p, cyclic) for p in patterns)]


def _transpose_pattern(p):
    return tuple(a.arg if isinstance(a, sp.Transpose) else sp.Transpose(a) for a in reversed(p))


def _zero_rule(pairs, J, value_words, ctx, cyclic: bool):
    """Apply J z = 0 (z = sum of ``value_words``); returns (pairs, step text) or (pairs, '')."""
    if len(value_words) == 1:
        pat = (J, *value_words[0][1])
        return kill_words(pairs, [pat, _transpose_pattern(pat)], cyclic), f"{J} ({words_text(value_words)}) = 0"
    single = [w for _, w in value_words if len(w) == 1 and sum(w[0] in v for _, v in value_words) == 1]
    if not single:
        return pairs, ""
    b = single[0][0]
    z = sp.MatrixSymbol("z", *b.shape)
    rest = [(c, w) for c, w in value_words if w != (b,)]
    moved = terms(as_expr(pairs).xreplace({b: z - as_expr(rest)}), ctx)
    pat = (J, z)
    return kill_words(moved, [pat, _transpose_pattern(pat)], cyclic), f"{b} = z - ({words_text(rest)}), J z = 0"


def shared_norm_step(W, G, ctx) -> Step:
    """d/dt ||v||^2 = -2 tr(W^T G) for W = v_1 E_1 + v_2 E_2, derived by SymPy (raises if not)."""
    v = sp.symbols("v_1 v_2")
    E = [sp.MatrixSymbol(f"E_{p}", *W.shape) for p in (1, 2)]
    Gm = sp.MatrixSymbol("G", *W.shape)
    lhs = -2 * sum((vp * sp.Trace(Ep.T * Gm) for vp, Ep in zip(v, E)), sp.Integer(0))
    rhs = -2 * sp.Trace((v[0] * E[0] + v[1] * E[1]).T * Gm)
    if not is_zero(trace_terms(lhs - rhs, ctx), ctx, "trace"):
        raise NotNormalisable("the shared-layer norm rule did not reduce")
    return Step(f"d/dt ||v||^2 = {sp.sstr(lhs)} = {sp.sstr(rhs)} = -2 tr({W}^T G_{W})",
                f"{W} = sum_p v_p E_p is linear in v: dL/dv_p = tr(E_p^T G); derived by SymPy with two free "
                "parameters, any number by linearity; so ||v||^2 moves as tr(W W^T) under W' = -G")


def coverage(seg: Segment) -> str:
    shown = ", ".join(f"{n} ({c} in the spec)" for n, c in seg.widths)
    return f"every width: {shown} are symbols (generic proof)"


def prove_segment(seg: Segment, q: GenericQuantity, claim_id: str, title: str, statement: str,
                  t0: float | None = None, extra_hyp: tuple = ()):
    """``Proven`` when dQ/dt reduces to 0 under the declared rules, else ``Undecided`` with the residual."""
    t0 = time.perf_counter() if t0 is None else t0
    ctx = seg.ctx
    velocity = {P: [(-c, w) for c, w in G] for P, G in seg.grads.items()}
    steps = [*seg.steps, *q.steps]
    for name, W in seg.shared.items():
        steps.append(shared_norm_step(W, sp.MatrixSymbol(f"G_{W}", *W.shape), context()))
    cyclic = q.kind == "trace"
    mode = "trace" if cyclic else "matrix"
    if cyclic:
        pairs = []
        for term in sp.Add.make_args(sp.expand(q.value)):
            traces = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Trace)]
            if len(traces) != 1:
                raise NotNormalisable(f"the scalar term {term} is not a multiple of one trace")
            coeff = sp.Mul(*[f for f in sp.Mul.make_args(term) if not isinstance(f, sp.Trace)])
            pairs += [(coeff * c, w) for c, w in flow_derivative_words(traces[0].arg, velocity, ctx)]
    else:
        pairs = flow_derivative_words(q.value, velocity, ctx)
    steps.append(Step(f"dQ/dt = {'tr(' if cyclic else ''}{words_text(pairs)}{')' if cyclic else ''}",
                      "gradient flow P' = -G_P for each of the quantity's parameters; SymPy derivative of "
                      "Q(P - t G) at t = 0"))
    pulled = []
    for letter, e in q.units.items():
        for D, width in seg.diag:
            if e.shape[0] == width:
                d = sp.Symbol(f"d_{letter}")
                pairs = replace_adjacent(replace_adjacent(pairs, (sp.Transpose(e), D), (sp.Transpose(e),), d),
                                         (D, e), (e,), d)
                pulled.append(f"e_{letter}^T D = d_{letter} e_{letter}^T, D e_{letter} = d_{letter} e_{letter}")
    if pulled:
        steps.append(Step(f"= {words_text(pairs)}", "D diagonal: " + "; ".join(pulled)))
    for J, value in seg.zero:
        pairs, how = _zero_rule(pairs, J, value, ctx, cyclic)
        if how:
            steps.append(Step(f"= {words_text(pairs)}",
                              f"{how} (scale invariance: d/dc N(c z) at c = 1 = 0, Euler's theorem for degree 0)"))
    if seg.ones is not None:
        one, dl = seg.ones, seg.delta
        pairs = kill_words(pairs, [(sp.Transpose(one), dl), (sp.Transpose(dl), one)], cyclic)
        steps.append(Step(f"= {words_text(pairs)}", "1^T delta = 0 (cross-entropy)"))
    hyp = (*seg.hypotheses, ONE_SAMPLE_FLOW, coverage(seg),
           "abstracted: " + ("; ".join(seg.abstract) if seg.abstract else "nothing below the quantity's layers"),
           *extra_hyp)
    common = dict(claim_id=claim_id, title=title, mode="generic", dynamics="flow", statement=statement)
    if is_zero(pairs, ctx, mode):
        steps.append(Step("= 0", "the terms cancel (a 1x1 word equals its transpose; tr(AB) = tr(BA)"
                          + "; D^T = D" * bool(seg.diag) + ")" if cyclic else "non-commutative terms cancel exactly"))
        return Proven(**common, seconds=time.perf_counter() - t0, steps=tuple(steps), hypotheses=hyp)
    return Undecided(**common, seconds=time.perf_counter() - t0,
                     reason="the generic residual does not reduce to 0 under the declared properties",
                     evidence={"residual normal form": residual_text(pairs, ctx, mode)})
