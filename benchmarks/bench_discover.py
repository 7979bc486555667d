"""Benchmark of ``verify discover`` (issues 7 and 16). Prints measured figures against the stated limits.

Default: 50 random networks (seeded), depth 2-4 and widths 2-9, half deep linear and half ReLU:
  1. the certified count [lower, upper] (law search + proofs + upper bound), exact or not;
  2. the upper bound alone, limit 0.5 s per network; the proven basis, limit 5 s per network.
``--scale``: the upper bound on k-k-k nets up to D = 10^4 parameters, each size in its own process
(peak memory = that process's maximum resident set), limits 60 s and 2 GB at D ~ 10^4; the exponent
of time ~ D^a is a least-squares fit on log-log with a 95% confidence interval (t distribution).
``--crash-sizes``: the full discover (laws, proofs, count) on linear 16-16-16 and ReLU 12-12-12-12,
where the law search used to crash.

Run: python benchmarks/bench_discover.py [--n 50] [--seed 0] [--scale] [--crash-sizes]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

COUNT_LIMIT_S = 0.5  # issue 7: count <= 0.5 s per network
BASIS_LIMIT_S = 5.0  # issue 7: proven quadratic basis <= 5 s per network
SCALE_LIMIT_S = 60.0  # issue 16: D = 10^4 in <= 60 s
SCALE_LIMIT_MB = 2048.0  # ... and <= 2 GB


def networks(n: int, seed: int):
    from verify.model import mlp
    rng = np.random.default_rng(seed)
    for k in range(n):
        depth = int(rng.integers(2, 5))
        widths = tuple(int(w) for w in rng.integers(2, 10, size=depth + 1))
        yield mlp(widths, "identity" if k % 2 == 0 else "relu")


def random_nets(args) -> None:
    from verify.laws.discovery import discover
    from verify.laws.lie_rank import lie_rank, single_thread_blas
    tc, tb, exact = [], [], 0
    load0 = os.getloadavg()
    with single_thread_blas():
        for model in networks(args.n, args.seed):
            t0 = time.perf_counter()
            up = lie_rank(model, seed=args.seed)
            tc.append(time.perf_counter() - t0)
            r = discover(model, seed=args.seed)
            tb.append(r.seconds.get("laws", 0.0))
            exact += r.exact
            bounds = f"exactly {r.count}" if r.exact else f"[{r.lower}, {r.upper}]"
            print(f"{model.name:45s} D={r.state_dim:4d} {bounds:14s} upper alone {up.upper:4d} {tc[-1]:6.3f} s "
                  f"| laws {len(r.laws):4d} {tb[-1]:6.2f} s", flush=True)
    load1 = os.getloadavg()
    print(f"{len(tc)} networks, {exact} exact-certified; load average (1 min) before {load0[0]:.2f}, after "
          f"{load1[0]:.2f} on {os.cpu_count()} cores")
    for name, ts, limit in (("upper bound", tc, COUNT_LIMIT_S), ("proven basis", tb, BASIS_LIMIT_S)):
        med, worst = statistics.median(ts), max(ts)
        over = sum(t > limit for t in ts)
        print(f"{name}: median {med:.3f} s = {med / limit:.2f} x limit {limit} s; worst {worst:.3f} s = "
              f"{worst / limit:.2f} x limit; {over} of {len(ts)} over the limit")


def _family_lower_bound(activation: str, k: int, seed: int = 0) -> tuple[int, str]:
    """Lower bound from the catalog's generic proofs (widths symbolic, so valid at any k): DU-3
    (W1 W1^T - W2^T W2, k(k+1)/2 entries) for a linear k-k-k net, DU-1 (one per hidden unit) for ReLU;
    the number of functionally independent ones = rank of their gradients mod p at an integer point."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from proofs.du_hu_lee import du1_generic, du3_generic
    from verify.interpret.jets import MODP
    from verify.laws.modp import rank_mod_p
    verdict = du3_generic() if activation == "identity" else du1_generic()
    if verdict.verdict != "proven":
        return 0, f"{verdict.claim_id} generic proof: {verdict.verdict}"
    rng = np.random.default_rng([seed, 3])
    W1, W2 = (rng.integers(1, MODP.modulus, (k, k)).astype(float) for _ in range(2))
    pairs = [(a, b) for a in range(k) for b in range(a, k)] if activation == "identity" else [(a, a) for a in range(k)]
    rows = np.zeros((len(pairs), 2 * k * k))
    for r, (a, b) in enumerate(pairs):  # d/dW of sum_j W1[a,j] W1[b,j] - sum_i W2[i,a] W2[i,b]
        g1, g2 = np.zeros((k, k)), np.zeros((k, k))
        g1[a] += W1[b]
        g1[b] += W1[a]
        g2[:, a] -= W2[:, b]
        g2[:, b] -= W2[:, a]
        rows[r] = MODP.reduce(np.concatenate([g1.ravel(), g2.ravel()]))
    # The W1 columns alone (a column subset can only lower the rank, so this stays a proven lower
    # bound): S -> S W1 is injective on symmetric S for an invertible W1, and it is 4x less work.
    return rank_mod_p(rows[:, :k * k]), f"{verdict.claim_id} generic proof: proven"


def _one_size(activation: str, k: int) -> dict:
    """Child process: the certified count on a k-k-k net: lower bound from the generic DU-1 / DU-3
    proofs (the law search is quadratic in D and out of reach at D = 10^4), upper bound sampled."""
    import resource

    from verify.laws.lie_rank import lie_rank, single_thread_blas
    from verify.model import mlp
    t0 = time.perf_counter()
    with single_thread_blas():
        low, why = _family_lower_bound(activation, k)
    t1 = time.perf_counter()
    r = lie_rank(mlp((k, k, k), activation), lower_bound=low)
    t2 = time.perf_counter()
    return {"D": r.state_dim, "seconds": t2 - t0, "upper_seconds": t2 - t1, "lower_seconds": t1 - t0,
            "upper": r.upper, "lower": low, "why": why, "stop": r.stop,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "load": os.getloadavg()[0]}


def _fit(points) -> tuple[float, float, float]:
    """Slope of log t on log D with its 95% confidence interval (t distribution, n - 2 dof)."""
    x = np.log([p["D"] for p in points])
    y = np.log([p["seconds"] for p in points])
    n = len(x)
    A = np.vstack([x, np.ones(n)]).T
    coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    s2 = float(resid @ resid) / max(1, n - 2)
    se = math.sqrt(s2 / float(((x - x.mean()) ** 2).sum()))
    from scipy.stats import t as student
    q = float(student.ppf(0.975, max(1, n - 2)))
    return float(coef[0]), float(coef[0] - q * se), float(coef[0] + q * se)


def scale(args) -> None:
    sizes = {"identity": [20, 30, 40, 50, 60, 71], "relu": [20, 30, 40, 50, 60, 71]}
    for act, ks in sizes.items():
        pts = []
        for k in ks:
            code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                    f"from bench_discover import _one_size; print(json.dumps(_one_size({act!r}, {k})))")
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if run.returncode:
                print(f"{act} k={k}: failed: {run.stderr.strip().splitlines()[-1:]}")
                continue
            p = json.loads(run.stdout.strip().splitlines()[-1])
            pts.append(p)
            bounds = f"exactly {p['lower']}" if p["lower"] == p["upper"] else f"[{p['lower']}, {p['upper']}]"
            print(f"{act:8s} {k}-{k}-{k}: D = {p['D']:5d}, {bounds} ({p['why']}; lower {p['lower_seconds']:.1f} s, "
                  f"upper {p['upper_seconds']:.1f} s), {p['seconds']:7.2f} s = {p['seconds'] / SCALE_LIMIT_S:.2f} x 60 s, "
                  f"peak {p['peak_mb']:6.0f} MB = {p['peak_mb'] / SCALE_LIMIT_MB:.2f} x 2 GB, load {p['load']:.1f}",
                  flush=True)
        if len(pts) >= 3:
            a, lo, hi = _fit(pts)
            print(f"{act}: time ~ D^a with a = {a:.2f} (95% CI {lo:.2f} .. {hi:.2f}) over {len(pts)} sizes")


def crash_sizes(args) -> None:
    from verify.laws.discovery import discover
    from verify.model import mlp
    for widths, act in (((16, 16, 16), "identity"), ((12, 12, 12, 12), "relu")):
        t0 = time.perf_counter()
        r = discover(mlp(widths, act), seed=args.seed)
        print(f"{r.model}: {'exactly ' + str(r.count) if r.exact else [r.lower, r.upper]}, {len(r.laws)} proven laws, "
              f"{time.perf_counter() - t0:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in r.seconds.items())})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", action="store_true")
    ap.add_argument("--crash-sizes", action="store_true")
    args = ap.parse_args()
    if args.scale:
        scale(args)
    elif args.crash_sizes:
        crash_sizes(args)
    else:
        random_nets(args)


if __name__ == "__main__":
    main()
