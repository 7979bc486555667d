"""Issue 15: a stored run is reused only when it is the run asked for, intact; stale temp files
and orphaned workers do not outlive a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verify._infra.atomic import clean_stale_temps, write_text_atomic
from verify.jobs.cli import main
from verify.numerics import Task, run_file, run_tasks
from verify.numerics.run import result_path
from verify.numerics import sweep
from verify.numerics.sweep import RUN_SCHEMA, check_run_record, run_record


def _affine(x: int, seed: int, marker: str | None = None) -> dict:
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{x}\n")
    return {"x": x, "y": 3 * x + seed}


def _tasks(seed: int, marker=None) -> list[Task]:
    return [Task(f"r{x}", _affine, {"x": x, "seed": seed, **({"marker": str(marker)} if marker else {})})
            for x in range(4)]


def test_run_record_round_trip_and_controls():
    t = _tasks(0)[1]
    rec = run_record(t, {"x": 1, "y": 3})
    assert rec["schema"] == RUN_SCHEMA and check_run_record(t, rec) == ({"x": 1, "y": 3}, "")
    # negative controls: each change is refused with its reason
    assert check_run_record(_tasks(1)[1], rec)[1] == "parameters differ: seed"
    assert "run r1" in check_run_record(_tasks(0)[2], rec)[1]
    assert "digest" in check_run_record(t, {**rec, "result": {"x": 1, "y": 4}})[1]
    assert "schema" in check_run_record(t, {**rec, "schema": RUN_SCHEMA - 1})[1]
    assert check_run_record(t, {})[1] == "not a run record"
    forged = run_record(t, {"x": 1, "y": 3})
    forged["params"] = [1]
    forged["sha256"] = sweep._digest({k: forged[k] for k in ("schema", "key", "fn", "params", "result")})
    assert check_run_record(t, forged)[1] == "parameters are not an object"
    assert check_run_record(t, None)[1] == "not a run record"


def test_rerun_with_another_seed_equals_fresh_run(tmp_path, capsys):
    runs = tmp_path / "runs"
    run_tasks(_tasks(0), runs_dir=runs, desc="toy sweep")
    again = run_tasks(_tasks(1), runs_dir=runs, desc="toy sweep")
    fresh = run_tasks(_tasks(1), runs_dir=None)
    assert again.results == fresh.results and again.computed == 4 and again.reused == 0
    assert "toy sweep: 4 stored run(s)" in capsys.readouterr().err
    assert run_tasks(_tasks(1), runs_dir=runs).reused == 4  # the recomputed files are reusable


@pytest.mark.parametrize("damage", ["{}", "[]", "not json", '{"x": NaN}', "edit", "drop", "nan", "\udcff"])
def test_corrupt_run_file_is_recomputed_with_one_line(tmp_path, capsys, damage):
    runs = tmp_path / "runs"
    marker = tmp_path / "calls.txt"
    first = run_tasks(_tasks(0, marker), runs_dir=runs)
    path = run_file(runs, "r2")
    rec = json.loads(path.read_text())
    if damage == "edit":
        rec["result"]["y"] = 1000
        text = json.dumps(rec)
    elif damage == "drop":
        del rec["result"]["y"]
        text = json.dumps(rec)
    elif damage == "nan":
        rec["result"]["y"] = float("nan")
        text = json.dumps(rec)  # Python writes a bare NaN: not strict JSON
    else:
        text = damage
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    capsys.readouterr()
    second = run_tasks(_tasks(0, marker), runs_dir=runs)
    assert second.results == first.results and (second.reused, second.computed) == (3, 1)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "r2" in err and "recomputing" in err
    assert marker.read_text().split().count("2") == 2  # really recomputed


def test_du_10_audit_rerun_with_seed_1_equals_fresh_seed_1(tmp_path):
    """The reported defect: seed 1 over a seed-0 folder printed seed 0's slope."""
    shared, fresh = tmp_path / "shared", tmp_path / "fresh"
    assert main(["audit", "DU-10", "--quick", "--quiet", "--out", str(shared)]) in (0, 1)
    main(["audit", "DU-10", "--quick", "--quiet", "--seed", "1", "--out", str(shared)])
    main(["audit", "DU-10", "--quick", "--quiet", "--seed", "1", "--out", str(fresh)])
    got = [json.loads(result_path(d, "DU-10", True).read_text()) for d in (shared, fresh)]
    assert got[0]["seed"] == 1 and [s["measured"] for s in got[0]["subs"]] == [s["measured"] for s in got[1]["subs"]]
    seed0 = json.loads((shared / "runs" / "DU-10-quick-seed0" / os.listdir(shared / "runs" / "DU-10-quick-seed0")[0]).read_text())
    assert seed0["params"]["seed"] != json.loads(next((shared / "runs" / "DU-10-quick-seed1").glob("*.json")).read_text())["params"]["seed"]


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".r1.json.pid{dead}.abc123.tmp"
    stale.write_text("{")
    live = tmp_path / f".r2.json.pid{os.getppid()}.abc123.tmp"  # a live process: never touched
    live.write_text("{")
    other = tmp_path / ".notes.tmp"  # not ours: never touched
    other.write_text("x")
    write_text_atomic(tmp_path / "a.txt", "ok")
    assert clean_stale_temps(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


_ORPHAN = """
import sys, time
from verify._infra.pools import open_pool
with open_pool(workers=2) as pool:
    futs = [pool.submit(time.sleep, 60) for _ in range(2)]
    time.sleep(2)
    import multiprocessing
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(60)
"""


def _running(pid: int) -> bool:
    try:  # a zombie (state Z) has exited and only waits to be reaped
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed():
    with subprocess.Popen([sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, text=True) as proc:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert workers, "no worker processes started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if _running(p)]
    assert not alive, f"workers {alive} outlived their killed parent"
