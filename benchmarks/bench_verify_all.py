"""Issue 8 benchmark (a): wall time of ``verify all`` (quick tier; optionally ``--full``).

Runs the real command in a subprocess (interpreter start included), ``--workers 1`` and
``--workers 2`` interleaved, each into a fresh output folder (nothing resumed), and prints the
wall times, the speed-up and the load average before and after (the machine is shared). The quick
tier has no stated limit; its speed-up is printed for information. ``--full`` runs
``verify all --full --workers 2`` once (about 10 minutes) and prints its wall time and its
slowest claim against the 10-minute limit per full audit (no limit is stated for the whole run).

Usage: python benchmarks/bench_verify_all.py [--repeats 2] [--full] [--keep DIR]
       python benchmarks/bench_verify_all.py --repeats 0 --full   (only the full tier)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: README: every full audit must finish within 10 minutes (the companion-audit limit).
AUDIT_LIMIT_S = 600.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: list[str], out: Path) -> tuple[float, int, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "verify", "all", "--quiet", "--out", str(out), *args],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"verify all {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    records = json.loads((out / "results.json").read_text())["claims"]
    return wall, proc.returncode, {r["id"]: (r["verdict"], r["seconds"]) for r in records}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="also time 'verify all --full --workers 2' (long)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the output folders here")
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="bench-verify-all-"))
    print(f"{os.cpu_count()} cores; load average before {load()}")
    times = {1: [], 2: []}
    verdicts = {}
    for i in range(args.repeats):
        for w in (1, 2):
            out = base / f"quick-w{w}-{i}"
            shutil.rmtree(out, ignore_errors=True)
            wall, code, recs = run(["--workers", str(w)], out)
            times[w].append(wall)
            verdicts[w] = {k: v[0] for k, v in recs.items()}
            print(f"  quick tier, --workers {w}: {wall:.1f} s (exit {code}); load average {load()}")
    if args.repeats > 0:  # --repeats 0 --full: only the full tier
        assert verdicts[1] == verdicts[2], "verdicts differ between 1 and 2 workers"
        m1, m2 = statistics.median(times[1]), statistics.median(times[2])
        print(f"(a) verify all quick tier: 1 worker {m1:.1f} s, 2 workers {m2:.1f} s "
              f"[median of {args.repeats}]: speed-up {m1 / m2:.2f}x; same verdicts on every claim")
    if args.full:
        out = base / "full-w2"
        shutil.rmtree(out, ignore_errors=True)
        wall, code, recs = run(["--full", "--workers", "2"], out)
        audits = [k for k, (v, s) in recs.items() if v not in ("proven", "not run") or s > 5]
        slowest = sorted(recs.items(), key=lambda kv: -kv[1][1])[:5]
        # No limit is stated for the whole command; for scale, the README's limit per full audit.
        print(f"(a) verify all --full --workers 2: {wall:.0f} s (exit {code}) = {wall / 60:.1f} min for "
              f"{len(audits)} audits + the proofs; slowest claim {slowest[0][1][1]:.0f} s = "
              f"{slowest[0][1][1] / AUDIT_LIMIT_S:.2f} of the {AUDIT_LIMIT_S:.0f} s per-audit limit")
        print("    slowest claims: " + ", ".join(f"{k} {s:.0f} s ({v})" for k, (v, s) in slowest))
    print(f"load average after {load()}; outputs in {base}")


if __name__ == "__main__":
    main()
