"""Benchmark of the companion audits (issue 6): wall time and peak memory of each full audit.

Each audit runs in a fresh Python process, in a fresh output folder (no resumed runs: the worst
case), with ``--workers`` local processes. Printed against the 10-minute limit of issue 6.
Peak memory is ``ru_maxrss``: of the audit process itself, and of the largest of its worker
processes (``RUSAGE_CHILDREN`` reports the largest child, not a sum).

Run: python benchmarks/bench_companion_audits.py [--quick] [--workers 2] [--only JT-4 GB-2 ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 600.0  # issue 6: "Keep each full audit under 10 minutes on this 2-core machine"

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from verify.numerics.run import run_audit
cid, quick, workers, out = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), Path(sys.argv[4])
t0 = time.perf_counter()
rep = run_audit(cid, quick=quick, seed=0, out=out, workers=workers)
wall = time.perf_counter() - t0
print(json.dumps({"verdict": rep.verdict, "wall_s": wall,
                  "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "child_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "subs": [[s.name, s.verdict] for s in rep.subs]}))
"""


def main(argv=None) -> int:
    from verify.claims import CLAIMS
    companion = [c.id for c in CLAIMS.values() if c.audit and c.id[:2] in ("JT", "GB", "WN")]

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="time the quick tier instead")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=companion)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--out", help="keep each audit's results and figures under this folder "
                                  "(a fresh sub-folder per audit; default: a deleted temp folder)")
    args = ap.parse_args(argv)
    rows, worst = [], 0
    print(f"{'audit':6} {'tier':5} {'verdict':13} {'wall s':>8} {'limit s':>8} {'self MB':>8} "
          f"{'worker MB':>9}  within limit")
    for cid in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            out = tmp if args.out is None else str(Path(args.out) / cid)
            if args.out is not None and Path(out).exists():
                raise SystemExit(f"{out} exists; the benchmark times fresh runs, so give a new "
                                 "--out folder.")
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", _CHILD, cid, "1" if args.quick else "0",
                                str(args.workers), out], capture_output=True, text=True)
            total = time.perf_counter() - t0
        if p.returncode != 0:
            print(f"{cid}: FAILED ({p.returncode})\n{p.stderr[-2000:]}")
            worst = 1
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r.update(claim=cid, process_wall_s=total, quick=args.quick, workers=args.workers)
        rows.append(r)
        ok = total <= LIMIT_S
        worst |= not ok
        print(f"{cid:6} {'quick' if args.quick else 'full':5} {r['verdict']:13} {total:8.1f} "
              f"{LIMIT_S:8.0f} {r['self_maxrss_mb']:8.0f} {r['child_maxrss_mb']:9.0f}  "
              f"{'yes' if ok else 'NO'}")
    if args.json:
        from verify._infra.atomic import write_json_atomic
        write_json_atomic(Path(args.json), rows)
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
