"""The ``run_audit`` interface: registry, errors, JSON output, resume."""

from __future__ import annotations

import pytest

from verify.errors import BadInput, UnknownName
from verify._infra.atomic import read_json
from verify.numerics import AUDITS, result_path, run_audit


def test_audits_registry_covers_du_5_to_12():
    companion = {"JT-1", "JT-2", "JT-3", "JT-4", "JT-5", "GB-1", "GB-2", "WN-1"}
    assert set(AUDITS) == {f"DU-{i}" for i in range(5, 13)} | companion
    with pytest.raises(TypeError):
        AUDITS["DU-1"] = None  # read-only


def test_unknown_id_lists_closest(tmp_path):
    with pytest.raises(UnknownName, match="DU-10"):
        run_audit("DU-100", quick=True, out=tmp_path)


def test_identity_claim_points_to_prove(tmp_path):
    with pytest.raises(BadInput, match="verify prove DU-1"):
        run_audit("DU-1", quick=True, out=tmp_path)
    with pytest.raises(BadInput, match="workers"):
        run_audit("DU-6", quick=True, out=tmp_path, workers=0)


def test_du_6_report_json_written_atomically(tmp_path):
    rep = run_audit("du-6", quick=True, seed=1, out=tmp_path)  # ids are case-insensitive
    js = read_json(result_path(tmp_path, "DU-6", quick=True))
    assert js == rep.to_json()
    assert js["claim_id"] == "DU-6" and js["seed"] == 1 and js["quick"] is True
    assert set(js["versions"]) >= {"python", "numpy", "scipy"} and js["git_revision"]
    assert all(s["rule"] for s in js["subs"])
    assert (tmp_path / "DU-6-quick.md").read_text().startswith("## DU-6")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_du_10_sweep_resumes_from_disk(tmp_path):
    first = run_audit("DU-10", quick=True, seed=0, out=tmp_path)
    runs = sorted((tmp_path / "runs" / "DU-10-quick-seed0").glob("*.json"))
    assert len(runs) == 36  # 3 d x 4 seeds x 3 c_step
    # Simulate an interrupted sweep: drop two run files; only those two are recomputed and
    # every finished run file is left untouched (same mtime).
    runs[0].unlink()
    runs[1].unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in runs[2:]}
    second = run_audit("DU-10", quick=True, seed=0, out=tmp_path)
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    assert runs[0].exists() and runs[1].exists()
    assert [s.to_json()["measured"] for s in first.subs] == \
        [s.to_json()["measured"] for s in second.subs]
