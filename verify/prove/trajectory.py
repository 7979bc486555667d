"""Numeric checks along real trajectories (``verify check --trajectory``).

* flow: integrate theta' = -grad L with ``scipy.integrate.solve_ivp`` (DOP853, rtol = 1e-10,
  atol = 1e-12) and report max_t |Q(t) - Q(0)| relative to the scale of Q's terms;
* gd: run GD at step eta and eta/2 and report the largest per-step change of Q against eta^2;
  a quantity conserved by the flow drifts by O(eta^2) per step, so the fitted exponent is ~2.

Q is evaluated by lambdifying the SymPy entries of the quantity (exact expressions, float64).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from verify.errors import DivergenceError
from verify.model import Model
from verify.interpret.numeric import flat, loss_and_grad, unflat
from verify.prove.concrete import QuantityFn, entries
from verify.interpret.symbolic import param_matrices

__all__ = ["TrajectoryReport", "flow_drift", "gd_drift"]


@dataclass(frozen=True)
class TrajectoryReport:
    dynamics: str
    seed: int
    steps: int
    max_drift: float  # max |Q(t) - Q(0)| over entries and time
    scale: float  # max |term| of Q over the trajectory (sum of |monomials|)
    relative_drift: float
    detail: dict

    def to_json(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        extra = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.detail.items())
        return (f"trajectory ({self.dynamics}, seed {self.seed}, {self.steps} steps): max |dQ| = {self.max_drift:.3e}, "
                f"relative to the scale of Q's terms {self.scale:.3e}: {self.relative_drift:.3e}; {extra}")


def _q_functions(model: Model, quantity: QuantityFn):
    P = param_matrices(model)
    theta = [s for p in model.params for s in P[p.name]]
    ents = entries(quantity.build(dict(P)))
    exprs = [sp.expand(e) for _, e in ents]
    absterms = [sp.Add(*[sp.Abs(t) for t in sp.Add.make_args(e)]) for e in exprs]
    return sp.lambdify([theta], exprs, "numpy"), sp.lambdify([theta], absterms, "numpy")


def _problem(model: Model, seed: int, n_points: int = 4):
    rng = np.random.default_rng(seed)
    P = {p.name: rng.normal(scale=0.7, size=p.shape) for p in model.params}
    X = rng.normal(size=(n_points, model.input_dim))
    # Targets of the model's chosen loss (square when the loss was left open).
    if model.loss in ("logistic", "exponential"):
        T = rng.choice([-1.0, 1.0], size=(n_points, 1))
    elif model.loss == "cross_entropy":
        T = rng.integers(model.output_dim, size=(n_points, 1))
    else:
        T = rng.normal(size=(n_points, model.output_dim))
    return flat(model, P), X, T


def _grad(model, X, T):
    def g(theta):
        _, G = loss_and_grad(model, unflat(model, theta), X, T, loss=model.loss or "square")
        return flat(model, G)
    return g


def flow_drift(model: Model, quantity: QuantityFn, *, seed: int = 0, t_end: float = 2.0,
               rtol: float = 1e-10, atol: float = 1e-12, max_evals: int = 50_000) -> TrajectoryReport:
    """Drift of Q along the gradient flow of the model's loss (square if left open) on random data."""
    theta0, X, T = _problem(model, seed)
    q, qabs = _q_functions(model, quantity)
    grad = _grad(model, X, T)
    calls = [0]

    def rhs(t, th):
        # A ReLU flow that slides along a kink (a pre-activation pinned at 0) makes an explicit
        # solver shrink its step without end; stop with a clear message instead of hanging.
        calls[0] += 1
        if calls[0] > max_evals:
            raise DivergenceError(f"solve_ivp needed more than {max_evals} gradient evaluations by t = {t:.3g}: "
                                  "the flow is probably sliding along an activation kink. Try another --seed "
                                  "or a smooth activation.")
        return -grad(th)
    sol = solve_ivp(rhs, (0.0, t_end), theta0, method="DOP853", rtol=rtol, atol=atol,
                    dense_output=False, t_eval=np.linspace(0, t_end, 41))
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise DivergenceError(f"solve_ivp failed ({sol.message}); lower t_end or the parameter scale.")
    Q0 = np.asarray(q(theta0), float)
    qs = np.array([np.asarray(q(th), float) for th in sol.y.T])
    scale = float(max(np.max(np.asarray(qabs(th), float)) for th in sol.y.T))
    drift = float(np.max(np.abs(qs - Q0)))
    return TrajectoryReport("flow", seed, len(sol.t), drift, scale, drift / max(scale, 1e-300),
                            {"rtol": rtol, "t_end": t_end, "rhs evaluations": int(sol.nfev)})


def _gd_max_step_change(model, q, theta, grad, eta, steps):
    worst = 0.0
    prev = np.asarray(q(theta), float)
    for _ in range(steps):
        theta = theta - eta * grad(theta)
        if not np.all(np.isfinite(theta)):
            raise DivergenceError(f"GD diverged (NaN/inf) at eta={eta}; lower the step size.")
        cur = np.asarray(q(theta), float)
        worst = max(worst, float(np.max(np.abs(cur - prev))))
        prev = cur
    return worst, theta


def gd_drift(model: Model, quantity: QuantityFn, *, eta: float = 1e-2, steps: int = 50, seed: int = 0) -> TrajectoryReport:
    """Largest per-step change of Q at eta and eta/2, and the fitted exponent p in change ~ eta^p."""
    theta0, X, T = _problem(model, seed)
    q, qabs = _q_functions(model, quantity)
    grad = _grad(model, X, T)
    d1, th = _gd_max_step_change(model, q, theta0, grad, eta, steps)
    d2, _ = _gd_max_step_change(model, q, theta0, grad, eta / 2, steps)
    p = float(np.log2(d1 / d2)) if d1 > 0 and d2 > 0 else float("nan")
    scale = float(np.max(np.asarray(qabs(th), float)))
    return TrajectoryReport("gd", seed, steps, d1, scale, d1 / max(scale, 1e-300),
                            {"eta": eta, "max step change / eta^2": d1 / eta**2,
                             "exponent p (change ~ eta^p, from eta and eta/2)": p})
