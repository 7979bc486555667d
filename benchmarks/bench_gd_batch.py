"""Benchmark of the batch GD proofs (issue 14). Prints measured figures against the stated limits.

GD proofs now run on a batch of >= 2 data points (``verify.prove.batch``), so their residuals are larger
than the one-point residuals they replace.

1. Every GD task of the proof registry (DU-1gd, DU-3gd, JT-1 and EX-1 GD proofs and their
   controls) in one fresh process, inline: total seconds, against the 10 s limit of issue 3 for
   ``verify prove all`` as a whole.
2. The largest width w at which the concrete DU-3gd proof for the linear net w -> w -> w (batch of
   2 points, full matrix increment) finishes within 10 s, interpreter start included.

Run: python benchmarks/bench_gd_batch.py [--max-width N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench_prove import LIMIT_S, timed_child  # benchmarks/ is on sys.path when a script runs

_REGISTRY = """
import time
from verify.proofs.catalog import ALL_TASKS
t0 = time.perf_counter()
rows = []
for t in ALL_TASKS:
    if "gd" in t.key.lower():
        s = time.perf_counter(); v = t.run(); rows.append((t.key, v.verdict, t.expect, time.perf_counter() - s))
for key, verdict, expect, sec in rows:
    print(f"  {key:60.60s} {verdict:9s} (expected {expect:9s}) {sec:6.2f} s")
print("TOTAL", len(rows), sum(v == e for _, v, e, _ in rows), time.perf_counter() - t0)
"""

_DU3GD = """
import sys, time
from verify.model import mlp
from verify.proofs.du_hu_lee import MATRIX_GD, gd_claim
from verify.prove.concrete import prove_conserved
w = int(sys.argv[1]); t0 = time.perf_counter()
net = mlp((w, w, w), "identity")
q, inc = gd_claim(net, *MATRIX_GD)
v = prove_conserved(net, q, dynamics="gd", increment=inc, budget_ops=10**15)  # the engine itself, unbudgeted
print(v.verdict, time.perf_counter() - t0)
"""


def registry_gd() -> float:
    p = subprocess.run([sys.executable, "-c", _REGISTRY], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    lines = p.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    _, n, ok, total = lines[-1].split()
    print(f"GD tasks of the registry: {ok}/{n} as expected, {float(total):.2f} s inline; "
          f"limit {LIMIT_S:.0f} s (all of verify prove all); ratio {float(total) / LIMIT_S:.2f}")
    return float(total)


def du3gd_width(max_width: int) -> None:
    ok = []
    for w in range(1, max_width + 1):
        verdict, wall = timed_child(_DU3GD, w)
        print(f"  DU-3gd concrete, widths ({w},{w},{w}), batch of 2: {verdict:8s} {wall:6.2f} s  ratio {wall / LIMIT_S:.2f}")
        if verdict == "proven" and wall <= LIMIT_S:
            ok.append(w)
        if wall > LIMIT_S:
            break
    print(f"largest width with concrete DU-3gd proven within {LIMIT_S:.0f} s (interpreter start included): "
          f"{max(ok) if ok else 'none'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-width", type=int, default=8)
    args = ap.parse_args()
    registry_gd()
    du3gd_width(args.max_width)


if __name__ == "__main__":
    main()
