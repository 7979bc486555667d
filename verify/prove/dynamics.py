"""Dynamics on a symbolic net, derived by SymPy from Q and the model.

* gradient flow: dQ/dt = -<grad Q, grad L>  (theta' = -grad L, chain rule);
* one GD step of size eta: Delta Q = Q(theta - eta grad L) - Q(theta), exact in eta;
* weight decay lambda: grad L is replaced by grad L + lambda * theta (L + lambda/2 ||theta||^2);
* heavy-ball momentum flow with friction gamma and the velocity p as state:
  theta' = p, p' = -gamma p - grad L, so dQ/dt = <d_theta Q, p> + <d_p Q, -gamma p - grad L>.

Nothing here is typed per claim: every formula is built from SymPy derivatives of Q and of L.

References:
    Marcotte, Gribonval & Peyre, "Keep the momentum", ICML 2024 (heavy-ball flow with velocity state).
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from verify.interpret.symbolic import SymbolicNet

__all__ = ["flow_derivative", "gd_increment", "momentum_derivative", "velocities", "ETA", "LAMBDA", "GAMMA",
           "DYNAMICS"]

#: The GD step size, weight-decay and friction symbols.
ETA = sp.Symbol("eta", positive=True)
LAMBDA = sp.Symbol("lambda", positive=True)
GAMMA = sp.Symbol("gamma", nonnegative=True)
DYNAMICS = ("flow", "gd", "momentum")


def _involved(Q: sp.Expr, net: SymbolicNet) -> list[sp.Symbol]:
    free = Q.free_symbols
    return [t for t in net.theta if t in free]


def _grad(net: SymbolicNet, t: sp.Symbol, decay) -> sp.Expr:
    return net.gradient[t] + decay * t if decay else net.gradient[t]


def flow_derivative(Q: sp.Expr, net: SymbolicNet, decay=0) -> sp.Expr:
    """dQ/dt along gradient flow: -sum_theta dQ/dtheta * dL/dtheta (unexpanded)."""
    return -sp.Add(*[Q.diff(t) * _grad(net, t, decay) for t in _involved(Q, net)])


def gd_increment(Q: sp.Expr, net: SymbolicNet, eta: sp.Expr = ETA, decay=0) -> sp.Expr:
    """Q(theta - eta * grad L) - Q(theta), with grad L evaluated at theta (unexpanded)."""
    step = {t: t - eta * _grad(net, t, decay) for t in _involved(Q, net)}
    return Q.xreplace(step) - Q


def velocities(net: SymbolicNet) -> dict[str, sp.Matrix]:
    """Velocity matrices named ``<param>_dot`` (one symbol per entry)."""
    return {f"{name}_dot": M.applyfunc(lambda s: sp.Symbol(f"{s.name}'", real=True)) for name, M in net.params.items()}


def momentum_derivative(Q: sp.Expr, net: SymbolicNet, vel: Mapping[str, sp.Matrix], gamma=GAMMA, decay=0) -> sp.Expr:
    """dQ/dt along the heavy-ball flow theta' = p, p' = -gamma p - grad L (unexpanded)."""
    pairs = [(t, p) for name, M in net.params.items() for t, p in zip(M, vel[f"{name}_dot"])]
    free = Q.free_symbols
    return sp.Add(*[Q.diff(t) * p for t, p in pairs if t in free]) + sp.Add(
        *[Q.diff(p) * (-gamma * p - _grad(net, t, decay)) for t, p in pairs if p in free])
