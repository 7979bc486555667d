"""Dynamics on a symbolic net, derived by SymPy from Q and the model.

* gradient flow: dQ/dt = -<grad Q, grad L>  (theta' = -grad L, chain rule);
* one GD step of size eta: Delta Q = Q(theta - eta grad L) - Q(theta), exact in eta.

Neither formula is typed per claim: both are built from SymPy derivatives of Q and of L.
"""

from __future__ import annotations

import sympy as sp

from .symbolic import SymbolicNet

__all__ = ["flow_derivative", "gd_increment", "ETA"]

#: The GD step size symbol.
ETA = sp.Symbol("eta", positive=True)


def _involved(Q: sp.Expr, net: SymbolicNet) -> list[sp.Symbol]:
    free = Q.free_symbols
    return [t for t in net.theta if t in free]


def flow_derivative(Q: sp.Expr, net: SymbolicNet) -> sp.Expr:
    """dQ/dt along gradient flow: -sum_theta dQ/dtheta * dL/dtheta (unexpanded)."""
    return -sp.Add(*[Q.diff(t) * net.gradient[t] for t in _involved(Q, net)])


def gd_increment(Q: sp.Expr, net: SymbolicNet, eta: sp.Expr = ETA) -> sp.Expr:
    """Q(theta - eta * grad L) - Q(theta), with grad L evaluated at theta (unexpanded)."""
    step = {t: t - eta * net.gradient[t] for t in _involved(Q, net)}
    return Q.xreplace(step) - Q
