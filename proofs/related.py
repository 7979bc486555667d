"""Identities for related models: EX-1 (diagonal net u o v), EX-2 (depth-L diagonal net), EX-3.

Generic proofs index coordinates symbolically: n is a symbol, i a symbolic coordinate, and the
loss enters through g_m = dL/dw_m (abstract), L = sum_m g_m w_m + const to first order. SymPy
differentiates the indexed sums (KroneckerDelta) and evaluates them with ``doit``.

References:
    Catalog section "Identities that hold for related models" [derived]; Woodworth et al. (2020)
    for diagonal linear networks.
"""

from __future__ import annotations

import itertools
import time
from functools import partial

import sympy as sp

from verify.certificates import Proven, Step, Undecided
from verify.testing.checking import as_increment, as_quantity, stated_family
from verify.claims import get_claim
from verify.prove.dynamics import ETA, flow_derivative
from verify.model import diagonal_net, mlp
from verify.prove.concrete import prove_conserved
from verify.interpret.symbolic import symbolic_net

from .tasks import ProofTask

__all__ = ["TASKS", "diagonal_generic", "ex3_generic", "ex3_concrete", "EX1_GD"]

N = sp.Symbol("n", integer=True, positive=True)
I, J, M = sp.symbols("i j m", integer=True)


def _verdict(claim_id, title, mode, dynamics, residual, steps, hyp, t0):
    common = dict(claim_id=claim_id, title=title, mode=mode, dynamics=dynamics,
                  statement=get_claim(claim_id).statement, seconds=time.perf_counter() - t0)
    if residual == 0:
        return Proven(**common, steps=tuple(steps) + (Step("= 0", "expansion"),), hypotheses=tuple(hyp))
    return Undecided(**common, reason="residual does not reduce to 0", evidence={"residual": sp.sstr(residual)[:300]})


def diagonal_generic(claim_id="EX-1", dynamics="flow", sign=-1, rest=False):
    """u_i^2 + sign*v_i^2 under flow (or GD, multiplicative factor) for w = u o v (o r if ``rest``).

    ``rest=True`` models a depth-L net: w = u_k o u_l o r, r = product of the other factors,
    which covers every depth L >= 2 at once.
    """
    t0 = time.perf_counter()
    u, v, g = sp.IndexedBase("u"), sp.IndexedBase("v"), sp.IndexedBase("g")
    r = sp.IndexedBase("r")
    w = (lambda m: u[m] * v[m] * r[m]) if rest else (lambda m: u[m] * v[m])
    L = sp.Sum(g[M] * w(M), (M, 0, N - 1))
    in_range = sp.Q.ge(I, 0) & sp.Q.le(I, N - 1)
    Gu = sp.refine(L.diff(u[I]).doit(), in_range)
    Gv = sp.refine(L.diff(v[I]).doit(), in_range)
    Q = u[I] ** 2 + sign * v[I] ** 2
    names = ("u_k", "u_l") if rest else ("u", "v")
    steps = [Step(f"L = {sp.sstr(L)} + const", "w = " + ("u_k o u_l o r" if rest else "u o v") + ", g = dL/dw abstract"),
             Step(f"dL/d{names[0]}[i] = {sp.sstr(Gu)},  dL/d{names[1]}[i] = {sp.sstr(Gv)}", "SymPy (KroneckerDelta sum, 0 <= i < n)")]
    if dynamics == "flow":
        dQ = -sp.Sum(Q.diff(u[J]) * L.diff(u[J]) + Q.diff(v[J]) * L.diff(v[J]), (J, 0, N - 1))
        residual = sp.simplify(sp.refine(dQ.doit(), in_range))
        steps.append(Step(f"dQ/dt = {sp.sstr(dQ)}", "gradient flow, SymPy derivatives of Q"))
        title = "u_k[i]^2 - u_l[i]^2, any depth" if rest else "u[i]^2 - v[i]^2"
    else:
        stepped = Q.xreplace({u[I]: u[I] - ETA * Gu, v[I]: v[I] - ETA * Gv})
        factor = 1 - ETA**2 * g[I] ** 2 * (r[I] ** 2 if rest else 1)
        residual = sp.expand(stepped - factor * Q)
        steps.append(Step(f"Q(theta - eta G) - (1 - eta^2 g_i^2) Q = {sp.sstr(stepped - factor * Q)}",
                          "one GD step (only coordinate i enters Q)"))
        title = "GD multiplies u[i]^2 - v[i]^2 by (1 - eta^2 g_i^2)"
    hyp = ["n symbolic, i a symbolic coordinate", "the loss enters only through w"]
    if dynamics == "gd":
        # GD is quadratic in the gradient, but here the whole gradient is g (times u, v): g is abstract.
        hyp.append("g = dL/dw at the current point is abstract (any value): it is the full-batch gradient of any "
                   "loss on any batch of any size, so one GD step on every data set is covered")
    else:
        hyp.append("dQ/dt is linear in L, so the proof covers every data set")
    return _verdict(claim_id, title, "generic", dynamics, residual, steps, hyp, t0)


def ex3_generic(dim: int = 4):
    """dL/dt = -||grad L||^2 for an arbitrary undefined L of ``dim`` parameters, chain rule by SymPy."""
    t0 = time.perf_counter()
    t = sp.Symbol("t")
    th = [sp.Function(f"theta{k}")(t) for k in range(dim)]
    L = sp.Function("L")(*th)
    grads = [L.diff(x) for x in th]
    dLdt = L.diff(t)
    residual = sp.simplify(dLdt.subs({x.diff(t): -gk for x, gk in zip(th, grads)}) + sum(gk**2 for gk in grads))
    steps = [Step(f"dL/dt = {sp.sstr(dLdt)}", "SymPy chain rule"),
             Step("substitute theta_k' = -dL/dtheta_k and add ||grad L||^2", "gradient flow")]
    return _verdict("EX-3", f"arbitrary L of {dim} parameters", "generic", "flow", residual, steps,
                    ["L an undefined differentiable function"], t0)


def ex3_concrete(model):
    """On a concrete net with the square loss: -<grad L, G> + ||G||^2 = 0, where G is the
    undefined-loss chain-rule gradient specialised to this loss (checks the two gradients agree)."""
    t0 = time.perf_counter()
    net = symbolic_net(model)
    targets = [sp.Symbol(f"t[{j}]") for j in range(net.outputs[0].rows)]
    L = sum((net.outputs[0][j] - targets[j]) ** 2 for j in range(len(targets))) / 2
    spec = {dl: net.outputs[0][j] - targets[j] for j, dl in enumerate(net.loss_derivatives[0])}
    dLdt = flow_derivative(L, net).xreplace(spec)
    residual = sp.expand(dLdt + sum(net.gradient[p].xreplace(spec) ** 2 for p in net.theta))
    steps = [Step(f"L = 1/2 ||f(x) - t||^2 on {model.name}", "square loss"),
             Step("dL/dt = -sum dL/dtheta * G_theta, G from the undefined-loss chain rule", "gradient flow")]
    return _verdict("EX-3", model.name, "concrete", "flow", residual, steps, ["square loss, symbolic targets"], t0)


def _diag_quantity(net, depth):
    """u_k[i]^2 - u_l[i]^2 for every pair of factors k < l, one text of the quantity language each."""
    return stated_family(net, {f"[k={k},l={l}]": f"u{k}[i]**2 - u{l}[i]**2"
                               for k, l in itertools.combinations(range(1, depth + 1), 2)})


#: EX-1's GD claim in the quantity language: for w = u1 o u2, G_u1 = g o u2 and G_u2 = g o u1
#: (g = dL/dw), so eta^2 (G_u1[i]^2 - G_u2[i]^2) = -eta^2 g_i^2 (u1[i]^2 - u2[i]^2): the catalog's
#: factor (1 - eta^2 g_i^2). The generic proof derives G_u, G_v with SymPy and proves the factor form.
EX1_GD = ("u1[i]**2 - u2[i]**2", "eta**2*(G_u1[i]**2 - G_u2[i]**2)")


def _tasks():
    T = [ProofTask("EX-1", "generic-flow", "generic", diagonal_generic),
         ProofTask("EX-1", "generic-gd", "generic", partial(diagonal_generic, "EX-1", "gd")),
         ProofTask("EX-2", "generic-any-depth", "generic", partial(diagonal_generic, "EX-2", "flow", -1, True)),
         ProofTask("EX-3", "generic", "generic", ex3_generic)]
    for n in (1, 2, 3):
        net = diagonal_net(n, 2)
        T.append(ProofTask("EX-1", net.name, "concrete", partial(
            prove_conserved, net, _diag_quantity(net, 2), claim_id="EX-1", statement=get_claim("EX-1").statement)))
        T.append(ProofTask("EX-1", f"{net.name}-gd", "concrete", partial(
            prove_conserved, net, as_quantity(EX1_GD[0], net), dynamics="gd", increment=as_increment(EX1_GD[1], net),
            claim_id="EX-1", statement=get_claim("EX-1").statement)))
    for depth in (3, 4):
        net = diagonal_net(2, depth)
        T.append(ProofTask("EX-2", net.name, "concrete", partial(
            prove_conserved, net, _diag_quantity(net, depth), claim_id="EX-2", statement=get_claim("EX-2").statement)))
    for net in (mlp((2, 2, 2), "relu"), mlp((2, 2, 1), "tanh"), diagonal_net(3, 2)):
        T.append(ProofTask("EX-3", net.name, "concrete", partial(ex3_concrete, net)))
    T.append(ProofTask("EX-1", "control: u[i]^2 + v[i]^2", "generic",
                       partial(diagonal_generic, "EX-1", "flow", 1), expect="undecided"))
    net = diagonal_net(2, 2)
    T.append(ProofTask("EX-1", "control: u[i]^2 + v[i]^2 (concrete)", "concrete", partial(
        prove_conserved, net, as_quantity("u1[i]**2 + u2[i]**2", net),
        claim_id="EX-1", statement=get_claim("EX-1").statement), expect="refuted"))
    return tuple(T)


TASKS = _tasks()
