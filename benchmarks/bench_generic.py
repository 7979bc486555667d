"""Benchmark of the generic proofs of user specs (issue 18): every row of the README's example table.

For each (spec, quantity) row a fresh process (imports done, nothing cached, as a CLI run) times the
concrete check (``check``, the default route) and then the generic proof (``generic_proof``: building
the generic model, SymPy's matrix calculus, the rules and the normal form); the generic time is
printed against the issue's limit of 2 s with the ratio, beside the median of ``REPEATS`` further runs
in that process (SymPy's caches warm). A proven concrete check without ``--generic`` now also runs the
generic proof, so the last line gives (concrete + generic) / concrete over the proven rows, both
first runs of the same processes. Timings are never asserted in tests; run
``python benchmarks/bench_generic.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 2.0
REPEATS = 3


def rows() -> list[tuple[str, str]]:
    """(spec, quantity) of the README's example table, read by the test that checks its --generic column."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_generic_readme import readme_rows
    return [(spec, quantity) for spec, quantity, _, _ in readme_rows()]


_CHILD = """
import json, statistics, sys, time
from verify.lang.spec import load_spec
from verify.testing.checking import check
from verify.testing.generic_check import generic_proof
model = load_spec(sys.argv[1])
t0 = time.perf_counter(); v = check(model, sys.argv[2]); tc = time.perf_counter() - t0
t0 = time.perf_counter(); g = generic_proof(model, sys.argv[2]); tg = time.perf_counter() - t0
warm = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); generic_proof(model, sys.argv[2]); warm.append(time.perf_counter() - t0)
print(json.dumps([v.verdict, g.proven, tc, tg, statistics.median(warm)]))
"""


def main() -> None:
    print(f"load average at the start: {os.getloadavg()[0]:.2f}; first runs in a fresh process each; "
          f"warm: median of {REPEATS}; limit {LIMIT_S} s")
    print(f"{'spec':20s} {'quantity':44s} {'concrete':>8s} {'generic':>8s} {'ratio':>6s} {'warm':>7s} outcome")
    worst = total_generic = total_concrete = 0.0
    for spec, quantity in rows():
        out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT / "examples" / f"{spec}.toml"), quantity,
                              str(REPEATS)], capture_output=True, text=True, timeout=600)
        verdict, proven, tc, tg, warm = json.loads(out.stdout.strip().splitlines()[-1])
        worst = max(worst, tg)
        if verdict == "proven":
            total_generic, total_concrete = total_generic + tg, total_concrete + tc
        print(f"{spec:20s} {quantity[:44]:44s} {tc:7.3f}s {tg:7.3f}s {tg / LIMIT_S:6.3f} {warm:6.3f}s "
              f"{'proven' if proven else 'no generic proof'} (concrete: {verdict})")
    print(f"\nslowest generic proof (first run): {worst:.3f} s, ratio {worst / LIMIT_S:.3f} of the {LIMIT_S} s limit")
    print(f"proven rows, default check (concrete + generic) / concrete alone: "
          f"{(total_concrete + total_generic) / total_concrete:.2f}x ({total_concrete:.2f} s -> "
          f"{total_concrete + total_generic:.2f} s summed over the rows)")


if __name__ == "__main__":
    main()
