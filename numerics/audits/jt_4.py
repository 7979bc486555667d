"""Audit of JT-4: the direction of w_prod converges to the max-margin direction (asymptotic rule).

JT-4 is a statement about t -> infinity, so a fixed threshold at the last iterate cannot decide
it: a run still decaying but above the threshold at T would fail, a run that has levelled off
below it would pass. The rule below extrapolates each run to t = infinity and judges the limit.

The rule (pre-registered for issue 14, written here before the 20,000-step runs were made):

1. Per run, on the last decade of iterations ``t in [T/10, T]``, regress the gap
   ``g(t) = 1 - cos(w_prod(t), u-bar)`` on ``x = 1/ln t`` by ordinary least squares and read off
   the intercept ``c_r`` (the line's value at ``t = infinity``), and
   ``rho_r = c_r / g(T/10)`` (dimension-free: comparable across runs whose gaps differ by orders
   of magnitude).
2. Why ``1/ln t``: it is the slowest rate known for this limit (for linear predictors on separable
   data ``||w/||w|| - u-bar|| = O(1/ln t)``, so ``g = O(1/ln^2 t)``; Soudry et al. 2018). For any
   ``g = c + h(x)`` with h convex, increasing, ``h(0) = 0`` (every decay at least as fast as
   ``1/ln t``: ``1/ln^2 t``, powers of t, exponentials) the least-squares line lies below h
   outside its crossing points, so ``c_r <= c``. A gap going to 0 gives ``rho_r <= 0``; a gap that
   has levelled off at ``c > 0`` gives ``rho_r ~ 1``.
3. Over the runs (independent data sets and initialisations), the 95% t-interval of the mean of
   ``rho_r``: **consistent** iff its upper end is < 0 and no single run has ``rho_r > 0``;
   **inconsistent** iff its lower end is > 0 (the runs level off at a non-zero value);
   **undecided** otherwise (the data cannot tell at this horizon).

Negative controls (each must come out inconsistent):

* the same runs measured against a reference 45 degrees away from u-bar (its gap tends to
  ``1 - cos 45 = 0.293``, known exactly);
* non-separable data (20% of the labels flipped, depths 2 and 3, both losses) against the
  soft-margin SVM direction: the risk has a finite minimiser, so the gap levels off at a
  non-zero value. This control also measures the rule's power at the horizon: if the runs are
  still far from their plateau the rule may say undecided, and the overall verdict follows.

References:
    Ji & Telgarsky 2019, ICLR (convergence of w_prod/||w_prod|| to u-bar); Soudry, Hoffer,
    Nacson, Gunasekar & Srebro 2018, JMLR 19 (the 1/ln t rate for linear predictors);
    ../shared/papers/CLAIMS.md JT-4, JT-6; issue 14.
"""

from __future__ import annotations

import numpy as np

from verify.numerics.context import AuditContext, AuditOutcome
from verify.numerics.audits.jt_1_2 import DECAY_SLOPE, EXPLORATORY, FULL_STEPS, JT4_OFF_ANGLE_DEG, QUICK_STEPS, \
    config_label, _late_fit, quick_note, run_grid, jt_configs
from verify.numerics.plotting import new_figure, save_figure
from verify.numerics.rates import fit_limit_inverse_log, mean_ci95
from verify.numerics.audit_report import SubVerdict

__all__ = ["audit_jt4", "asymptotic_verdict", "JT4_RULE"]

JT4_RULE = (
    "PRE-REGISTERED (issue 14, fixed before the runs): per run, OLS of g(t) = 1 - cos on "
    "x = 1/ln t over the last decade t in [T/10, T], extrapolated to t = infinity (x = 0): "
    "c_r = intercept, rho_r = c_r / g(T/10). Any decay at least as fast as 1/ln t (the slowest "
    "known max-margin rate) gives rho_r <= 0; a gap levelling off at c > 0 gives rho_r ~ 1. Over "
    "the runs, the 95% t-interval of mean rho_r: consistent iff its upper end < 0 and every "
    "rho_r <= 0; inconsistent iff its lower end > 0; otherwise undecided (the data cannot tell)")


def asymptotic_verdict(rhos) -> tuple[str, dict]:
    """The rule of step 3 (module docstring) on the per-run ``rho_r``; returns (verdict, CI)."""
    rhos = np.asarray(rhos, dtype=float)
    ci = mean_ci95(rhos)
    lo, hi = ci["ci95"]
    if hi < 0 and np.all(rhos <= 0):
        return "consistent", ci
    if lo > 0:
        return "inconsistent", ci
    return "undecided", ci


def _limits(runs, key):
    fits = []
    for r in runs:
        T = r["t"][-1]
        fits.append(fit_limit_inverse_log(r["t"], r[key], t_from=T / 10.0))
    return fits


def _evidence(runs, fits, key):
    rhos = [f.rel_limit for f in fits]
    verdict, ci = asymptotic_verdict(rhos)
    per = {}
    for r, f in zip(runs, fits):
        late = _late_fit(r["t"], r[key])
        per[config_label(r)] = {"final 1-cos": r[key][-1], "T": r["t"][-1],
                          "limit c_r": f.limit, "rho_r": f.rel_limit,
                          "log-log slope (EXPLORATORY)": late["slope"] if late else None}
    measured = {"runs": len(runs), "mean rho (95% CI over runs)": ci,
                "runs with rho_r > 0": int(np.sum(np.asarray(rhos) > 0)),
                "largest rho_r": float(np.max(rhos)), "smallest rho_r": float(np.min(rhos)),
                "median final 1-cos": float(np.median([r[key][-1] for r in runs])),
                "largest final 1-cos": float(np.max([r[key][-1] for r in runs])),
                "per run": per}
    return verdict, measured


def audit_jt4(ctx: AuditContext) -> AuditOutcome:
    """JT-4: w_prod/||w_prod|| -> the hard-margin SVM direction (SciPy QP), asymptotic rule.

    References:
        Ji & Telgarsky 2019 (logistic loss: convergence to the max-margin direction);
        CLAIMS.md JT-4, JT-6; issue 14.
    """
    configs = jt_configs(ctx.quick, claim="JT-4")
    res = run_grid(ctx, "JT-4", configs)
    steps = QUICK_STEPS if ctx.quick else FULL_STEPS
    ctrl_cfgs = [dict(kind="nonseparable", n=30, d=5, margin=0.0, depth=L, width=4, loss=loss,
                      steps=steps) for L in (2, 3) for loss in ("logistic", "exponential")]
    ctrl = run_grid(ctx, "JT-4", ctrl_cfgs)

    fits = _limits(res, "cos_gap")
    verdict, measured = _evidence(res, fits, "cos_gap")
    planted = [r["svm_vs_planted_1mcos"] for r in res if r["svm_vs_planted_1mcos"] is not None]
    measured["QP check: max 1-|cos(u-bar, planted)|"] = max(planted) if planted else None
    subs = [SubVerdict("JT-4: w_prod direction -> hard-margin SVM direction (limit t -> inf)",
                       verdict, JT4_RULE, measured=measured,
                       paper={"statement": "w_prod/||w_prod|| -> u-bar (logistic loss)",
                              "rate": "none proved (JT-6)"},
                       note="The paper states the limit for the logistic loss; we also run the "
                            "exponential loss. Log-log slopes are " + EXPLORATORY)]

    off_fits = _limits(res, "cos_gap_off")
    v_off, m_off = _evidence(res, off_fits, "cos_gap_off")
    m_off = {"true limit 1 - cos(45 deg)": res[0]["off_limit"],
             **{k: v for k, v in m_off.items() if k != "per run"}}
    subs.append(SubVerdict(
        f"control: the same runs against a reference {JT4_OFF_ANGLE_DEG:g} degrees from u-bar",
        v_off, "the same pre-registered rule; the gap's limit is 1 - cos 45 = 0.293 > 0, so it "
               "must be rejected (inconsistent)",
        measured=m_off, control=True, expected="inconsistent"))

    c_fits = _limits(ctrl, "cos_gap")
    v_ctrl, m_ctrl = _evidence(ctrl, c_fits, "cos_gap")
    subs.append(SubVerdict(
        "control: non-separable data (20% labels flipped), against the soft-margin direction",
        v_ctrl, "the same pre-registered rule; the hard-margin QP is infeasible, so the reference "
                "is the soft-margin SVM (C=1e4). The risk has a finite minimiser, so the gap "
                "levels off at a non-zero value: it must be rejected (inconsistent)",
        measured=m_ctrl, control=True, expected="inconsistent"))

    figs = _figure(ctx, res, fits, ctrl, c_fits)
    return AuditOutcome(
        subs=tuple(subs), figures=figs,
        params={"configs": configs, "control configs": ctrl_cfgs, "window": "t in [T/10, T]",
                "regressor": "x = 1/ln t", "off-reference angle (deg)": JT4_OFF_ANGLE_DEG,
                "svm": "SLSQP QP, LP start, KKT check"},
        notes=tuple(quick_note(ctx, configs) + [
            "Rule history: until issue 14 the rule was 'final 1 - cos <= 0.01 and log-log slope "
            f"CI below {DECAY_SLOPE}' at T = 5,000; it depended on the horizon (10/64 full-tier "
            "runs were above 0.01 while all were still decaying) and was replaced by the "
            "asymptotic rule above, fixed before the new runs.",
            EXPLORATORY]))


def _figure(ctx, res, fits, ctrl, c_fits):
    fig, ax = new_figure(1, 2, width=5.0)
    for r in res:
        ax[0].plot(np.maximum(r["t"], 1), np.maximum(r["cos_gap"], 1e-17), lw=0.8)
    for r in ctrl:
        ax[0].plot(np.maximum(r["t"], 1), np.maximum(r["cos_gap"], 1e-17), lw=0.8, ls="--",
                   color="k")
    ax[0].set(xscale="log", yscale="log", xlabel="iteration", ylabel="1 - cos(w_prod, u-bar)",
              title="JT-4 (dashed: non-separable control)")
    for rows, fs, style in ((res, fits, "-"), (ctrl, c_fits, "--")):
        for r, f in zip(rows, fs):
            t = np.asarray(r["t"], float)
            sel = t >= r["t"][-1] / 10.0
            x = 1.0 / np.log(t[sel])
            ax[1].plot(x, np.asarray(r["cos_gap"])[sel] / f.first, lw=0.8, ls=style)
            ax[1].plot([0.0, x.max()], [f.rel_limit, f.rel_limit + f.slope * x.max() / f.first],
                       lw=0.4, ls=":", color="0.5")
    ax[1].axhline(0.0, color="k", lw=0.6)
    ax[1].set(xlabel="x = 1/ln t (t = infinity at 0)", ylabel="g(t) / g(T/10)",
              title="last decade and its extrapolation (rho_r at x = 0)")
    return save_figure(fig, ctx.out, f"JT-4-{ctx.tier}")
