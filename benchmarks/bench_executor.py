"""Issue 8 benchmarks: the DU-10 sweep on 1 vs 2 local processes, and on Dask vs local processes.

(b) speed-up of the full DU-10 sweep (the grid of ``verify audit DU-10``: 7 d x 10 seeds x 4 step
    sizes = 280 runs, timed for ``--sweeps`` base seeds) from 1 to 2 local workers; limit: >= 1.7x.
(c) the same sweep on a Dask ``LocalCluster`` (2 worker processes, 1 thread each, loopback) over
    the same sweep on 2 local processes; limit: <= 1.2x.

Both sides of each ratio are measured in this run: each repeat times serial, cold, warm and Dask
back to back, and the median over ``--repeats`` of the per-repeat ratios is reported (the ratio of
the medians beside it), because the machine is shared and its speed drifts by +-15% over a minute:
the load average is printed before and after. "warm" = executor already started and its workers have imported the package (what every
sweep after the first one of a command sees); "cold" adds starting the executor (what a single
``verify audit DU-10 --workers 2`` pays once). Results are kept in memory (no files), so disk
speed is not measured. Timings are never asserted in tests.

Usage: python benchmarks/bench_executor.py [--repeats 5] [--sweeps 3] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from verify.numerics.models.du_rank1 import rank1_run
from verify.numerics.context import seed_for
from verify._infra.pools import open_pool
from verify.numerics.sweep import Task, run_tasks

DS = (10, 30, 100, 300, 1000, 3000, 10000)  # the full tier of audit_du10
SEEDS = 10
C_STEPS = (0.05, 0.1, 0.2, 0.4)
LIMIT_SPEEDUP = 1.7
LIMIT_DASK_OVERHEAD = 1.2


def du10_tasks(sweeps: int = 1) -> list[Task]:
    """The full DU-10 grid for base seeds 0 .. sweeps-1 (one sweep is ~3 s in one process: too
    short to time on a shared machine, so the benchmark times several)."""
    return [Task(f"rank1_b{b}_d{d}_c{c:g}_s{s}", rank1_run, dict(d=d, seed=seed_for(b, "DU-10", d, s), c_step=c))
            for b in range(sweeps) for c in C_STEPS for d in DS for s in range(SEEDS)]


def timed(tasks, pool) -> float:
    t0 = time.perf_counter()
    run_tasks(tasks, runs_dir=None, pool=pool)
    return time.perf_counter() - t0


def warm(pool, tasks) -> None:
    # Every worker imports verify.numerics and runs once before timing (2 workers -> 4 small runs).
    run_tasks(tasks[:4], runs_dir=None, pool=pool)


def cold(tasks) -> float:
    """Start 2 local processes, run the sweep, shut them down (what one ``verify audit`` pays)."""
    t0 = time.perf_counter()
    with open_pool(workers=2) as pool:
        run_tasks(tasks, runs_dir=None, pool=pool)
    return time.perf_counter() - t0


def report(name: str, num: list[float], den: list[float], limit: float, at_least: bool) -> None:
    """Median of the per-repeat ratios num/den: both sides of a ratio ran back to back, so each
    ratio sees one machine state; the ratio of medians is printed beside it."""
    ratios = [a / b for a, b in zip(num, den)]
    r = statistics.median(ratios)
    ok = r >= limit if at_least else r <= limit
    print(f"{name}: {r:.2f}x (limit {'>=' if at_least else '<='} {limit}x, ratio to limit {r / limit:.2f}, "
          f"{'met' if ok else 'MISSED'}); per repeat {[round(x, 2) for x in ratios]}; ratio of medians "
          f"{statistics.median(num) / statistics.median(den):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sweeps", type=int, default=3, help="full DU-10 sweeps per timing (base seeds 0..K-1)")
    ap.add_argument("--no-dask", action="store_true", help="skip (c)")
    args = ap.parse_args()
    tasks = du10_tasks(args.sweeps)
    print(f"DU-10 full sweep x {args.sweeps} base seeds: {len(tasks)} runs; {os.cpu_count()} cores; load average before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    serial, cold2, warm2, dask2 = [], [], [], []
    cluster = dask_ctx = dask = None
    with open_pool(workers=2) as local:
        warm(local, tasks)
        if not args.no_dask:
            from distributed import LocalCluster
            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=":0")
            dask_ctx = open_pool(scheduler=cluster.scheduler_address)
            dask = dask_ctx.__enter__()
            warm(dask, tasks)
            print(f"Dask LocalCluster start + worker imports: {time.perf_counter() - t0:.1f} s")
        try:
            # One repeat = the four timings back to back; a warm pool idles while the others run.
            for _ in range(args.repeats):
                serial.append(timed(tasks, None))
                cold2.append(cold(tasks))
                warm2.append(timed(tasks, local))
                if dask is not None:
                    dask2.append(timed(tasks, dask))
        finally:
            if dask_ctx is not None:
                dask_ctx.__exit__(None, None, None)
                cluster.close()

    med = statistics.median
    print(f"medians of {args.repeats}: 1 worker (this process) {med(serial):.2f} s; 2 local processes warm "
          f"{med(warm2):.2f} s, cold (incl. start) {med(cold2):.2f} s"
          + (f"; Dask LocalCluster (2 x 1 thread) warm {med(dask2):.2f} s" if dask2 else ""))
    report("(b) speed-up 1 -> 2 workers, warm pool", serial, warm2, LIMIT_SPEEDUP, True)
    report("(b) speed-up 1 -> 2 workers, cold (incl. process start)", serial, cold2, LIMIT_SPEEDUP, True)
    if dask2:
        report("(c) Dask over local processes, both warm", dask2, warm2, LIMIT_DASK_OVERHEAD, False)
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("raw (s): serial", [round(x, 2) for x in serial], "cold2", [round(x, 2) for x in cold2],
          "warm2", [round(x, 2) for x in warm2], "dask2", [round(x, 2) for x in dask2])


if __name__ == "__main__":
    main()
