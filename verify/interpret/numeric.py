"""Numeric interpretation of a ``Model``: NumPy float64, batched over data.

Reads the same layers as ``verify.interpret.symbolic``; used for finite-difference checks of the symbolic
gradients, for independent re-evaluation of witnesses, and by the numeric trajectory checks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from verify.errors import BadInput
from verify.model.core import Act, Attention, DiagonalLinear, Dense, Model, NormalizedDense, Normalize, Pool, Residual

__all__ = ["forward", "square_loss", "flat", "unflat", "fd_gradient", "loss_and_grad"]


def _weight(layer: Dense, P: Mapping[str, np.ndarray]) -> np.ndarray:
    if layer.pattern is None:
        return P[layer.weight]
    pat = np.asarray(layer.pattern)
    v = np.concatenate([[0.0], P[layer.weight]])  # index 0 = missing entry
    return v[pat]


def _product(P, names) -> np.ndarray:
    return np.prod([P[f] for f in names], axis=0)


def _diagonal_w(layer: DiagonalLinear, P) -> np.ndarray:
    w = _product(P, layer.factors)
    return w - _product(P, layer.minus) if layer.minus else w


def _softmax(S: np.ndarray) -> np.ndarray:
    E = np.exp(S - S.max(axis=-1, keepdims=True))  # shift for overflow-free exp
    return E / E.sum(axis=-1, keepdims=True)


def _step(layer, P, A: np.ndarray):
    """One layer forward: (output, cache for the backward pass)."""
    if isinstance(layer, Dense):
        Z = A @ _weight(layer, P).T
        return (Z + P[layer.bias] if layer.bias is not None else Z), None
    if isinstance(layer, Act):
        return layer.activation.numpy(A), None
    if isinstance(layer, DiagonalLinear):
        w = _diagonal_w(layer, P)
        return (A @ w)[:, None], w
    if isinstance(layer, NormalizedDense):
        W = P[layer.weight]
        r = np.linalg.norm(W, axis=1)
        V = W / r[:, None]
        Z = A @ V.T
        return (Z + P[layer.bias] if layer.bias is not None else Z), (V, r)
    if isinstance(layer, Pool):
        if layer.kind == "avg":
            return np.stack([A[:, list(w)].mean(axis=1) for w in layer.windows], axis=1), None
        picks = [np.asarray(w)[np.argmax(A[:, list(w)], axis=1)] for w in layer.windows]
        return np.stack([A[np.arange(A.shape[0]), p] for p in picks], axis=1), picks
    if isinstance(layer, Residual):
        Y, caches = _run(layer.block, P, A)
        return A + Y, caches
    if isinstance(layer, Normalize):
        n = A.shape[1]
        C = A - A.mean(axis=1, keepdims=True) if layer.kind == "layer" else A
        r = np.linalg.norm(C, axis=1, keepdims=True)
        U = C / r
        return (np.sqrt(n) * U if layer.kind == "layer" else U), (U, r)
    if isinstance(layer, Attention):
        m, T = A.shape[0], layer.tokens
        X = A.reshape(m, T, -1)
        M = P[layer.query] @ P[layer.key].T
        S = np.einsum("mtd,de,mse->mts", X, M, X)
        Asm = _softmax(S)
        H = Asm @ X
        Y = H @ P[layer.value] if layer.value is not None else H
        return Y.reshape(m, -1), (X, M, Asm, H)
    raise BadInput(f"Unknown layer type {type(layer).__name__}; the numeric interpretation has no rule for it.")


def _run(layers, P, A: np.ndarray):
    caches = []
    for layer in layers:
        out, cache = _step(layer, P, A)
        caches.append((A, cache))
        A = out
    return A, caches


def _back(layers, P, caches, dA: np.ndarray, grads) -> np.ndarray:
    """Reverse mode through ``layers``: accumulates into ``grads``, returns d loss / d input."""
    for layer, (A_in, cache) in zip(reversed(layers), reversed(caches)):
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
            dA = dA * layer.activation.numpy_derivative(A_in)
        elif isinstance(layer, DiagonalLinear):
            w = cache
            gw = (dA * A_in).sum(axis=0)
            for names, sign in ((layer.factors, 1.0), (layer.minus, -1.0)):
                for k, f in enumerate(names):  # product rule over positions (a name may repeat)
                    others = _product(P, names[:k] + names[k + 1:]) if len(names) > 1 else 1.0
                    grads[f] += sign * gw * others
            dA = dA @ w[None, :]
        elif isinstance(layer, NormalizedDense):
            V, r = cache
            gV = dA.T @ A_in
            # d(W/||W||) is the projection orthogonal to the row, divided by its norm.
            grads[layer.weight] += (gV - np.sum(gV * V, axis=1, keepdims=True) * V) / r[:, None]
            if layer.bias is not None:
                grads[layer.bias] += dA.sum(axis=0)
            dA = dA @ V
        elif isinstance(layer, Pool):
            dIn = np.zeros_like(A_in)
            rows = np.arange(A_in.shape[0])
            for k, w in enumerate(layer.windows):
                if layer.kind == "avg":
                    dIn[:, list(w)] += dA[:, k:k + 1] / len(w)
                else:
                    np.add.at(dIn, (rows, cache[k]), dA[:, k])
            dA = dIn
        elif isinstance(layer, Residual):
            dA = dA + _back(layer.block, P, cache, dA, grads)
        elif isinstance(layer, Normalize):
            U, r = cache
            if layer.kind == "layer":
                dA = np.sqrt(U.shape[1]) * dA
            dC = (dA - np.sum(dA * U, axis=1, keepdims=True) * U) / r
            dA = dC - dC.mean(axis=1, keepdims=True) if layer.kind == "layer" else dC
        else:  # Attention
            X, M, Asm, H = cache
            dY = dA.reshape(Asm.shape[0], layer.tokens, -1)
            if layer.value is not None:
                Wv = P[layer.value]
                grads[layer.value] += np.einsum("mtd,mte->de", H, dY)
                dH = dY @ Wv.T
            else:
                dH = dY
            dAsm = dH @ np.swapaxes(X, 1, 2)
            dS = Asm * (dAsm - np.sum(dAsm * Asm, axis=-1, keepdims=True))
            dM = np.einsum("mtd,mts,mse->de", X, dS, X)
            grads[layer.query] += dM @ P[layer.key]
            grads[layer.key] += dM.T @ P[layer.query]
            dX = np.swapaxes(Asm, 1, 2) @ dH + dS @ X @ M.T + np.swapaxes(dS, 1, 2) @ X @ M
            dA = dX.reshape(dX.shape[0], -1)
    return dA


def forward(model: Model, P: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs for a batch X of shape (m, input_dim); returns (m, output_dim)."""
    return _run(model.layers, P, np.asarray(X, dtype=float))[0]


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


def loss_and_grad(model: Model, P: Mapping[str, np.ndarray], X: np.ndarray, T: np.ndarray,
                  loss: str = "square") -> tuple[float, dict[str, np.ndarray]]:
    """Loss and its exact gradient by hand-written reverse mode (independent of SymPy).

    References:
        Standard backpropagation; activation derivatives from ``verify.model.activations`` declarations.
    """
    from verify.model.losses import loss_value_and_grad
    A, caches = _run(model.layers, P, np.asarray(X, dtype=float))
    value, dA = loss_value_and_grad(loss, A, T)
    grads = {p.name: np.zeros(p.shape) for p in model.params}
    _back(model.layers, P, caches, dA, grads)
    return value, grads
