"""Benchmark: DU-12 GD iteration cost against the same matrix products alone (issue 5).

At the paper's sizes (1000 -> 100 -> 100 -> 10, m = 1,000) it measures, in one process:

* time per GD iteration of ``relu_net_gd`` (forward, backward, update, loss and the three
  squared norms recorded every iteration) and time per iteration of the 8 matrix products alone
  (``matmul_only_loop``), interleaved in several rounds; the ratio of the medians is printed
  against the stated limit 1.2x, for float64 and float32;
* the full 10,000-iteration wall time of one GD run (float64, ``--full``, balanced init);
* peak RSS of the process (``resource.getrusage``; Linux reports KiB).

It prints measured numbers only; it asserts nothing (timings are not tests).

On a loaded machine run it with ``OPENBLAS_NUM_THREADS=1``: OpenBLAS's busy-waiting threads
collapse when other processes hold the cores (we saw 191 ms per iteration instead of 7 ms).

Usage:
    python benchmarks/bench_du12_iteration.py            # ratios, ~1 minute
    python benchmarks/bench_du12_iteration.py --full     # + the 10,000-iteration run
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from verify.numerics.audits.du_12 import PAPER_M, PAPER_STEPS, PAPER_WIDTHS, _variances, du12_problem
from verify.numerics.models.du_relu_net import init_layers, matmul_only_loop, relu_net_gd

LIMIT = 1.2  # issue 5: GD iteration / matrix products alone <= 1.2x


def _ratio(dtype, steps: int, rounds: int) -> tuple[float, float, float]:
    X, Y = du12_problem(PAPER_WIDTHS, PAPER_M, 0, dtype=dtype)
    Ws = init_layers(PAPER_WIDTHS, _variances("balanced", PAPER_WIDTHS),
                     np.random.default_rng(1), dtype=dtype)
    relu_net_gd(Ws, X, Y, 0.03, 5)  # warm-up (BLAS thread pool, page faults)
    matmul_only_loop(Ws, X, 5)
    gd, mm = [], []
    for _ in range(rounds):  # interleave so drifts in machine load hit both alike
        gd.append(relu_net_gd(Ws, X, Y, 0.03, steps).wall_time_s / steps)
        mm.append(matmul_only_loop(Ws, X, steps) / steps)
    g, m = statistics.median(gd), statistics.median(mm)
    return g, m, g / m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="iterations per timing round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="also time a 10,000-iteration run")
    a = ap.parse_args()
    print(f"DU-12 at paper size: widths {PAPER_WIDTHS}, m={PAPER_M}; "
          f"{a.rounds} rounds x {a.steps} iterations, medians")
    for dtype in (np.float64, np.float32):
        g, m, r = _ratio(dtype, a.steps, a.rounds)
        print(f"{np.dtype(dtype).name:8s} GD iteration {g * 1e3:7.3f} ms | matrix products alone "
              f"{m * 1e3:7.3f} ms | ratio {r:.3f}x (limit {LIMIT}x: "
              f"{'within' if r <= LIMIT else 'ABOVE'})")
    if a.full:
        X, Y = du12_problem(PAPER_WIDTHS, PAPER_M, 0)
        Ws = init_layers(PAPER_WIDTHS, _variances("balanced", PAPER_WIDTHS),
                         np.random.default_rng(1))
        t0 = time.perf_counter()
        relu_net_gd(Ws, X, Y, 0.03, PAPER_STEPS)
        print(f"float64  full {PAPER_STEPS}-iteration run: {time.perf_counter() - t0:.1f} s wall")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
