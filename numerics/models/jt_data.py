"""Linearly separable (and non-separable) data for the Ji & Telgarsky audits, and the hard-margin /
soft-margin SVM directions they are compared with. Split from ``jt_linear`` (the networks and GD).

References:
    Ji & Telgarsky (2019), Sec 2 (separable data, the max-margin direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from verify.errors import BadInput

__all__ = ["SeparableData", "planted_max_margin_data", "separable_data", "nonseparable_data", "is_separable",
           "svm_direction", "soft_margin_direction"]


@dataclass(frozen=True)
class SeparableData:
    """A binary data set ``X`` (n, d) with ``||x_i|| <= 1`` and labels ``y`` in {-1, +1}.

    ``planted`` is the known max-margin direction when the data were built to have one (None
    otherwise); ``margin`` is the margin of ``planted`` (or NaN).
    """

    X: np.ndarray
    y: np.ndarray
    planted: np.ndarray | None = None
    margin: float = float("nan")


def _unit(v):
    return v / np.linalg.norm(v)


def planted_max_margin_data(n: int, d: int, margin: float, rng: np.random.Generator,
                            offset: float = 0.5) -> SeparableData:
    """Separable data whose hard-margin SVM direction is a known unit vector ``u``.

    Two support vectors ``+-margin*u + offset*e`` (``e`` a unit vector orthogonal to ``u``) with
    labels +1/-1 give ``sum_i y_i x_i = 2 margin u``: KKT with equal multipliers, and no other
    unit direction reaches margin ``margin`` on both. All other points are drawn in the unit
    ball and kept only if ``y <u, x> >= 1.5 margin`` so they are never support vectors.

    References:
        Hard-margin SVM KKT conditions (e.g. Boyd & Vandenberghe 2004, Sec 8.6.1).
    """
    if not (0 < margin and margin ** 2 + offset ** 2 <= 1 and d >= 2):
        raise BadInput(f"Got margin={margin}, offset={offset}, d={d}; need 0 < margin, "
                       "margin^2 + offset^2 <= 1 and d >= 2.")
    u = _unit(rng.standard_normal(d))
    e = rng.standard_normal(d)
    e = _unit(e - (e @ u) * u)
    xs, ys = [margin * u + offset * e, -margin * u + offset * e], [1.0, -1.0]
    while len(xs) < n:
        x = rng.standard_normal(d)
        x *= rng.uniform() ** (1 / d) / np.linalg.norm(x)  # uniform in the unit ball
        s = x @ u
        if abs(s) >= 1.5 * margin:
            xs.append(x)
            ys.append(float(np.sign(s)))
    return SeparableData(np.array(xs), np.array(ys), planted=u, margin=float(margin))


def separable_data(n: int, d: int, margin: float, rng: np.random.Generator) -> SeparableData:
    """Points uniform in the unit ball, labelled by a random direction, kept if margin >= margin.

    The max-margin direction is *not* known in advance (compute it with :func:`svm_direction`).
    """
    u = _unit(rng.standard_normal(d))
    xs, ys = [], []
    while len(xs) < n:
        x = rng.standard_normal(d)
        x *= rng.uniform() ** (1 / d) / np.linalg.norm(x)
        if abs(x @ u) >= margin:
            xs.append(x)
            ys.append(float(np.sign(x @ u)))
    return SeparableData(np.array(xs), np.array(ys))


def nonseparable_data(n: int, d: int, rng: np.random.Generator, flip: float = 0.2) -> SeparableData:
    """Negative control: separable data with a fraction ``flip`` of labels flipped."""
    data = separable_data(n, d, 0.05, rng)
    y = data.y.copy()
    idx = rng.choice(n, size=max(2, int(flip * n)), replace=False)
    y[idx] *= -1
    return SeparableData(data.X, y)


def is_separable(X: np.ndarray, y: np.ndarray) -> bool:
    """LP feasibility of ``y_i <u, x_i> >= 1`` (homogeneous separability), by ``linprog``."""
    A = -(y[:, None] * X)
    res = optimize.linprog(np.zeros(X.shape[1]), A_ub=A, b_ub=-np.ones(len(y)),
                           bounds=[(None, None)] * X.shape[1], method="highs")
    return res.status == 0


def svm_direction(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unit hard-margin SVM direction (no bias): ``argmin ||u||^2 s.t. y_i <u, x_i> >= 1``.

    Solved as a QP with SciPy's SLSQP (analytic gradients and constraint Jacobian), started from
    the LP-feasible point, and accepted only if it satisfies the KKT conditions (feasible, and
    ``u`` a non-negative combination of the active ``y_i x_i``, checked by ``scipy.optimize.nnls``).

    Raises:
        BadInput: the data are not linearly separable (the QP is infeasible).

    References:
        Ji & Telgarsky 2019, Sec 3 (max-margin direction u-bar); Vapnik 1998.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    Z = y[:, None] * X
    lp = optimize.linprog(np.zeros(X.shape[1]), A_ub=-Z, b_ub=-np.ones(len(y)),
                          bounds=[(None, None)] * X.shape[1], method="highs")
    if lp.status != 0:
        raise BadInput("Got data that are not linearly separable; the hard-margin SVM QP is "
                       "infeasible. Use soft_margin_direction or separable data.")
    res = optimize.minimize(lambda u: 0.5 * u @ u, lp.x, jac=lambda u: u, method="SLSQP",
                            constraints=[{"type": "ineq", "fun": lambda u: Z @ u - 1.0,
                                          "jac": lambda u: Z}],
                            options={"ftol": 1e-13, "maxiter": 1000})
    u = res.x
    # Accept on the KKT conditions, not on SLSQP's status flag (which can report a line-search
    # stall at an already optimal point): primal feasibility, and u = sum_i alpha_i z_i with
    # alpha >= 0 supported on the active constraints (non-negative least squares).
    active = Z @ u <= 1.0 + 1e-6
    alpha, resid = optimize.nnls(Z[active].T, u) if active.any() else (None, np.inf)
    if np.min(Z @ u) < 1 - 1e-7 or resid > 1e-6 * np.linalg.norm(u):
        raise BadInput(f"SLSQP did not solve the SVM QP ({res.message}; KKT residual {resid:.2g});"
                       " the data may be degenerate.")
    return _unit(res.x)


def soft_margin_direction(X: np.ndarray, y: np.ndarray, C: float = 1e4) -> np.ndarray:
    """Unit soft-margin SVM direction: ``argmin ||u||^2/2 + C sum xi_i`` subject to
    ``y_i <u, x_i> >= 1 - xi_i``, ``xi_i >= 0``.

    The reference for the non-separable negative control of JT-4, where the hard-margin QP is
    infeasible.
    """
    Z = np.asarray(y, float)[:, None] * np.asarray(X, float)
    n, d = Z.shape

    def f(p):
        return 0.5 * p[:d] @ p[:d] + C * p[d:].sum()

    def g(p):
        return np.concatenate([p[:d], np.full(n, C)])

    A = np.hstack([Z, np.eye(n)])
    res = optimize.minimize(f, np.concatenate([np.zeros(d), np.ones(n)]), jac=g, method="SLSQP",
                            constraints=[{"type": "ineq", "fun": lambda p: A @ p - 1.0,
                                          "jac": lambda p: A}],
                            bounds=[(None, None)] * d + [(0, None)] * n,
                            options={"ftol": 1e-12, "maxiter": 2000})
    return _unit(res.x[:d])
