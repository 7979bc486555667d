"""Benchmark of ``verify discover`` (issue 7). Prints measured figures against the stated limits.

50 random networks (seeded), depth 2-4 and widths 2-9, half deep linear and half ReLU:
  1. the count D - dim Lie(W)(theta), limit 0.5 s per network;
  2. the proven quadratic basis (search + symbolic proof of every law), limit 5 s per network.
Median and worst case, as ratios against the limits (ratio <= 1 meets the target).

Run: python benchmarks/bench_discover.py [--n 50] [--seed 0] [--skip-basis]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from verify.laws.search import find_laws
from verify.laws.lie_rank import lie_rank
from verify.model import mlp

COUNT_LIMIT_S = 0.5  # issue 7: count <= 0.5 s per network
BASIS_LIMIT_S = 5.0  # issue 7: proven quadratic basis <= 5 s per network


def networks(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for k in range(n):
        depth = int(rng.integers(2, 5))
        widths = tuple(int(w) for w in rng.integers(2, 10, size=depth + 1))
        yield mlp(widths, "identity" if k % 2 == 0 else "relu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-basis", action="store_true")
    args = ap.parse_args()
    tc, tb, gaps = [], [], []
    load0 = os.getloadavg()
    for model in networks(args.n, args.seed):
        t0 = time.perf_counter()
        r = lie_rank(model, seed=args.seed)
        tc.append(time.perf_counter() - t0)
        gaps.append(min(h.gap for h in r.history))
        line = (f"{model.name:45s} D={r.state_dim:4d} count={r.count:4d}{'' if r.converged else '?'} "
                f"{tc[-1]:6.3f} s (min gap {gaps[-1]:.1e}, {len(r.region.patterns) or '-'} patterns)")
        if not args.skip_basis:
            t0 = time.perf_counter()
            s = find_laws(model, degree=2, seed=args.seed)
            tb.append(time.perf_counter() - t0)
            line += (f" | laws={len(s.laws):4d} {tb[-1]:6.2f} s (search {s.seconds_search:.2f}, "
                     f"proof {s.seconds_proof:.2f})" + (f" dropped {len(s.dropped)}" if s.dropped else ""))
        print(line, flush=True)
    load1 = os.getloadavg()
    print(f"{len(tc)} networks; load average (1, 5, 15 min) before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} on {os.cpu_count()} cores; smallest rank gap "
          f"{min(gaps):.1e}")
    for name, ts, limit in (("count", tc, COUNT_LIMIT_S), ("proven basis", tb, BASIS_LIMIT_S)):
        if ts:
            med, worst = statistics.median(ts), max(ts)
            over = sum(t > limit for t in ts)
            print(f"{name}: median {med:.3f} s = {med / limit:.2f} x limit {limit} s; "
                  f"worst {worst:.3f} s = {worst / limit:.2f} x limit; {over} of {len(ts)} over the limit")


if __name__ == "__main__":
    main()
