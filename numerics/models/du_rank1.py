"""One rank-1 GD run of DU-10 (Thm 3.2): the unit of the DU-10 sweep.

Rank-1 GD runs in O(d) per step: with M* = sigma_1 u* v*^T,
    (u v^T - M*) v = u ||v||^2 - sigma_1 u* (v*^T v),
and the error is evaluated without cancellation by splitting u = a u* + u_perp, v = b v* + v_perp
into Frobenius-orthogonal pieces:
    ||u v^T - M*||_F^2 = (ab - sigma_1)^2 + a^2 ||v_perp||^2 + b^2 ||u_perp||^2
                         + ||u_perp||^2 ||v_perp||^2,
so errors down to eps sigma_1 = 1e-10 are measured far above round-off (the naive expansion
||u||^2||v||^2 - 2 sigma ab + sigma^2 loses everything below ~1e-8).

It imports NumPy only: every sweep worker imports this module, and SciPy's statistics and
matplotlib (~1 s per spawned worker) would cost more than a whole quick sweep. The audit
(:mod:`audit_du10`) fits the rates and draws the figures in the parent process.

References:
    Du, Hu & Lee 2018, Sec 3.2, Thm 3.2 (and Appendix C).
"""

from __future__ import annotations

import math

import numpy as np

from verify.errors import DivergenceError

__all__ = ["rank1_run", "C_INIT", "C_STEP", "EPSILONS"]

#: Thm 3.2's constants are "sufficiently small" and unspecified. c_init = 0.01 keeps
#: ||u_0||^2 = c_init sqrt(sigma_1 d) <= sigma_1 up to d = 10^4 (larger would start the run far
#: outside the small-init regime the theorem assumes); c_step = 0.1 is 10x below the stability
#: limit c_step < 1 of the radial mode.
C_INIT = 0.01
C_STEP = 0.1
EPSILONS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10)


def rank1_run(d: int, seed: int, c_step: float = C_STEP, c_init: float = C_INIT,
              sigma1: float = 1.0, eps_min: float = 1e-10, max_steps: int = 100_000,
              blowup: float = 1e6) -> dict:
    """One rank-1 GD run from the Thm 3.2 initialisation until error <= eps_min sigma_1.

    Args:
        d: d1 = d2 = d.
        seed: seed of u*, v* (Haar) and of the init.
        c_step, c_init, sigma1: eta = c_step / sigma1, u0, v0 ~ N(0, delta I) with
            delta = c_init sqrt(sigma1 / d) (delta is a variance, as in the theorem).
        eps_min: stop once the error is <= eps_min sigma1.
        max_steps: step budget.
        blowup: divergence threshold on the error relative to its start.

    Returns:
        JSON-able dict: steps to reach each eps in EPSILONS, the log-error trajectory and the
        min/max of |u^T u*| / |v^T v*|. The rate is fitted by the audit, not here.

    Raises:
        DivergenceError: error not finite or above ``blowup`` times its start.
    """
    rng = np.random.default_rng(seed)
    us = rng.standard_normal(d)
    us /= np.linalg.norm(us)
    vs = rng.standard_normal(d)
    vs /= np.linalg.norm(vs)
    delta = c_init * math.sqrt(sigma1 / d)
    u = math.sqrt(delta) * rng.standard_normal(d)
    v = math.sqrt(delta) * rng.standard_normal(d)
    eta = c_step / sigma1
    errs, ratios = [], []
    err0 = None
    same_sign = bool((us @ u) * (vs @ v) > 0)
    # In place, into preallocated buffers, with the same operations in the same order as the
    # textbook ``u - eta * (u * nv - sigma1 * b * us)`` (bit-identical results): a fresh array per
    # operation made the run ~30% slower in processes started with a small
    # MALLOC_TRIM_THRESHOLD_, which Dask's nanny sets (benchmarks/bench_executor.py).
    up, vp, du, dv = (np.empty(d) for _ in range(4))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(max_steps + 1):
            a = float(us @ u)
            b = float(vs @ v)
            np.subtract(u, np.multiply(us, a, out=up), out=up)
            np.subtract(v, np.multiply(vs, b, out=vp), out=vp)
            nup, nvp = float(up @ up), float(vp @ vp)
            err = math.sqrt(max((a * b - sigma1) ** 2 + a * a * nvp + b * b * nup + nup * nvp, 0.0))
            if err0 is None:
                err0 = err
            if not math.isfinite(err) or err > blowup * err0:
                raise DivergenceError(
                    f"Rank-1 GD diverged at iteration {t} (d={d}): error {err:.3g} with step size "
                    f"eta={eta:.3g} (c_step={c_step}). Lower the step size: c_step must stay "
                    "below 1 (eta < 1/sigma_1), try c_step=0.1.")
            errs.append(err)
            ratios.append(abs(a) / abs(b) if b != 0 else float("inf"))
            if err <= eps_min * sigma1:
                break
            nu, nv = float(u @ u), float(v @ v)
            # du = eta * (u * nv - (sigma1 * b) * us), then u -= du; likewise v with nu, a.
            np.multiply(np.subtract(np.multiply(u, nv, out=du), np.multiply(us, sigma1 * b, out=up), out=du),
                        eta, out=du)
            np.multiply(np.subtract(np.multiply(v, nu, out=dv), np.multiply(vs, sigma1 * a, out=vp), out=dv),
                        eta, out=dv)
            u -= du
            v -= dv
    e = np.asarray(errs) / sigma1
    steps_to = {f"{eps:g}": (int(np.argmax(e <= eps)) if np.any(e <= eps) else None)
                for eps in EPSILONS}
    out = {"d": d, "seed": seed, "c_step": c_step, "c_init": c_init, "sigma1": sigma1,
           "steps_run": len(errs) - 1, "steps_to": steps_to,
           "ratio_min": float(np.min(ratios)), "ratio_max": float(np.max(ratios)),
           "ratio_start": float(ratios[0]), "same_sign_start": same_sign, "log10_error": np.log10(e).tolist()}
    return out
