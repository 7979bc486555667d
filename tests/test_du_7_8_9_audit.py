"""DU-7 (Thm 3.1), DU-8 (Lemma 3.1), DU-9 (Lemma 3.2): quick audits share one set of runs."""

from __future__ import annotations

import pytest

from verify.numerics import run_audit


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("du789")


def test_du_8_bound_quick(out):
    rep = run_audit("DU-8", quick=True, seed=0, out=out)
    assert rep.verdict == "consistent"
    parts = [s for s in rep.subs if not s.control]
    assert len(parts) == 10  # 5 parts x 2 schedules
    assert all(s.measured["runs"] >= 40 for s in parts)  # 2 configs x 20 seeds
    ctrl = {s.expected: s for s in rep.subs if s.control}
    assert ctrl["inconsistent"].control_ok and ctrl["divergent"].control_ok
    assert "Lower the step size" in ctrl["divergent"].measured["message"]


def test_du_7_convergence_quick(out):
    rep = run_audit("DU-7", quick=True, seed=0, out=out)
    fn11, exact = rep.subs
    assert fn11.verdict == "consistent"
    assert fn11.measured["final error / eps (max)"] <= 1
    # The exact Thm 3.1 schedule is reported as impractical, not silently shortened.
    assert exact.verdict == "undecided" and rep.verdict == "undecided"
    assert exact.measured["estimated log10(steps to eps), min"] > 6


def test_du_9_saddles_quick(out):
    rep = run_audit("DU-9", quick=True, seed=0, out=out)
    assert rep.verdict == "consistent"
    main, hess, ctrl = rep.subs
    assert main.measured["largest lambda_min at saddles"] < -1e-3
    assert main.measured["max gradient norm at saddles"] < 1e-12
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok
