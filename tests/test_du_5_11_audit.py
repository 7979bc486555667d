"""DU-5 / DU-11 (Figure 1) and DU-6 along trajectories: quick audits."""

from __future__ import annotations

from pathlib import Path

import pytest

from verify.numerics import run_audit


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("du5")


def test_du_11_figure1_quick(out):
    rep = run_audit("DU-11", quick=True, seed=0, out=out)
    assert rep.verdict == "consistent"
    drift = next(s for s in rep.subs if "conserved" in s.name)
    assert drift.measured["max relative drift"] < 1e-2
    assert {Path(f).suffix for f in rep.figures} == {".png", ".svg"}
    assert all(Path(f).stat().st_size > 1000 for f in rep.figures)


def test_du_5_same_audit_as_du_11(out):
    rep = run_audit("DU-5", quick=True, seed=0, out=out)
    assert rep.claim_id == "DU-5" and rep.verdict == "consistent"
    assert rep.params["d1"] == rep.params["d2"]


def test_du_6_along_trajectories(out):
    rep = run_audit("DU-6", quick=True, seed=0, out=out)
    assert rep.verdict == "consistent"
    main, ctrl = rep.subs
    assert main.measured["largest discrepancy / allowed"] <= 1
    assert ctrl.control and ctrl.verdict == "inconsistent"
