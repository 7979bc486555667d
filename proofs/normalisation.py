"""NM-1 (this toolkit, not in the catalog): a layer feeding a scale-invariant normalisation keeps
its squared norm, weight and bias together, under gradient flow.

Generic proof (symbolic widths): z = W a + b (a = output of the layers below), y = N(z) with N
scale invariant, N(c z) = N(z) for c > 0 (l2 normalisation, layer normalisation without epsilon).
The layers above enter only through delta = dL/dy and N only through its Jacobian J at z, so to
first order L = <delta, J (W a + b)> + const and SymPy's matrix calculus gives dL/dW and dL/db.
Euler's theorem for degree 0, d/dc N(c z) at c = 1, gives J z = 0: writing b = z - W a, every
term of d/dt(||W||_F^2 + ||b||^2) that holds J z vanishes. Concrete proofs run the l2 and layer
norm nets of ``verify.model`` through the concrete engine; the controls drop the bias, or take the
layer after the normalisation.

References:
    Euler's homogeneous function theorem (degree 0); Ba et al. (2016), layer normalisation;
    the same argument as Du, Hu & Lee (2018) Sec 2.3 with a degree-0 map in place of phi.
"""

from __future__ import annotations

import time
from functools import partial

import sympy as sp

from verify.certificates import Step
from verify.claims import get_claim
from verify.prove.generic import as_expr, context, flow_derivative_terms, terms
from verify.prove.generic_models import WIDTHS, generic_verdict
from verify.model import Model, normalized_mlp
from verify.prove.concrete import QuantityFn, prove_conserved
from verify.testing.checking import as_quantity

from .tasks import ProofTask

__all__ = ["TASKS", "nm1_generic"]


def _holds_jz(word, J, z) -> bool:
    """Does the 1x1 word (read cyclically: it stands inside a trace) contain J z or z^T J^T?"""
    cyc = word + word[:1]
    return any((x, y) in ((J, z), (sp.Transpose(z), sp.Transpose(J))) for x, y in zip(cyc, cyc[1:]))


def nm1_generic(with_bias: bool = True):
    """d/dt(||W||_F^2 + ||b||^2) = 0 before a scale-invariant N (``with_bias=False``: the control,
    ||W||_F^2 alone with the bias still in the layer, which does not reduce to 0)."""
    t0 = time.perf_counter()
    n0, n1, _ = WIDTHS
    W, b, a = sp.MatrixSymbol("W", n1, n0), sp.MatrixSymbol("b", n1, 1), sp.MatrixSymbol("a", n0, 1)
    J, delta, z = sp.MatrixSymbol("J", n1, n1), sp.MatrixSymbol("delta", n1, 1), sp.MatrixSymbol("z", n1, 1)
    ctx = context()
    L = sp.Trace(delta.T * J * (W * a + b))
    GW, Gb = L.diff(W), L.diff(b)
    Q = W * W.T + (b * b.T if with_bias else sp.ZeroMatrix(n1, n1))
    pairs = flow_derivative_terms(Q, {W: -GW, b: -Gb}, ctx)
    steps = [Step("z = W a + b,  y = N(z),  L = <delta, J z> + const", "layers below only through a, above only "
                  "through delta = dL/dy; N only through its Jacobian J at z (first order)"),
             Step(f"G_W = {sp.sstr(GW)},  G_b = {sp.sstr(Gb)}", "SymPy matrix calculus on Trace(delta^T J (W a + b))"),
             Step(f"tr Q = ||W||_F^2{' + ||b||^2' if with_bias else ''},  d(tr Q)/dt = tr({sp.sstr(as_expr(pairs))})",
                  "gradient flow W' = -G_W, b' = -G_b; SymPy derivative of Q(theta - t G) at t = 0")]
    moved = terms(as_expr(pairs).xreplace({b: z - W * a}), ctx)
    steps.append(Step(f"= tr({sp.sstr(as_expr(moved))})", "b = z - W a"))
    kept = [(c, w) for c, w in moved if not _holds_jz(w, J, z)]
    steps.append(Step(f"= tr({sp.sstr(as_expr(kept)) if kept else 0})",
                      "J z = d/dc N(c z) at c = 1 = 0 (N(c z) = N(z): Euler's theorem, degree 0)"))
    hyp = ["the layers below enter only through a; the layers above only through delta = dL/dy; the loss is arbitrary",
           "widths n_{h-1}, n_h are symbols (generic proof)",
           "N is scale invariant: N(c z) = N(z) for every c > 0, so its Jacobian satisfies J z = 0"]
    title = "norm of the layer before a scale-invariant normalisation" + ("" if with_bias else ", bias left out (control)")
    return generic_verdict("NM-1", title, get_claim("NM-1").statement, "flow", kept, "trace", steps, hyp, ctx, t0,
                           "every remaining term cancels (trace cyclicity and transposition)")


def _net(kind: str, bias: bool) -> Model:
    """2 -> 3 inputs, a normalised layer of width 3, ReLU, one output."""
    return normalized_mlp((2, 3, 1), kind, "relu", bias, name=f"{kind}-norm 2-3-1 relu{' +bias' if bias else ''}")


def _with_squares(net: Model, names: tuple[str, ...]) -> tuple[Model, QuantityFn]:
    """(net, sum of squares of the named parameters, in the quantity language)."""
    return net, as_quantity(" + ".join(f"sum({n}**2)" for n in names), net)


def _tasks():
    claim = get_claim("NM-1")
    prove = partial(prove_conserved, claim_id="NM-1", statement=claim.statement)
    T = [ProofTask("NM-1", "generic-flow", "generic", nm1_generic),
         ProofTask("NM-1", "control: bias left out (generic)", "generic", partial(nm1_generic, False),
                   expect="undecided")]
    for kind in ("l2", "layer"):
        T.append(ProofTask("NM-1", f"{kind}-norm with bias", "concrete",
                           partial(prove, *_with_squares(_net(kind, True), ("W1", "b1")))))
        T.append(ProofTask("NM-1", f"{kind}-norm without bias", "concrete",
                           partial(prove, *_with_squares(_net(kind, False), ("W1",)))))
    T.append(ProofTask("NM-1", "control: ||W1||^2 with the bias left out", "concrete",
                       partial(prove, *_with_squares(_net("layer", True), ("W1",))), expect="refuted"))
    T.append(ProofTask("NM-1", "control: ||W2||^2 (the layer after)", "concrete",
                       partial(prove, *_with_squares(_net("l2", False), ("W2",))), expect="refuted"))
    return tuple(T)


TASKS = _tasks()
