"""Numeric interpretation of a ``Model``: NumPy float64, batched over data.

Reads the same layers as ``verify.symbolic``; used for finite-difference checks of the symbolic
gradients, for independent re-evaluation of witnesses, and by the numeric trajectory checks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .model import Act, DiagonalLinear, Dense, Model

__all__ = ["forward", "square_loss", "flat", "unflat", "fd_gradient", "loss_and_grad"]


def _weight(layer: Dense, P: Mapping[str, np.ndarray]) -> np.ndarray:
    if layer.pattern is None:
        return P[layer.weight]
    pat = np.asarray(layer.pattern)
    v = np.concatenate([[0.0], P[layer.weight]])  # index 0 = missing entry
    return v[pat]


def forward(model: Model, P: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs for a batch X of shape (m, input_dim); returns (m, output_dim)."""
    A = np.asarray(X, dtype=float)
    for layer in model.layers:
        if isinstance(layer, Dense):
            A = A @ _weight(layer, P).T
            if layer.bias is not None:
                A = A + P[layer.bias]
        elif isinstance(layer, Act):
            A = layer.activation.numpy(A)
        elif isinstance(layer, DiagonalLinear):
            w = np.prod([P[f] for f in layer.factors], axis=0)
            A = (A @ w)[:, None]
    return A


def square_loss(model: Model, P, X, T) -> float:
    """L = sum over points of 1/2 ||f(x) - t||^2 (the witness loss)."""
    return 0.5 * float(np.sum((forward(model, P, X) - T) ** 2))


def flat(model: Model, P) -> np.ndarray:
    return np.concatenate([np.ravel(P[p.name]) for p in model.params])


def unflat(model: Model, theta: np.ndarray) -> dict[str, np.ndarray]:
    out, k = {}, 0
    for p in model.params:
        size = int(np.prod(p.shape)) if p.shape else 1
        out[p.name] = theta[k:k + size].reshape(p.shape)
        k += size
    return out


def fd_gradient(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences, error O(h^2) for smooth f (h = 1e-6 balances round-off)."""
    g = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        g[k] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def _act_grad(act, Z: np.ndarray) -> np.ndarray:
    return act.numpy_derivative(Z)


def loss_and_grad(model: Model, P: Mapping[str, np.ndarray], X: np.ndarray, T: np.ndarray,
                  loss: str = "square") -> tuple[float, dict[str, np.ndarray]]:
    """Loss and its exact gradient by hand-written reverse mode (independent of SymPy).

    References:
        Standard backpropagation; activation derivatives from ``verify.activations`` declarations.
    """
    from .losses import loss_value_and_grad
    A = np.asarray(X, dtype=float)
    tape = []
    for layer in model.layers:
        tape.append(A)
        if isinstance(layer, Dense):
            A = A @ _weight(layer, P).T + (P[layer.bias] if layer.bias is not None else 0.0)
        elif isinstance(layer, Act):
            A = layer.activation.numpy(A)
        else:
            A = (A @ np.prod([P[f] for f in layer.factors], axis=0))[:, None]
    value, dA = loss_value_and_grad(loss, A, T)
    grads = {p.name: np.zeros(p.shape) for p in model.params}
    for layer, A_in in zip(reversed(model.layers), reversed(tape)):
        if isinstance(layer, Dense):
            gW = dA.T @ A_in
            if layer.pattern is None:
                grads[layer.weight] += gW
            else:
                pat = np.asarray(layer.pattern)
                mask = pat > 0
                np.add.at(grads[layer.weight], pat[mask] - 1, gW[mask])
            if layer.bias is not None:
                grads[layer.bias] += dA.sum(axis=0)
            dA = dA @ _weight(layer, P)
        elif isinstance(layer, Act):
            dA = dA * _act_grad(layer.activation, A_in)
        else:
            w = np.prod([P[f] for f in layer.factors], axis=0)
            gw = (dA * A_in).sum(axis=0)
            for f in layer.factors:
                others = np.prod([P[g] for g in layer.factors if g != f], axis=0) if len(layer.factors) > 1 else 1.0
                grads[f] += gw * others
            dA = dA @ w[None, :]
    return value, grads
