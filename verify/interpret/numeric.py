"""Numeric interpretation of a ``Model``: NumPy float64, batched over data.

Reads the same layers as ``verify.interpret.symbolic``; used for finite-difference checks of the symbolic
gradients, for independent re-evaluation of witnesses, and by the numeric trajectory checks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from verify.model import Model
from verify.model.layout import flatten, unflatten

__all__ = ["forward", "square_loss", "flat", "unflat", "fd_gradient", "loss_and_grad"]


class _Interpreter:
    """Batched forward and reverse mode over a layer list (``NumericState`` of ``verify.model.layers``):
    every layer computes its own pass, this only chains them."""

    def run(self, layers, P, A: np.ndarray):
        caches = []
        for layer in layers:
            out, cache = layer.forward(P, A, self)
            caches.append((A, cache))
            A = out
        return A, caches

    def back(self, layers, P, caches, dA: np.ndarray, grads) -> np.ndarray:
        """Reverse mode through ``layers``: accumulates into ``grads``, returns d loss / d input."""
        for layer, (A_in, cache) in zip(reversed(layers), reversed(caches)):
            dA = layer.backward(P, A_in, cache, dA, grads, self)
        return dA


_NUMERIC = _Interpreter()


def forward(model: Model, P: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs for a batch X of shape (m, input_dim); returns (m, output_dim)."""
    return _NUMERIC.run(model.layers, P, np.asarray(X, dtype=float))[0]


def square_loss(model: Model, P, X, T) -> float:
    """L = sum over points of 1/2 ||f(x) - t||^2 (the witness loss)."""
    return 0.5 * float(np.sum((forward(model, P, X) - T) ** 2))


def flat(model: Model, P) -> np.ndarray:
    return flatten(model, P)


def unflat(model: Model, theta: np.ndarray) -> dict[str, np.ndarray]:
    return unflatten(model, theta)


def fd_gradient(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences, error O(h^2) for smooth f (h = 1e-6 balances round-off)."""
    g = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        g[k] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def loss_and_grad(model: Model, P: Mapping[str, np.ndarray], X: np.ndarray, T: np.ndarray,
                  loss: str = "square") -> tuple[float, dict[str, np.ndarray]]:
    """Loss and its exact gradient by hand-written reverse mode (independent of SymPy).

    References:
        Standard backpropagation; activation derivatives from ``verify.model.activations`` declarations.
    """
    from verify.model.losses import loss_value_and_grad
    A, caches = _NUMERIC.run(model.layers, P, np.asarray(X, dtype=float))
    value, dA = loss_value_and_grad(loss, A, T)
    grads = {p.name: np.zeros(p.shape) for p in model.params}
    _NUMERIC.back(model.layers, P, caches, dA, grads)
    return value, grads
