"""Deep linear networks on linearly separable data (Ji & Telgarsky), and the hard-margin SVM.

The network is ``f(x) = W_L ... W_1 x`` with ``W_L`` a row (scalar output) and no biases. Its
end-to-end linear predictor is ``w_prod = (W_L ... W_1)^T``. The risk is the empirical mean of
the logistic loss ``log(1 + e^{-z})`` or the exponential loss ``e^{-z}`` of the margins
``z_i = y_i <w_prod, x_i>``.

GD step rule. Ji & Telgarsky analyse GD with steps ``eta_t <= 1/beta`` where ``beta`` bounds the
smoothness of the risk on the region GD visits. We compute such a bound explicitly at every step
(:func:`smoothness_bound`): for the logistic and exponential losses ``l'' <= l`` and
``|l'| <= l``, and with ``||x_i|| <= 1`` the Hessian of ``R`` at ``W`` is bounded by
``R(W) * (sum_k prod_{j != k} ||W_j||_2^2 + (L - 1) max_{k != j} prod_{l != k, j} ||W_l||_2)``.
Along the segment from ``W`` to ``W - eta grad``, spectral norms are bounded by
``||W_j||_2 + eta ||G_j||_F`` and the risk by ``R(W) exp(dz)``, ``dz`` a bound on how far any
margin can move (``l(z + d) <= e^{|d|} l(z)`` for both losses). With ``eta_t = 1/beta_t`` the
descent lemma then gives ``R_{t+1} <= R_t - eta_t ||grad||^2 / 2`` exactly as used in the paper.

References:
    Ji & Telgarsky 2019, "Gradient descent aligns the layers of deep linear networks", ICLR
    (Secs 2-4; GD with steps bounded by the inverse smoothness). ../shared/papers/CLAIMS.md
    JT-1..JT-6.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from verify.errors import BadInput, DivergenceError

from verify.numerics.models.jt_data import (  # noqa: F401  (re-exported: the data live in jt_data)
    SeparableData, planted_max_margin_data, separable_data, nonseparable_data, is_separable, svm_direction, soft_margin_direction,
)

__all__ = [
    "LOSSES",
    "SeparableData",
    "planted_max_margin_data",
    "separable_data",
    "nonseparable_data",
    "is_separable",
    "svm_direction",
    "soft_margin_direction",
    "loss_and_derivative",
    "product",
    "risk_and_grads",
    "smoothness_bound",
    "jt_step_size",
    "jt_init",
    "JTRun",
    "run_jt_gd",
]

LOSSES = ("logistic", "exponential")


def loss_and_derivative(z: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """``l(z)`` and ``l'(z)`` for the logistic or exponential loss, overflow-free.

    Logistic: ``l = log(1 + e^{-z})`` via ``logaddexp`` and ``l' = -expit(-z)``; both are exact
    for any float ``z``. Exponential: an overflow (a diverging run) gives inf without a warning,
    and the caller turns the non-finite risk into a DivergenceError.
    """
    from scipy.special import expit

    if loss == "logistic":
        return np.logaddexp(0.0, -z), -expit(-z)
    if loss == "exponential":
        with np.errstate(over="ignore"):
            e = np.exp(-z)
        return e, -e
    raise BadInput(f"Got loss {loss!r}; allowed: {', '.join(LOSSES)}.")


def product(Ws: Sequence[np.ndarray]) -> np.ndarray:
    """End-to-end predictor ``w_prod = (W_L ... W_1)^T`` as a 1-D vector."""
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P
    return P.ravel()


def risk_and_grads(Ws: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray,
                   loss: str) -> tuple[float, list[np.ndarray], np.ndarray]:
    """Risk ``R = mean_i l(y_i <w_prod, x_i>)``, its gradients ``G_k``, and ``w_prod``.

    ``G_k = (W_L..W_{k+1})^T g^T (W_{k-1}..W_1)^T`` with ``g = mean_i l'(z_i) y_i x_i``.
    """
    L = len(Ws)
    below = [np.eye(X.shape[1])]  # below[k] = W_{k-1} ... W_1 (identity for k = 0)
    for W in Ws[:-1]:
        below.append(W @ below[-1])
    w = (Ws[-1] @ below[-1]).ravel()
    z = y * (X @ w)
    lv, dl = loss_and_derivative(z, loss)
    g = (dl * y) @ X / len(y)  # dR/dw_prod
    grads = [None] * L
    above = np.ones((1, 1))  # W_L ... W_{k+1}
    for k in range(L - 1, -1, -1):
        grads[k] = above.T @ (g[None, :] @ below[k].T)
        above = above @ Ws[k]
    return float(lv.mean()), grads, w


#: For L layers, the index tuples "all but k" and "all but k and j" (k < j), in ascending order,
#: so that the products below multiply in the same order as a plain loop would (bit-identical).
_ALL_BUT_ONE = tuple(tuple(tuple(i for i in range(L) if i != k) for k in range(L))
                     for L in range(9))
_ALL_BUT_TWO = tuple(tuple(tuple(i for i in range(L) if i != k and i != j)
                           for k in range(L) for j in range(k + 1, L)) for L in range(9))


def _smooth_factor(v: list[float]) -> float:
    # Plain Python floats: the layers are few (L <= 5) and this runs ~6 times per GD step, where
    # NumPy's per-call overhead (np.delete, np.prod) cost 2/3 of a whole JT run.
    L = len(v)
    if L >= len(_ALL_BUT_ONE):
        one = tuple(tuple(i for i in range(L) if i != k) for k in range(L))
        two = tuple(tuple(i for i in range(L) if i != k and i != j)
                    for k in range(L) for j in range(k + 1, L))
    else:
        one, two = _ALL_BUT_ONE[L], _ALL_BUT_TWO[L]
    tot = 0.0
    for idx in one:
        tot += math.prod([v[i] for i in idx]) ** 2
    cross = 0.0
    for idx in two:
        cross = max(cross, math.prod([v[i] for i in idx]))
    return tot + (L - 1) * cross


def _segment_bound(s, gn, risk: float, eta: float, prod_s: float | None = None) -> float:
    big = [a + eta * b for a, b in zip(s, gn)]
    if prod_s is None:
        prod_s = math.prod(s)
    dz = math.prod(big) - prod_s  # |z_i(W') - z_i(W)| <= ||w'_prod - w_prod||
    return risk * math.exp(min(dz, 700.0)) * _smooth_factor(big)


def smoothness_bound(Ws: Sequence[np.ndarray], grads: Sequence[np.ndarray], risk: float,
                     eta: float) -> float:
    """Upper bound on the curvature of ``R`` on the segment ``[W, W - eta * grad]``.

    See the module docstring for the derivation. ``eta = 0`` gives the bound at ``W`` itself.
    """
    s = [float(np.linalg.norm(W, 2)) for W in Ws]
    gn = [float(np.linalg.norm(G)) for G in grads]
    return _segment_bound(s, gn, risk, eta)


def jt_step_size(Ws, grads, risk, spectral: np.ndarray | None = None) -> float:
    """The largest ``eta`` (to a factor 2, after fixed-point refinement) with ``eta * beta <= 1``.

    ``beta`` is :func:`smoothness_bound` on the segment of that very step, so the step is
    certified by the descent lemma. ``spectral`` (the layers' spectral norms) may be passed in
    when the caller has them already.
    """
    s = [float(np.linalg.norm(W, 2)) for W in Ws] if spectral is None else \
        [float(x) for x in spectral]
    gn = [float(np.linalg.norm(G)) for G in grads]
    ps = math.prod(s)
    eta = 1.0 / _segment_bound(s, gn, risk, 0.0, ps)
    for _ in range(4):  # fixed point eta = 1/beta(eta): converges from above in a few rounds
        eta = 1.0 / _segment_bound(s, gn, risk, eta, ps)
    while eta * _segment_bound(s, gn, risk, eta, ps) > 1.0:
        eta *= 0.5
    return eta


def jt_init(d: int, widths: Sequence[int], scale: float, rng: np.random.Generator) -> list:
    """Gaussian layers ``W_1 (widths[0], d), ..., W_L (1, widths[-1])``, ``||W_k||_F ~ scale``."""
    dims = [d, *widths, 1]
    return [rng.standard_normal((dims[k + 1], dims[k])) * scale / math.sqrt(dims[k] * dims[k + 1])
            for k in range(len(dims) - 1)]


@dataclass(frozen=True)
class JTRun:
    """A GD trajectory of a deep linear network, recorded at ``steps``.

    ``risk`` has one entry per recorded step; ``etas``, ``grad_sq``, ``risk_all`` and ``rank_gap``
    (``||W_k||_F^2 - ||W_k||_2^2`` per layer, JT-3) have one per executed step, for the every-step
    checks of JT-3 and JT-5. ``Ws`` holds the recorded
    layer matrices (list over records, each a list over layers).
    """

    steps: np.ndarray
    risk: np.ndarray
    Ws: list
    risk_all: np.ndarray
    etas: np.ndarray
    grad_sq: np.ndarray
    jt1_residual: np.ndarray
    jt1_flow_residual: np.ndarray
    rank_gap: np.ndarray
    wall_time_s: float
    stopped: str


def run_jt_gd(Ws0: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, loss: str, steps: int, *,
              eta: float | None = None, record: int = 200, risk_floor: float = 1e-150,
              check_jt1: bool = False) -> JTRun:
    """GD on a deep linear network with the certified step rule (``eta=None``) or a constant step.

    Args:
        Ws0: initial layers (copied).
        X, y: data.
        loss: "logistic" or "exponential".
        steps: maximum number of steps.
        eta: constant step (for negative controls); None uses :func:`jt_step_size` every step.
        record: number of log-spaced iterations at which the layers are stored.
        risk_floor: stop when the risk falls below it (before float64 underflow of the gradient).
        check_jt1: also measure, at every step and for every k, the JT-1 residual
            ``||Delta(W_{k+1}^T W_{k+1} - W_k W_k^T) - eta^2 (G_{k+1}^T G_{k+1} - G_k G_k^T)||_F``
            relative to the size of its terms, and the same residual for the gradient-flow
            prediction (change 0), which must *not* vanish at finite steps.

    Raises:
        DivergenceError: the risk became non-finite.

    References:
        Ji & Telgarsky 2019 (GD with steps <= 1/beta); CLAIMS.md JT-1, JT-5.
    """
    Ws = [np.array(W, dtype=float) for W in Ws0]
    rec = set(np.unique(np.round(np.geomspace(1, steps + 1, record)).astype(int) - 1).tolist())
    rec.add(0)
    t_rec, r_rec, W_rec = [], [], []
    risk_all, etas, gsq, res1, resf, gaps = [], [], [], [], [], []
    t0 = time.perf_counter()
    stopped = "max steps"
    for t in range(steps + 1):
        R, G, _ = risk_and_grads(Ws, X, y, loss)
        if not math.isfinite(R):
            raise DivergenceError(f"Risk became {R} at step {t} (eta={eta}); lower the step size.")
        risk_all.append(R)
        # JT-3 is a bound on *every* iterate: ||W_k||_F^2 - ||W_k||_2^2 for each layer.
        # one SVD per layer per step (= np.linalg.norm(W, 2), without its axis bookkeeping)
        spec = np.array([np.linalg.svd(W, compute_uv=False)[0] for W in Ws])
        gaps.append([float(np.sum(W * W)) - float(sn) ** 2 for W, sn in zip(Ws, spec)])
        if t in rec or t == steps or R < risk_floor:
            t_rec.append(t)
            r_rec.append(R)
            W_rec.append([W.copy() for W in Ws])
        if t == steps:
            break
        if R < risk_floor:
            stopped = f"risk below {risk_floor:g}"
            break
        h = jt_step_size(Ws, G, R, spectral=spec) if eta is None else eta
        etas.append(h)
        gsq.append(float(sum(np.sum(g * g) for g in G)))
        new = [W - h * g for W, g in zip(Ws, G)]
        if check_jt1:
            worst, worst_f = 0.0, 0.0
            for k in range(len(Ws) - 1):
                before = Ws[k + 1].T @ Ws[k + 1] - Ws[k] @ Ws[k].T
                after = new[k + 1].T @ new[k + 1] - new[k] @ new[k].T
                pred = h * h * (G[k + 1].T @ G[k + 1] - G[k] @ G[k].T)
                scale = (np.linalg.norm(Ws[k + 1].T @ Ws[k + 1]) + np.linalg.norm(Ws[k] @ Ws[k].T)
                         + np.linalg.norm(new[k + 1].T @ new[k + 1])
                         + np.linalg.norm(new[k] @ new[k].T))
                worst = max(worst, float(np.linalg.norm(after - before - pred)) / scale)
                worst_f = max(worst_f, float(np.linalg.norm(after - before)) / scale)
            res1.append(worst)
            resf.append(worst_f)
        Ws = new
    return JTRun(steps=np.array(t_rec), risk=np.array(r_rec), Ws=W_rec,
                 risk_all=np.array(risk_all), etas=np.array(etas), grad_sq=np.array(gsq),
                 jt1_residual=np.array(res1), jt1_flow_residual=np.array(resf),
                 rank_gap=np.array(gaps),
                 wall_time_s=time.perf_counter() - t0, stopped=stopped)
