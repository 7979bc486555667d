"""Full-batch GD on a bias-free fully connected ReLU network with the quadratic loss.

f(x) = W_N phi(... phi(W_1 x)), phi = ReLU, loss L = 1/(2m) sum_i ||f(x_i) - y_i||^2. The loop
is written for speed (DU-12 at 1000 -> 100 -> 100 -> 10, m = 1000, 10,000 iterations): every
buffer is allocated once and all products write into it with ``out=``, so an iteration costs the
matrix products plus O(m * width) elementwise work. The backward pass is the textbook chain rule
for this graph; it is checked against finite differences in the tests.

References:
    Du, Hu & Lee 2018, Sec 4 (experiment) and Cor 2.1 (||W_h||_F^2 - ||W_{h+1}||_F^2 conserved
    under gradient flow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from verify.errors import BadInput, DivergenceError

__all__ = ["ReluGDRun", "init_layers", "relu_net_loss_grad", "relu_net_gd", "matmul_only_loop"]


def init_layers(widths: Sequence[int], variances: Sequence[float], rng: np.random.Generator,
                dtype=np.float64) -> list[np.ndarray]:
    """W_h[i, j] ~ N(0, variances[h]) with shape (widths[h+1], widths[h]).

    Args:
        widths: ``(n_0, n_1, ..., n_N)``, input width first.
        variances: one *variance* per layer (the paper gives variances, e.g. 1e-4/100).
        rng: the generator.
    """
    if len(variances) != len(widths) - 1:
        raise BadInput(f"Got {len(variances)} variances for {len(widths) - 1} layers; "
                       "give one variance per layer.")
    return [(math.sqrt(v) * rng.standard_normal((widths[h + 1], widths[h]))).astype(dtype)
            for h, v in enumerate(variances)]


def relu_net_loss_grad(Ws: Sequence[np.ndarray], X: np.ndarray,
                       Y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Loss 1/(2m) sum ||f(x_i) - y_i||^2 and its gradients (reference implementation).

    X is (m, n_0) with one data point per row; Y is (m, n_N). ReLU'(0) is taken as 0, an
    element of the Clarke subdifferential (the balance results hold for any choice).
    """
    m = X.shape[0]
    acts = [X]
    pre = []
    h = X
    for W in Ws[:-1]:
        z = h @ W.T
        pre.append(z)
        h = np.maximum(z, 0)
        acts.append(h)
    F = h @ Ws[-1].T
    E = F - Y
    loss = 0.5 * float(np.vdot(E, E)) / m
    D = E / m
    grads = [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        grads[k] = D.T @ acts[k]
        if k > 0:
            D = (D @ Ws[k]) * (pre[k - 1] > 0)
    return loss, grads


@dataclass(frozen=True)
class ReluGDRun:
    """Per-iteration records of :func:`relu_net_gd` (index t = 0..n_steps).

    Attributes:
        loss: the loss at W_t.
        sqnorms: ``(n_steps + 1, N)`` array of ||W_h(t)||_F^2.
        Ws: final weights.
        wall_time_s: time of the GD loop.
    """

    loss: np.ndarray
    sqnorms: np.ndarray
    Ws: tuple[np.ndarray, ...]
    wall_time_s: float


def relu_net_gd(Ws: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, eta: float, n_steps: int,
                *, progress: bool = False, blowup: float = 1e6) -> ReluGDRun:
    """Full-batch GD on a 3-layer ReLU net, recording the loss and ||W_h||_F^2 every iteration.

    Args:
        Ws: initial ``[W1, W2, W3]`` (copied; dtype taken from W1, X and Y are cast to it).
        X: (m, n_0) inputs, Y: (m, n_3) targets.
        eta: constant step size.
        n_steps: number of GD steps.
        progress: show a tqdm bar.
        blowup: raise :class:`DivergenceError` once the loss exceeds ``blowup`` times its start
            (six orders of magnitude by default) or is not finite.

    Raises:
        DivergenceError: with the step size to lower.
    """
    import time

    if len(Ws) != 3:
        raise BadInput(f"Got {len(Ws)} layers; this fast loop is for 3-layer networks.")
    dt = Ws[0].dtype
    W1, W2, W3 = (np.array(W, dtype=dt, order="C") for W in Ws)
    X = np.ascontiguousarray(X, dtype=dt)
    Y = np.ascontiguousarray(Y, dtype=dt)
    m = X.shape[0]
    n1, n2, n3 = W1.shape[0], W2.shape[0], W3.shape[0]
    # Buffers, allocated once.
    H1 = np.empty((m, n1), dt)
    A1 = np.empty((m, n1), dt)
    H2 = np.empty((m, n2), dt)
    A2 = np.empty((m, n2), dt)
    F = np.empty((m, n3), dt)
    D2 = np.empty((m, n2), dt)
    D1 = np.empty((m, n1), dt)
    G1 = np.empty_like(W1)
    G2 = np.empty_like(W2)
    G3 = np.empty_like(W3)
    loss = np.empty(n_steps + 1)
    sq = np.empty((n_steps + 1, 3))
    scale = dt.type(eta / m)  # the 1/m of the loss folded into the step: one less pass over E
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_steps, desc="DU-12 GD", unit="it", mininterval=1.0)
    t0 = time.perf_counter()
    loss0 = None
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(n_steps + 1):
                np.matmul(X, W1.T, out=H1)
                np.maximum(H1, 0, out=A1)
                np.matmul(A1, W2.T, out=H2)
                np.maximum(H2, 0, out=A2)
                np.matmul(A2, W3.T, out=F)
                F -= Y  # F now holds the residual E = f(X) - Y
                lt = 0.5 * float(np.vdot(F, F)) / m
                loss[t] = lt
                sq[t, 0] = np.vdot(W1, W1)
                sq[t, 1] = np.vdot(W2, W2)
                sq[t, 2] = np.vdot(W3, W3)
                if loss0 is None:
                    loss0 = lt
                if not math.isfinite(lt) or lt > blowup * loss0:
                    raise DivergenceError(
                        f"GD on the ReLU network diverged at iteration {t}: loss {lt:.3g} "
                        f"(initial {loss0:.3g}) with step size eta={eta:.3g}. Lower the step size "
                        f"(try eta={eta / 4:.3g}).")
                if t == n_steps:
                    break
                # Backward pass. ReLU' = 1 where the pre-activation is > 0 (equivalently A > 0).
                np.matmul(F.T, A2, out=G3)
                np.matmul(F, W3, out=D2)
                np.multiply(D2, A2 > 0, out=D2)
                np.matmul(D2.T, A1, out=G2)
                np.matmul(D2, W2, out=D1)
                np.multiply(D1, A1 > 0, out=D1)
                np.matmul(D1.T, X, out=G1)
                W1 -= scale * G1
                W2 -= scale * G2
                W3 -= scale * G3
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return ReluGDRun(loss=loss, sqnorms=sq, Ws=(W1, W2, W3), wall_time_s=time.perf_counter() - t0)


def matmul_only_loop(Ws: Sequence[np.ndarray], X: np.ndarray, n_steps: int) -> float:
    """Wall time of the same 8 matrix products as one GD iteration, ``n_steps`` times, nothing else.

    The baseline of the DU-12 benchmark (issue 5: GD iteration / products alone <= 1.2x).
    """
    import time

    dt = Ws[0].dtype
    W1, W2, W3 = (np.array(W, dtype=dt) for W in Ws)
    X = np.ascontiguousarray(X, dtype=dt)
    m = X.shape[0]
    A1 = np.abs(X @ W1.T)  # non-negative stand-ins with the shapes of the activations
    A2 = np.abs(A1 @ W2.T)
    H1 = np.empty_like(A1)
    H2 = np.empty_like(A2)
    F = np.empty((m, W3.shape[0]), dt)
    D2 = np.empty_like(A2)
    D1 = np.empty_like(A1)
    G1, G2, G3 = np.empty_like(W1), np.empty_like(W2), np.empty_like(W3)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        np.matmul(X, W1.T, out=H1)
        np.matmul(A1, W2.T, out=H2)
        np.matmul(A2, W3.T, out=F)
        np.matmul(F.T, A2, out=G3)
        np.matmul(F, W3, out=D2)
        np.matmul(D2.T, A1, out=G2)
        np.matmul(D2, W2, out=D1)
        np.matmul(D1.T, X, out=G1)
    return time.perf_counter() - t0
