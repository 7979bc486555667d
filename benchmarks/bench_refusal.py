"""Time to refusal for each bomb family of issue 15, in a fresh interpreter, interpreter start included.

Each bomb is run as ``python -m verify ...`` exactly as a user would; the figure is the wall time from
the process start to its exit, and the exit code and the first line of stderr are shown to prove it
was a refusal (exit 2, one line) and not a result. Target: <= 1 s each. A baseline, ``python -m verify
check`` of a spec with a syntax error (the interpreter, the imports and a one-line error), is measured
in the same run: on a loaded machine it is the floor under every figure.

    python benchmarks/bench_refusal.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 1.0
MLP = 'input = {i}\n[[layer]]\ntype = "dense"\nout = {h}\n[[layer]]\ntype = "activation"\nname = "relu"\n' \
      '[[layer]]\ntype = "dense"\nout = {o}\n'
BALANCE = "sum(W1[i,:]**2) - sum(W2[:,i]**2)"


def families(folder: Path) -> list[tuple[str, list[str]]]:
    def spec(name: str, text: str) -> str:
        path = folder / f"{name}.toml"
        path.write_text(text)
        return str(path)
    small = spec("small", MLP.format(i=3, h=4, o=2))
    one = '[[layer]]\ntype = "dense"\nout = 2\n[[layer]]\ntype = "activation"\n'
    return [
        ("baseline: spec syntax error", ["check", spec("broken", "input = = 3\n"), "--quantity", "W1"]),
        ("quantity norm(W1)**100 (degree cap)", ["check", small, "--quantity", "norm(W1)**100"]),
        ("quantity ((W1**8)**8)**8 (nested powers)", ["check", small, "--quantity", "((W1**8)**8)**8"]),
        ("quantity sum(W1)**1000000", ["check", small, "--quantity", "sum(W1)**1000000"]),
        ("quantity (balance)**32, symbolic expansion estimate",
         ["check", small, "--quantity", f"({BALANCE})**32", "--method", "symbolic"]),
        ("quantity sum(W1**2)**32 under GD", ["check", small, "--quantity", "sum(W1**2)**32", "--dynamics", "gd"]),
        ("matrix-product chain of degree 121", ["check", small, "--quantity", "W1" + " @ W1.T @ W1" * 60]),
        ("formula ((z**64)**64)**64", ["check", spec("f64", "input = 2\n" + one + 'formula = "((z**64)**64)**64"\n'),
                                       "--quantity", BALANCE]),
        ("formula z**64 through 3 layers (symbolic)",
         ["check", spec("f3", "input = 2\n" + (one + 'formula = "z**64"\n') * 3 + '[[layer]]\ntype = "dense"\nout = 1\n'),
          "--quantity", BALANCE, "--method", "symbolic"]),
        ("input = 65536, out = 65536", ["check", spec("huge", MLP.format(i=65536, h=65536, o=1)), "--quantity", BALANCE]),
        ("64-64-64 net, --method symbolic", ["check", spec("w64", MLP.format(i=64, h=64, o=64)), "--quantity", BALANCE,
                                              "--method", "symbolic"]),
        ("attention over 4096 tokens", ["check", spec("att", 'input = 8192\n[[layer]]\ntype = "attention"\ntokens = 4096\n'
                                                      '[[layer]]\ntype = "dense"\nout = 1\n'),
                                        "--quantity", "Wq1.T @ Wq1 - Wk1.T @ Wk1"]),
        ("conv1d padding = 10**9 (spec cap)", ["check", spec("pad", 'input = 3\n[[layer]]\ntype = "conv1d"\nkernel = 2\n'
                                                            'padding = 1000000000\n'), "--quantity", "v1"]),
        ("diagonal depth = 10**6 (spec cap)", ["check", spec("diag", 'input = 2\n[[layer]]\ntype = "diagonal"\n'
                                                            'depth = 1000000\n'), "--quantity", "u1"]),
        ("discover --degree 99", ["discover", small, "--degree", "99"]),
        ("discover --degree 4 on 20-20-5 (law search estimate)",
         ["discover", spec("d20", MLP.format(i=20, h=20, o=5)), "--degree", "4"]),
        ("discover --count on 200-200-5 (evaluation estimate)",
         ["discover", spec("d200", MLP.format(i=200, h=200, o=5)), "--count"]),
        ("--workers 1000", ["audit", "DU-10", "--quick", "--workers", "1000", "--out", str(folder / "out")]),
    ]


def timed(argv: list[str]) -> tuple[float, int, str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "verify", *argv], capture_output=True, text=True, env=env, timeout=120)
    return time.perf_counter() - t0, r.returncode, (r.stderr.strip().splitlines() or [""])[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per bomb; the median is reported")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of {args.repeat} runs")
    print(f"{'bomb':56s} {'time':>8s} {'ratio':>6s} {'- base':>7s}  exit  first line of stderr")
    worst, base = 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for label, argv in families(Path(tmp)):
            runs = [timed(argv) for _ in range(args.repeat)]
            t = statistics.median(r[0] for r in runs)
            code, line = runs[-1][1], runs[-1][2]
            if label.startswith("baseline"):
                base = t
            else:
                worst = max(worst, t)
            print(f"{label:56s} {t:7.2f}s {t / LIMIT_S:6.2f} {t - base:6.2f}s  {code:4d}  {line[:100]}")
    print(f"slowest refusal {worst:.2f} s; ratio against {LIMIT_S:g} s: {worst / LIMIT_S:.2f}; the baseline (interpreter, "
          f"imports, a one-line error) {base:.2f} s; '- base' is the time the estimate itself adds")


if __name__ == "__main__":
    main()
