"""Issue 8 without a cluster: one executor for proofs and sweeps, the error when Dask is missing,
and progress output (claim id, runs done / total, time left; silent off a terminal)."""

from __future__ import annotations

import io
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from verify.jobs.cli import main
from verify._infra import pools
from verify.numerics import sweep as executor


class _FakeTTY(io.StringIO):
    """A stderr that claims to be a terminal, so the CLI's progress bars turn on."""

    def isatty(self):
        return True


def test_scheduler_without_dask_installed_says_pip_install_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["audit", "DU-10", "--quick", "--scheduler", "tcp://127.0.0.1:8786", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "pip install -e .[dask]" in err


def test_du_10_audit_is_silent_on_stderr_when_not_a_terminal(capsys, tmp_path):
    # capsys's stderr is not a TTY: no progress bar may appear, with or without --quiet.
    main(["audit", "DU-10", "--quick", "--out", str(tmp_path)])
    assert capsys.readouterr().err == ""


def test_du_10_audit_progress_names_claim_counts_and_time_left(monkeypatch, capsys, tmp_path):
    fake = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    main(["audit", "DU-10", "--quick", "--out", str(tmp_path / "a")])
    text = fake.getvalue()
    assert "DU-10 sweep" in text
    done = [int(n) for n in re.findall(r"\b(\d+)/36\b", text)]  # quick grid: 3 d x 4 seeds x 3 steps
    assert done[0] == 0 and max(done) > 0  # runs done / total, counting up
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", text)  # elapsed < time left
    quiet = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", quiet)
    main(["audit", "DU-10", "--quick", "--out", str(tmp_path / "b"), "--quiet"])
    assert quiet.getvalue() == ""


def test_verify_all_progress_shows_current_claim_and_claim_counts(monkeypatch, tmp_path):
    from verify.jobs.report import run_all
    fake = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    recs = run_all(out=tmp_path, ids={"EX-2", "DU-10"}, progress=True)
    assert [r.id for r in recs] == ["DU-10", "EX-2"]
    text = fake.getvalue()
    assert re.search(r"verify all: .*\b2/2\b", text) and "DU-10" in text and "EX-2" in text


class _RecordingPool:
    """A thread pool that remembers what was submitted (stands in for the process pool)."""

    def __init__(self):
        self.submitted = []
        self._ex = ThreadPoolExecutor(2)

    def submit(self, fn, *args, **kwargs):
        if fn is executor._call_many:  # a chunk of sweep runs
            self.submitted += [job_fn.__name__ for job_fn, _ in args[0]]
        else:
            self.submitted.append(fn.__name__)
        return self._ex.submit(fn, *args, **kwargs)

    def shutdown(self):
        self._ex.shutdown(wait=True)


def test_verify_all_workers_sends_proofs_and_du_10_sweep_to_the_pool(monkeypatch, tmp_path):
    from contextlib import contextmanager

    from verify.jobs.report import run_all
    pool = _RecordingPool()
    asked = {}

    @contextmanager
    def fake_open_pool(*, workers=1, scheduler=None):
        asked.update(workers=workers, scheduler=scheduler)
        yield pool
        pool.shutdown()

    monkeypatch.setattr(pools, "open_pool", fake_open_pool)
    recs = run_all(out=tmp_path, ids={"DU-3", "DU-10"}, workers=2)
    assert asked == {"workers": 2, "scheduler": None}
    assert pool.submitted.count("_proof_record") == 1  # the DU-3 proofs and property check
    assert pool.submitted.count("rank1_run") == 36  # every run of the DU-10 quick sweep
    assert {r.id: r.verdict for r in recs}["DU-3"] == "proven"


def test_workers_below_one_is_bad_input(capsys):
    assert main(["all", "--workers", "0", "--quiet"]) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(Exception, match="workers >= 1"):
        with pools.open_pool(workers=0):
            pass


def _fails_at_11(x: int) -> dict:
    if x == 11:
        raise ValueError("run 11 failed")
    return {"x": x}


def test_failing_run_keeps_finished_runs_of_its_chunk_and_raises(tmp_path):
    tasks = [executor.Task(f"r{x}", _fails_at_11, {"x": x}) for x in range(20)]
    with ThreadPoolExecutor(1) as pool:  # 1 slot -> 8 strided chunks; run 11 shares one with 3 and 19
        assert [t.key for t in executor._chunks(tasks, pools.pool_slots(pool))[3]] == ["r3", "r11", "r19"]
        with pytest.raises(ValueError, match="run 11 failed"):
            executor.run_tasks(tasks, runs_dir=tmp_path, pool=pool)
    assert executor.run_file(tmp_path, "r3").exists()  # finished before the failure: kept
    assert not executor.run_file(tmp_path, "r11").exists() and not executor.run_file(tmp_path, "r19").exists()


def test_du_10_worker_imports_numpy_only_and_package_api_stays_callable():
    # A spawned sweep worker imports the run function's module: it must not pull in SymPy, SciPy's
    # statistics or matplotlib (they cost ~2 s per worker, more than a whole DU-10 sweep).
    import subprocess
    code = ("import sys, verify.numerics.models.du_rank1, verify.numerics.sweep\n"
            "heavy = [m for m in ('sympy', 'scipy.stats', 'matplotlib') if m in sys.modules]\n"
            "import verify, verify.testing.checking, verify.laws.discovery\n"
            "print(heavy, callable(verify.check), callable(verify.discover), verify.check.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "True", "True", "verify.testing.checking"]
    # The control: the audit itself (fits and figures) does import them.
    code = "import sys, verify.numerics.audits.du_10; print('scipy.stats' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
