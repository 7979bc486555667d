"""Issue 8: sweeps on a Dask cluster give the same runs, bit for bit, as local processes, and resume
the same way (a finished run is read back from disk, never recomputed).

The cluster is a real ``distributed.LocalCluster`` (2 worker processes, one thread each) on
loopback; the sweep is a small DU-10 rank-1 sweep (the same run function and seeds as
``verify audit DU-10``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: pip install -e '.[dask]'")

from verify.jobs.cli import main  # noqa: E402
from verify.numerics.models.du_rank1 import rank1_run  # noqa: E402
from verify.numerics.context import seed_for  # noqa: E402
from verify._infra.pools import describe_pool, open_pool  # noqa: E402
from verify.numerics.sweep import Task, run_file, run_tasks  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    # dashboard_address=":0": any free port; the default 8787 warns (an error here) when it is busy.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def pools(cluster):
    """One executor of each kind, shared by the tests (starting them is the slow part)."""
    with open_pool(workers=2) as local, open_pool(scheduler=cluster) as dask:
        yield {"local": local, "dask": dask}


def _du10_tasks(seed: int = 0):
    # A DU-10 sweep in miniature: d x seeds at the audit's step size, seeds derived as in the audit.
    return [Task(f"rank1_d{d}_c0.1_s{s}", rank1_run, dict(d=d, seed=seed_for(seed, "DU-10", d, s), c_step=0.1))
            for d in (10, 100) for s in range(3)]


def test_du_10_sweep_on_dask_equals_local_processes_bit_for_bit(pools, tmp_path):
    tasks = _du10_tasks()
    got = {name: run_tasks(tasks, runs_dir=tmp_path / name, pool=pool) for name, pool in pools.items()}
    assert "Dask scheduler" in describe_pool(pools["dask"]) and "local processes" in describe_pool(pools["local"])
    for res in got.values():
        assert res.computed == len(tasks) and res.reused == 0
    # Same floats, not just close ones: compare the parsed results and the bytes on disk.
    assert got["dask"].results == got["local"].results
    for t in tasks:
        assert run_file(tmp_path / "dask", t.key).read_bytes() == run_file(tmp_path / "local", t.key).read_bytes()
    # A control: another seed gives other numbers, so the equality above is not vacuous.
    other = run_tasks(_du10_tasks(seed=1)[:1], runs_dir=None, pool=pools["dask"])
    assert other.results[0]["log10_error"] != got["dask"].results[0]["log10_error"]


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_du_10_sweep_resumes_without_recomputing(pools, tmp_path, kind):
    tasks = _du10_tasks()
    runs = tmp_path / "runs"
    first = run_tasks(tasks[:4], runs_dir=runs, pool=pools[kind])  # "interrupted" after 4 of 6 runs
    assert first.computed == 4
    # A recomputed run would be rewritten: the files of the 4 finished runs must keep their stamps.
    before = {t.key: os.stat(run_file(runs, t.key)).st_mtime_ns for t in tasks[:4]}
    second = run_tasks(tasks, runs_dir=runs, pool=pools[kind])
    assert (second.reused, second.computed) == (4, 2)
    assert second.results[:4] == first.results
    assert {t.key: os.stat(run_file(runs, t.key)).st_mtime_ns for t in tasks[:4]} == before
    third = run_tasks(tasks, runs_dir=runs, pool=pools[kind])
    assert (third.reused, third.computed) == (6, 0) and third.results == second.results


def test_du_10_audit_cli_with_scheduler_matches_local_and_resumes(cluster, tmp_path, capsys):
    dask_out, local_out = tmp_path / "dask", tmp_path / "local"
    code = main(["audit", "DU-10", "--quick", "--scheduler", cluster, "--out", str(dask_out), "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code == (0 if rep["verdict"] == "consistent" else 1)
    main(["audit", "DU-10", "--quick", "--out", str(local_out), "--json"])
    capsys.readouterr()
    files = sorted(p.relative_to(dask_out / "runs") for p in (dask_out / "runs").rglob("*.json"))
    assert len(files) == 36  # 3 d x 4 seeds x 3 step sizes (the quick grid)
    assert files == sorted(p.relative_to(local_out / "runs") for p in (local_out / "runs").rglob("*.json"))
    for f in files:
        assert (dask_out / "runs" / f).read_bytes() == (local_out / "runs" / f).read_bytes(), f
    # Resume through the CLI: nothing is recomputed (no run file rewritten), same verdict.
    stamps = {f: os.stat(dask_out / "runs" / f).st_mtime_ns for f in files}
    assert main(["audit", "DU-10", "--quick", "--scheduler", cluster, "--out", str(dask_out), "--json"]) == code
    assert json.loads(capsys.readouterr().out)["verdict"] == rep["verdict"]
    assert {f: os.stat(dask_out / "runs" / f).st_mtime_ns for f in files} == stamps


def test_scheduler_and_workers_together_is_bad_input(cluster, capsys):
    assert main(["audit", "DU-10", "--quick", "--workers", "2", "--scheduler", cluster]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--scheduler" in err and "Traceback" not in err


@pytest.mark.parametrize("address, needle", [("no-port-here", "missing port"),
                                             ("tcp://127.0.0.1:1", "Cannot reach a Dask scheduler")])
def test_bad_scheduler_address_is_one_line_exit_2(address, needle, capsys, tmp_path):
    assert main(["all", "--scheduler", address, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not Path(tmp_path / "index.html").exists()


def test_verify_all_on_dask_runs_proof_claims_and_du_10_sweep(cluster, tmp_path):
    from verify.jobs.report import run_all, write_report
    recs = run_all(out=tmp_path, ids={"EX-2", "DU-10"}, scheduler=cluster)
    got = {r.id: r for r in recs}
    assert got["EX-2"].verdict == "proven"  # computed on a Dask worker, pickled back
    assert got["DU-10"].verdict in ("consistent", "inconsistent")
    assert len(list((tmp_path / "audits" / "runs" / "DU-10-quick-seed0").glob("*.json"))) == 36
    paths = write_report(recs, tmp_path, seed=0, full=False, executor=f"Dask scheduler {cluster}")
    assert json.loads(paths["json"].read_text())["header"]["executor"] == f"Dask scheduler {cluster}"


def test_prove_on_dask_gives_the_local_verdicts_and_negative_controls(cluster, capsys):
    # DU-1 (generic + concrete proofs) and DU-3 (with its refuted negative controls) on the cluster.
    args = ["prove", "DU-1", "DU-3", "--json"]
    assert main(args + ["--workers", "1"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(args + ["--scheduler", cluster]) == 0
    dask = json.loads(capsys.readouterr().out)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in local]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in dask] == strip
    assert {r["verdict"] for r in dask} == {"proven", "refuted"} and all(r["as_expected"] for r in dask)
