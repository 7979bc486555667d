"""Benchmarks for the proof job (issue 3). Prints measured figures against the stated limits.

1. ``verify prove all`` (generic + concrete + controls), wall time including interpreter start,
   limit 10 s. Median of 3 fresh processes.
2. The largest width w at which the concrete DU-3 proof for the 2-layer linear net w -> w -> w
   (every entry symbolic, undefined loss, full matrix W1 W1^T - W2^T W2) finishes within 10 s.

Run: python benchmarks/bench_prove.py [--max-width N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

LIMIT_S = 10.0  # issue 3: "verify prove all ... <= 10 s of wall time"


def prove_all_wall(repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "verify", "prove", "all"], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise SystemExit(f"verify prove all exited {p.returncode}:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return times


_DU3 = """
import sys, time
from verify.model import mlp
from verify.proofs.du_hu_lee import matrix_balance
from verify.prove.concrete import prove_conserved
w = int(sys.argv[1]); t0 = time.perf_counter()
net = mlp((w, w, w), "identity")
# the benchmark times the engine itself: no budget refusal or CPU bound (verify.prove.cost) in the way
v = prove_conserved(net, matrix_balance(net), claim_id="DU-3", budget_ops=10**15)
print(v.verdict, time.perf_counter() - t0)
"""


def timed_child(code: str, width: int, timeout: float = 4 * LIMIT_S) -> tuple[str, float]:
    """(verdict printed by ``code`` run with argument ``width`` in a fresh interpreter, wall seconds
    including the interpreter's start): the figure the width limits are stated in."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", code, str(width)], capture_output=True, text=True, timeout=timeout)
        verdict = p.stdout.split()[0] if p.stdout else "error"
    except subprocess.TimeoutExpired:
        verdict = "timeout"
    return verdict, time.perf_counter() - t0


def du3_width(max_width: int) -> list[tuple[int, str, float]]:
    rows = []
    for w in range(1, max_width + 1):
        verdict, wall = timed_child(_DU3, w)
        rows.append((w, verdict, wall))
        print(f"  DU-3 concrete, widths ({w},{w},{w}): {verdict:8s} {wall:6.2f} s  ratio {wall / LIMIT_S:.2f}")
        if wall > LIMIT_S:
            break
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-width", type=int, default=12)
    args = ap.parse_args()
    times = prove_all_wall()
    med = statistics.median(times)
    print(f"verify prove all: median {med:.2f} s over {len(times)} runs {[round(t, 2) for t in times]}; "
          f"limit {LIMIT_S:.0f} s; ratio {med / LIMIT_S:.2f}")
    rows = du3_width(args.max_width)
    ok = [w for w, v, t in rows if v == "proven" and t <= LIMIT_S]
    print(f"largest width with concrete DU-3 (2-layer linear) proven within {LIMIT_S:.0f} s "
          f"(interpreter start included): {max(ok) if ok else 'none'}")


if __name__ == "__main__":
    main()
