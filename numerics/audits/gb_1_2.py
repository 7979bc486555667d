"""Audits of GB-1 (incremental learning) and GB-2 (mode learning times and their order).

Choices where the paper is silent (and why):

* Singular values ``s = (3, 2, 1.2, 0.6)`` (quick) or eight values from 3 down to 0.4 (full):
  distinct, with ratios >= 1.5 so the modes' time scales are separated.
* Step ``eta = 0.05 < 1/s_1 = 0.33`` for GB-1 (GB-2's stability condition ``eta < 1/s_i``).
* GB-1 init: Gaussian of scale ``e^{-8}`` (vanishing, random, not aligned: the harder case).
  GB-2 init: aligned and balanced of scale ``e^{-delta}`` as the derived formula assumes.
* "Learned": the first step at which ``w_i = v_i^T W u_i`` reaches half its limit ``s_i/lam_i``
  (the event the formula's ``ln(s_i / (2 lam_i))`` describes).
* "Passes near the rank-r RRR solution": ``min_t ||W(t) - W_r||_F <= 0.1 ||Syx||_F``.

References:
    Gidel, Bach & Lacoste-Julien 2019, NeurIPS; ../shared/papers/CLAIMS.md GB-1, GB-2; issue 6.
"""

from __future__ import annotations

import math

import numpy as np

from verify.numerics.context import AuditContext, AuditOutcome, seed_for
from verify.numerics.sweep import Task, run_tasks
from verify.numerics.models.gb_linear_net import (
    aligned_init,
    gb_problem,
    gd_one_layer,
    gd_two_layer,
    learning_time_formula,
    mode_values,
    random_init,
    rrr_solution,
)
from verify.numerics.plotting import new_figure, save_figure
from verify.numerics.audit_report import SubVerdict

__all__ = ["audit_gb1", "audit_gb2", "gb1_run", "gb2_run", "NEAR", "FORMULA_BAND"]

#: GB-1: "near" the rank-r solution = within 10% of ||Syx||_F (our threshold, stated a priori).
NEAR = 0.1
#: GB-2: the formula is an approximation ("~") that becomes exact, in relative terms, as the
#: initialisation vanishes (delta -> infinity): it neglects the slow-down of w_i near its limit,
#: about (1/2 ln 2) / ln(1 + eta s_i) steps against delta / ln(1 + eta s_i), a relative error of
#: about 0.35 / delta, plus the rounding of the learning step to an integer. Rule (issue 14): the
#: largest |relative error| must shrink as delta grows and be within +-0.2 at the largest delta.
FORMULA_BAND = 0.2
#: Non-whitened control: lam_1 = 4 makes the first RRR singular value s_2/sqrt(lam_2) = 2 exceed
#: s_1/sqrt(lam_1) = 1.5, so RRR ranks mode 2 first while GD (rate s_i) learns mode 1 first.
CONTROL_LAM = (4.0, 1.0, 1.0, 1.0)
QUICK_S = (3.0, 2.0, 1.2, 0.6)
FULL_S = (3.0, 2.0, 1.4, 1.0, 0.8, 0.6, 0.5, 0.4)


def _sizes(quick):
    return (QUICK_S, 6, 5, 6, 50) if quick else (FULL_S, 20, 10, 12, 200)


def gb1_run(s, lam, d_in, d_out, width, n, delta, eta, seed) -> dict:
    """GB-1: distance of W2 W1 (two-layer) and W (one-layer) to each RRR solution over time."""
    rng = np.random.default_rng(seed_for(seed, "GB data", len(s), d_in, d_out, str(lam)))
    P = gb_problem(s, lam, d_in, d_out, n, rng)
    tmax = learning_time_formula(P.s, P.lam, delta, eta).max()
    steps = int(math.ceil(3 * tmax)) + 50  # three times the slowest predicted learning time
    W1, W2 = random_init(d_in, width, d_out, delta,
                         np.random.default_rng(seed_for(seed, "GB-1 init", delta)))
    ts, Ws = gd_two_layer(W1, W2, P.Sx, P.Syx, eta, steps)
    _, Vs = gd_one_layer(W2 @ W1, P.Sx, P.Syx, eta, steps)
    scale = float(np.linalg.norm(P.Syx))
    k = len(s)
    dist2 = np.array([np.linalg.norm(Ws - rrr_solution(P.Sx, P.Syx, r), axis=(1, 2)) / scale
                      for r in range(k + 1)])
    dist1 = np.array([np.linalg.norm(Vs - rrr_solution(P.Sx, P.Syx, r), axis=(1, 2)) / scale
                      for r in range(k + 1)])
    keep = np.unique(np.concatenate([np.arange(0, steps + 1, max(1, steps // 400)), [steps]]))
    return {"s": list(s), "lam": lam, "delta": delta, "eta": eta, "steps": steps,
            "two_min": dist2.min(axis=1).tolist(), "two_argmin": dist2.argmin(axis=1).tolist(),
            "one_min": dist1.min(axis=1).tolist(), "one_argmin": dist1.argmin(axis=1).tolist(),
            "t": ts[keep].tolist(), "two": dist2[:, keep].tolist(), "one": dist1[:, keep].tolist()}


def gb2_run(s, lam, d_in, d_out, width, n, delta, eta, seed) -> dict:
    """GB-2: measured learning step of each mode against the formula (aligned, balanced init)."""
    rng = np.random.default_rng(seed_for(seed, "GB data", len(s), d_in, d_out, str(lam)))
    P = gb_problem(s, lam, d_in, d_out, n, rng)
    pred = learning_time_formula(P.s, P.lam, delta, eta)
    steps = int(math.ceil(3 * pred.max())) + 50
    W1, W2 = aligned_init(P, width, delta)
    _, Ws = gd_two_layer(W1, W2, P.Sx, P.Syx, eta, steps)
    w = np.array([mode_values(W, P) for W in Ws])
    half = P.s / (2 * P.lam)
    reached = w >= half
    tau = [int(np.argmax(reached[:, i])) if reached[:, i].any() else None for i in range(len(s))]
    # The crossing to a fraction of a step (post hoc, issue 14): log w_i grows ~linearly per
    # step, so interpolate log w_i between the last step below half and the first one above.
    frac = []
    for i, t in enumerate(tau):
        if t is None or t == 0:
            frac.append(None if t is None else 0.0)
            continue
        lo_, hi_ = math.log(w[t - 1, i]), math.log(w[t, i])
        frac.append(float(t - 1 + (math.log(half[i]) - lo_) / (hi_ - lo_)))
    # RRR order: singular values of Syx Sx^{-1/2} (= s_i / sqrt(lam_i) for aligned moments)
    rrr_sv = (P.s / np.sqrt(P.lam)).tolist()
    return {"s": list(s), "lam": P.lam.tolist(), "delta": delta, "eta": eta, "steps": steps,
            "tau": tau, "tau_frac": frac, "formula": pred.tolist(),
            "rel_err": [None if t is None else float((p - t) / t) for p, t in zip(pred, tau)],
            "rrr_sv": rrr_sv}


def _tasks(ctx, fn, name, grid, seed=None, version=""):
    runs_dir = ctx.runs_for(name)
    seed = ctx.seed if seed is None else seed
    tag = ("" if seed == ctx.seed else f"_seed{seed}") + version  # version: a new run output

    def lam(g):
        return "none" if g["lam"] is None else "-".join(map(str, g["lam"]))

    tasks = [Task(f"{name}_s{len(g['s'])}_lam{lam(g)}_d{g['delta']:g}_eta{g['eta']:g}{tag}", fn,
                  dict(**g, seed=seed)) for g in grid]
    return list(run_tasks(tasks, runs_dir=runs_dir, workers=ctx.workers, progress=ctx.progress,
                          desc=f"{ctx.claim_id} {name}", pool=ctx.pool).results)


def audit_gb1(ctx: AuditContext) -> AuditOutcome:
    """GB-1: W2 W1 passes near the rank-1, rank-2, ... RRR solutions one after another.

    References:
        Gidel, Bach & Lacoste-Julien 2019, Thm 1 and Fig 1; CLAIMS.md GB-1.
    """
    s, d_in, d_out, width, n = _sizes(ctx.quick)
    delta, eta = 8.0, 0.05
    (r,) = _tasks(ctx, gb1_run, "GB-1", [dict(s=s, lam=None, d_in=d_in, d_out=d_out,
                                              width=width, n=n, delta=delta, eta=eta)])
    k = len(s)
    inner = range(1, k)

    def verdict(mins, argmins):
        near = all(mins[i] <= NEAR for i in inner)
        ordered = all(argmins[i] < argmins[i + 1] for i in range(1, k - 1))
        return "consistent" if near and ordered else "inconsistent"

    rule = (f"consistent iff for every intermediate rank r = 1..{k - 1}, min_t ||W(t) - W_r||_F "
            f"<= {NEAR} ||Syx||_F (W_r: closed-form RRR by truncated SVD), and the times of "
            "closest approach increase with r")
    subs = [SubVerdict("GB-1: two-layer GD passes near RRR rank 1, 2, ... in turn (whitened)",
                       verdict(r["two_min"], r["two_argmin"]), rule,
                       measured={"min relative distance per rank r=0..k": r["two_min"],
                                 "step of closest approach": r["two_argmin"]},
                       paper={"statement": "vanishing init + small step: sequentially learns the "
                                           "RRR solutions of increasing rank"}),
            SubVerdict("control: one-layer linear model, same data, same GD",
                       verdict(r["one_min"], r["one_argmin"]),
                       "the same rule; the one-layer model learns every component at once "
                       "(W(t) = (1 - (1 - eta)^t) Syx for whitened inputs), so it must be rejected",
                       measured={"min relative distance per rank r=0..k": r["one_min"],
                                 "step of closest approach": r["one_argmin"]},
                       control=True, expected="inconsistent")]
    fig, ax = new_figure(1, 2, width=5.2)
    t = np.asarray(r["t"]) * eta
    for j, (key, title) in enumerate((("two", "two-layer W2 W1"), ("one", "one-layer W"))):
        for rank, dist in enumerate(r[key]):
            ax[j].plot(t, dist, label=f"rank {rank}")
        ax[j].axhline(NEAR, color="k", ls=":", lw=0.8)
        ax[j].set(yscale="log", xlabel="eta * t", ylabel="||W(t) - W_r||_F / ||Syx||_F",
                  title=f"GB-1: {title}")
        ax[j].legend(fontsize=7)
    figs = save_figure(fig, ctx.out, f"GB-1-{ctx.tier}")
    notes = ["RRR solutions are computed independently in closed form (truncated SVD of "
             "Syx Sx^{-1/2}); whitened inputs with X^T X / n = I to round-off."]
    if ctx.quick:
        notes.insert(0, f"QUICK TIER: d_in={d_in}, d_out={d_out}, s={list(s)}; full: d_in=20, "
                        f"d_out=10, 8 modes.")
    return AuditOutcome(subs=tuple(subs), figures=figs,
                        params={"s": list(s), "d_in": d_in, "d_out": d_out, "width": width,
                                "n": n, "delta": delta, "eta": eta, "init": "Gaussian e^-delta",
                                "near": NEAR, "steps": r["steps"]},
                        notes=tuple(notes))


def _trend_rule(res, deltas, errors) -> tuple[str, dict]:
    """GB-2's rule: the largest |relative error| per delta shrinks strictly with delta and is
    <= FORMULA_BAND at the largest delta. ``errors(run)`` gives the run's per-mode errors."""
    worst = {}
    for dl in deltas:
        e = [x for r in res if r["delta"] == dl for x in errors(r) if x is not None]
        worst[f"delta={dl:g}"] = {"max |relative error|": max(abs(x) for x in e) if e else None,
                                  "mean relative error": float(np.mean(e)) if e else None,
                                  "modes x eta": len(e)}
    tops = [w["max |relative error|"] for w in worst.values()]
    if None in tops:
        return "undecided", worst
    ok = all(b < a for a, b in zip(tops, tops[1:])) and tops[-1] <= FORMULA_BAND
    return ("consistent" if ok else "inconsistent"), worst


def audit_gb2(ctx: AuditContext) -> AuditOutcome:
    """GB-2: learning steps t_i vs the formula over a sweep of delta and eta; order of learning.

    References:
        Gidel, Bach & Lacoste-Julien 2019, Sec 3 (discrete mode dynamics); CLAIMS.md GB-2.
    """
    s, d_in, d_out, width, n = _sizes(ctx.quick)
    deltas = (4.0, 6.0, 8.0) if ctx.quick else (2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
    etas = (0.02, 0.05, 0.2) if ctx.quick else (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
    base = dict(s=s, d_in=d_in, d_out=d_out, width=width, n=n)
    res = _tasks(ctx, gb2_run, "GB-2", [dict(**base, lam=None, delta=dl, eta=e)
                                        for dl in deltas for e in etas], version="_r2")
    # PRE-REGISTERED (issue 14, fixed before the rerun): the 288 (full) errors are a
    # deterministic grid (delta x eta x modes on one data set), not samples, so no CI. The error
    # is a function of (s_i, lam_i, delta, eta) alone: another data set differs only by the
    # rotations U, V, which the aligned mode dynamics do not see (checked below on a second,
    # independently drawn data set). We report the largest error and its trend in delta.
    errs = [e for r in res for e in r["rel_err"]]
    undone = any(e is None for e in errs)
    verdict, worst = _trend_rule(res, deltas, lambda r: r["rel_err"])
    (twin,) = _tasks(ctx, gb2_run, "GB-2", [dict(**base, lam=None, delta=8.0, eta=0.05)],
                     seed=ctx.seed + 1, version="_r2")
    first = next(r for r in res if r["delta"] == 8.0 and r["eta"] == 0.05) \
        if 8.0 in deltas and 0.05 in etas else None
    subs = [SubVerdict(
        "GB-2: learning step t_i vs (delta + 1/2 ln(s_i/(2 lam_i))) / ln(1 + eta s_i)",
        "undecided" if undone else verdict,
        f"PRE-REGISTERED (issue 14): the errors form a deterministic grid, so no CI: consistent "
        f"iff the largest |relative error| (formula - measured)/measured over all modes and eta "
        f"decreases strictly as delta increases over {list(deltas)} (the formula is asymptotic "
        f"in delta) and is <= {FORMULA_BAND} at the largest delta; undecided if a mode was never "
        "learned; inconsistent otherwise",
        measured={"by delta": worst, "largest |relative error| over the sweep":
                  max(abs(e) for e in errs if e is not None),
                  "n (modes x runs)": sum(e is not None for e in errs),
                  "second data set (seed + 1), delta=8, eta=0.05: learning steps":
                      {"first data set": first["tau"] if first else None,
                       "second data set": twin["tau"],
                       "identical": bool(first and first["tau"] == twin["tau"])},
                  "sweep": {"delta": list(deltas), "eta": list(etas)}},
        paper={"formula": "t_i ~ (delta + 1/2 ln(s_i/(2 lam_i))) / ln(1 + eta s_i) [derived]"},
        note="Rule history: until issue 14 the rule was a t-interval of the mean relative error "
             "over the 288 (delta, eta, mode) points, which are not samples.")]
    # Post hoc (added after the first full run, where the rule above failed at delta = 10:
    # 0.0562 against 0.0526 at delta = 8, from s = 3, eta = 0.2, t = 23 steps, where one step
    # is 4.3%): the same rule with the crossing measured to a fraction of a step. Secondary.
    def frac_err(r):
        return [None if t is None else float((p - t) / t) for p, t in zip(r["formula"], r["tau_frac"])]

    v_frac, w_frac = _trend_rule(res, deltas, frac_err)
    subs.append(SubVerdict(
        "GB-2 (secondary, post hoc): the same rule with the learning step to a fraction of a step",
        v_frac, "the pre-registered rule above with the measured learning step replaced by the "
                "crossing of s_i/(2 lam_i) interpolated log-linearly between the two steps around "
                "it (removes the 1-step rounding, up to 1/t_i of relative error); added after the "
                "full run, so not part of the verdict",
        measured={"by delta": w_frac, "delta x largest |relative error|": {
            k: (float(k.split("=")[1]) * v["max |relative error|"]
                if v["max |relative error|"] is not None else None) for k, v in w_frac.items()}},
        note="Added after the first full run (seed 0) failed the pre-registered rule by the "
             "integer rounding of a 23-step learning time; the pre-registered verdict stands.",
        secondary=True))
    order_ok = all(all(r["tau"][i] < r["tau"][i + 1] for i in range(len(s) - 1)) for r in res)
    subs.append(SubVerdict(
        "GB-2: modes learned in the order of s_i (whitened)",
        "consistent" if order_ok else "inconsistent",
        "consistent iff in every run the learning steps are strictly increasing in i for "
        "s_1 > s_2 > ...",
        measured={"learning steps, run delta=8 eta=0.05": next(
            (r["tau"] for r in res if r["delta"] == 8.0 and r["eta"] == 0.05), None)},
        paper={"statement": "modes are learned in the order of s_i"}))
    # Control for the trend rule: the flow-time formula delta / (eta s_i) (CLAIMS.md: "flow time
    # ~ delta/s_i") ignores ln(1 + eta s_i) < eta s_i; at eta s_i = 0.6 (eta = 0.2, s_1 = 3) it is
    # off by ~25% for every delta, so the same rule must reject it.

    def flow_err(r):
        return [None if t is None else float((r["delta"] / (r["eta"] * si) - t) / t)
                for si, t in zip(r["s"], r["tau"])]

    v_flow, w_flow = _trend_rule(res, deltas, flow_err)
    subs.append(SubVerdict(
        "control: the same rule on the flow-time formula delta / (eta s_i)",
        v_flow, "the pre-registered rule above with the continuous-time formula in place of the "
                "discrete one; it misses ln(1 + eta s_i) != eta s_i (25% at eta s_i = 0.6), an "
                "error that does not vanish with delta: it must be rejected (inconsistent)",
        measured={"by delta": w_flow}, control=True, expected="inconsistent"))
    # Non-whitened inputs (issue 6: show it, do not hide it).
    lam = CONTROL_LAM + (1.0,) * (len(s) - len(CONTROL_LAM))
    (nw,) = _tasks(ctx, gb2_run, "GB-2", [dict(**base, lam=lam, delta=8.0, eta=0.05)],
                   version="_r2")
    gd_order = list(np.argsort(nw["tau"]) + 1)
    rrr_order = list(np.argsort(-np.asarray(nw["rrr_sv"])) + 1)
    subs.append(SubVerdict(
        "control: non-whitened inputs (lam_1 = 4): GD order vs RRR order",
        "consistent" if gd_order == rrr_order else "inconsistent",
        "consistent iff the order in which GD learns the modes equals the order of the RRR "
        "singular values sigma_i(Syx Sx^{-1/2}) = s_i / sqrt(lam_i); with lam_1 = 4 they differ, "
        "so the comparison with RRR must be rejected",
        measured={"GD learning order (mode index)": gd_order,
                  "RRR order (mode index)": rrr_order,
                  "learning steps": nw["tau"], "formula with lam_i": nw["formula"],
                  "relative error of the formula with lam_i": nw["rel_err"]},
        control=True, expected="inconsistent",
        note="GD still learns in the order of s_i (and the formula, with lam_i, still applies), "
             "but the intermediate solutions are then not the RRR solutions."))
    fig, ax = new_figure(1, 2, width=5.0)
    for r in res:
        ax[0].scatter(r["formula"], r["tau"], s=10)
    lim = max(max(r["tau"]) for r in res)
    ax[0].plot([1, lim], [1, lim], "k--", lw=0.8)
    ax[0].set(xscale="log", yscale="log", xlabel="formula t_i", ylabel="measured t_i",
              title="GB-2: learning step of each mode")
    ax[1].plot(list(deltas), [w["max |relative error|"] for w in worst.values()], "o-",
               label="max |relative error|")
    ax[1].plot(list(deltas), [0.35 / dl for dl in deltas], "k:", lw=0.8, label="0.35 / delta")
    ax[1].axhline(FORMULA_BAND, color="0.6", ls="--", lw=0.8)
    ax[1].set(xlabel="delta", ylabel="max |relative error| (modes x eta)", yscale="log",
              title="GB-2 formula error vs delta")
    ax[1].legend(fontsize=7)
    figs = save_figure(fig, ctx.out, f"GB-2-{ctx.tier}")
    notes = []
    if ctx.quick:
        notes.append(f"QUICK TIER: {len(res)} runs (delta in {list(deltas)}, eta in "
                     f"{list(etas)}), {len(s)} modes.")
    return AuditOutcome(subs=tuple(subs), figures=figs,
                        params={"s": list(s), "deltas": list(deltas), "etas": list(etas),
                                "init": "aligned balanced, e^-delta per layer",
                                "band": FORMULA_BAND, "control lam": list(lam)},
                        notes=tuple(notes))
