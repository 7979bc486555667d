"""Concrete losses of the outputs, numeric: value and gradient with respect to the outputs.

Used by trajectories and property tests (the symbolic side keeps the loss undefined).
Targets: square uses real targets; logistic / exponential use labels y in {-1, +1} on a scalar
output; cross_entropy uses a class index per point.
"""

from __future__ import annotations

import numpy as np

from verify.errors import BadInput, UnknownName

__all__ = ["loss_value_and_grad", "check_loss", "LOSS_NAMES"]

LOSS_NAMES = ("square", "logistic", "exponential", "cross_entropy")


def check_loss(name: str, output_dim: int) -> None:
    """Raise unless loss ``name`` is known and fits a network with ``output_dim`` outputs."""
    if name not in LOSS_NAMES:
        raise UnknownName("loss", name, LOSS_NAMES, hint="Or omit the loss to prove for every loss.")
    if name in ("logistic", "exponential") and output_dim != 1:
        raise BadInput(f"The {name} loss needs one output (a margin t*y), but the network has {output_dim}; "
                       "use cross_entropy for several outputs.")
    if name == "cross_entropy" and output_dim < 2:
        raise BadInput("cross_entropy needs at least 2 outputs (softmax of one output is constant); "
                       "use logistic for one output.")


def loss_value_and_grad(name: str, Y: np.ndarray, T: np.ndarray) -> tuple[float, np.ndarray]:
    """Sum over points of ell(f(x_p), t_p) and d/dY of it (shape of Y)."""
    if name == "square":
        R = Y - T
        return 0.5 * float(np.sum(R**2)), R
    if name == "logistic":
        m = T * Y
        return float(np.sum(np.logaddexp(0.0, -m))), -T * 0.5 * (1.0 - np.tanh(0.5 * m))  # stable sigmoid(-m)
    if name == "exponential":
        e = np.exp(-T * Y)
        return float(np.sum(e)), -T * e
    if name == "cross_entropy":
        Z = Y - Y.max(axis=1, keepdims=True)
        logp = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
        idx = np.asarray(T, dtype=int).reshape(-1)
        onehot = np.zeros_like(Y)
        onehot[np.arange(len(idx)), idx] = 1.0
        return float(-np.sum(logp * onehot)), np.exp(logp) - onehot
    raise UnknownName("loss", name, LOSS_NAMES)
