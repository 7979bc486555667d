"""Run corpus cases through the CLI entry point ``verify.jobs.cli.main`` in long-lived workers.

One interpreter start per case (~1-2 s) would make 5,000 cases take hours; instead a few worker
processes import the CLI once and run cases in-process, each case with fresh files in a fresh
folder. Per case a worker measures the wall time, the CPU time and the peak resident memory (the
kernel's high-water mark VmHWM, reset before each case through /proc/self/clear_refs), catches any
exception that escapes ``main`` (a traceback), and watches for process starts and ``os.system``
(an audit hook: no user text may run anything). Each worker has an address-space limit
(``resource.RLIMIT_AS``) so a bomb fails inside it instead of exhausting the machine, and the parent
kills a worker whose case outlives the hang limit and starts a fresh one.

    python tests/fuzz/runner.py [--full] [--workers N]   # prints the outcome counts

The verdict rules (``problems``) are what ``tests/test_fuzz_cli.py`` asserts.
"""

from __future__ import annotations

import base64
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).with_name("corpus.jsonl")
#: Limits of the issue: exit 0, 1 or 2, no traceback, <= 5 s, <= 500 MB per case.
MAX_SECONDS = 5.0
MAX_MB = 500.0
#: Longest error line accepted (verify.errors.one_line cuts at 1,000 plus its prefix and marker).
MAX_LINE = 1100
#: A case still running after this long is a hang: its worker is killed (wall clock, generous for load).
HANG_SECONDS = 60.0
#: Address-space cap of a worker (a guard for the machine; the assertion is on the measured peak RSS).
WORKER_AS_BYTES = 3 << 30


def load(path: Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spec_bytes(spec) -> bytes:
    if isinstance(spec, str):
        return spec.encode("utf-8", "surrogatepass")
    if "b64" in spec:
        return base64.b64decode(spec["b64"])
    return "".join(text * count for text, count in spec["parts"]).encode("utf-8", "surrogatepass")


def _argv(case: dict, folder: Path) -> list[str]:
    spec = folder / "spec.toml"
    if "spec" in case:
        spec.write_bytes(spec_bytes(case["spec"]))
    afile = folder / "afile"
    afile.write_text("x")
    return [a.replace("{SPEC}", str(spec)).replace("{TMP}", str(folder)).replace("{FILE}", str(afile))
            for a in case["argv"]]


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


_STARTS: list[str] = []


def _audit(event: str, args) -> None:
    if event in ("os.system", "os.exec", "os.posix_spawn", "subprocess.Popen", "os.spawn"):
        _STARTS.append(event)


def _run_one(case: dict, main) -> dict:
    import sympy
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        folder = Path(tmp)
        argv = _argv(case, folder)
        out, err = io.StringIO(), io.StringIO()
        _STARTS.clear()
        _reset_peak()
        cpu0, t0 = time.process_time(), time.perf_counter()
        exc_text = ""
        cwd = os.getcwd()
        os.chdir(folder)  # a canary payload would write CANARY here
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main(argv)
        except SystemExit as exc:  # argparse's --help / --version
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
        except BaseException as exc:  # noqa: BLE001 - anything escaping main is a finding
            code, exc_text = -1, f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            os.chdir(cwd)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        canary = (folder / "CANARY").exists()
    sympy.core.cache.clear_cache()  # one case's caches must not count in the next one's memory
    return {"id": case["id"], "family": case["family"], "code": code, "wall": round(wall, 3), "cpu": round(cpu, 3),
            "mb": round(_peak_mb(), 1), "stderr": _clip(err.getvalue()), "stdout_chars": len(out.getvalue()),
            "exception": exc_text, "starts": list(_STARTS), "canary": canary}


def _clip(text: str) -> str:
    """stderr as recorded: whole up to 4,000 characters, else its head and tail (its length is kept
    visible: a clipped record is longer than any one line the rules accept)."""
    return text if len(text) <= 4000 else text[:2000] + f"\n[... {len(text) - 4000} characters ...]\n" + text[-2000:]


def worker() -> None:
    """Read cases (JSON lines) on stdin, write results on the original stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_AS_BYTES, WORKER_AS_BYTES))
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.addaudithook(_audit)
    from verify.jobs.cli import main
    channel.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        case = json.loads(line)
        try:
            result = _run_one(case, main)
        except MemoryError:
            result = {"id": case["id"], "family": case["family"], "code": -1, "wall": 0, "cpu": 0, "mb": _peak_mb(),
                      "stderr": "", "stdout_chars": 0, "exception": "MemoryError (outside main)", "starts": [],
                      "canary": False}
        channel.write(json.dumps(result) + "\n")


class _Worker:
    def __init__(self):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # ready

    def run(self, case: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t0 = time.perf_counter()
        reader.start()
        reader.join(HANG_SECONDS)
        if not box or not box[0]:
            self.proc.kill()
            self.proc.wait()
            self._close_pipes()
            return {"id": case["id"], "family": case["family"], "code": -9, "wall": time.perf_counter() - t0,
                    "cpu": float("nan"), "mb": float("nan"), "stderr": "", "stdout_chars": 0,
                    "exception": "hang" if not box else "worker died", "starts": [], "canary": False}
        return json.loads(box[0])

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        self._close_pipes()


def run_cases(cases: list[dict], workers: int = 2) -> list[dict]:
    """Results in corpus order; ``workers`` long-lived processes share the cases."""
    lock = threading.Lock()
    queue = list(enumerate(cases))
    results: list[dict | None] = [None] * len(cases)

    def serve():
        w = _Worker()
        while True:
            with lock:
                if not queue:
                    break
                k, case = queue.pop(0)
            results[k] = r = w.run(case)
            if r["code"] == -9:
                w = _Worker()
        w.close()

    threads = [threading.Thread(target=serve) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def problems(r: dict) -> list[str]:
    """What is wrong with one result (empty: the case passed)."""
    out = []
    if r["code"] not in (0, 1, 2):
        out.append(f"exit {r['code']} {r['exception']}")
    if "Traceback" in r["stderr"]:
        out.append("traceback on stderr")
    if r["code"] == 2:
        lines = r["stderr"].rstrip("\n").split("\n")
        if len(lines) != 1 or not lines[0].startswith("verify: error: "):
            out.append(f"not one error line: {r['stderr'][:200]!r}")
        elif any(not ch.isprintable() for ch in lines[0]):
            out.append(f"control characters in the error line: {lines[0][:200]!r}")
        elif len(lines[0]) > MAX_LINE:
            out.append(f"an error line of {len(lines[0])} characters: echoed input not cut")
    if not r["cpu"] <= MAX_SECONDS:  # CPU time: the machine's load does not inflate it
        out.append(f"{r['cpu']} s CPU")
    if not r["mb"] <= MAX_MB:
        out.append(f"{r['mb']} MB peak")
    if r["canary"] or "os.system" in r["starts"]:
        out.append("user text was executed")
    return out


def summary(results: list[dict]) -> str:
    codes = Counter(r["code"] for r in results)
    bad = [r for r in results if problems(r)]
    fams = Counter(r["family"] for r in results)
    return (f"{len(results)} cases: exit 0: {codes[0]}, exit 1: {codes[1]}, exit 2: {codes[2]}, other: "
            f"{len(results) - codes[0] - codes[1] - codes[2]}; failing: {len(bad)}; "
            f"max CPU {max(r['cpu'] for r in results):.2f} s, max wall {max(r['wall'] for r in results):.2f} s, "
            f"max peak {max(r['mb'] for r in results):.0f} MB; families: {dict(fams)}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
        sys.exit(0)
    t0 = time.perf_counter()
    cases = load()
    if "--family" in sys.argv:
        fam = sys.argv[sys.argv.index("--family") + 1]
        cases = [c for c in cases if c["family"] == fam]
    n = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 2
    results = run_cases(cases, n)
    for r in results:
        if problems(r):
            print(r["id"], problems(r), r["argv"] if "argv" in r else "", r["stderr"][-300:])
    print(summary(results), f"in {time.perf_counter() - t0:.1f} s")
    json.dump(results, open("/tmp/fuzz-results.json", "w"))
