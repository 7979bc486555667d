"""DU-10 (Thm 3.2): quick audit verdicts, the measured rate, and the negative controls."""

from __future__ import annotations

import math

import pytest

from verify.errors import DivergenceError
from verify.numerics import run_audit
from verify.numerics.rank1 import rank1_run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run_audit("DU-10", quick=True, seed=0, out=tmp_path_factory.mktemp("du10"))


def _sub(rep, prefix):
    return next(s for s in rep.subs if s.name.startswith(prefix))


def test_du_10_quick_verdict(report):
    assert report.verdict == "consistent"
    assert all(s.control_ok for s in report.subs if s.control)


def test_du_10_rate(report):
    s = _sub(report, "(b) linear convergence")
    lo, hi = s.measured["median run slope"]["ci95"]
    assert hi < 0
    # Linearisation at the optimum predicts ln(1 - c_step) = -0.1054 for c_step = 0.1.
    assert lo - 1e-3 <= math.log(0.9) <= hi + 1e-3


def test_du_10_log_d_eps_fit(report):
    s = _sub(report, "(b) iterations")
    a, b = s.measured["a"], s.measured["b"]
    assert a["ci95"][0] > 0 and b["ci95"][0] > 0
    assert b["ci95"][0] <= 1 / -math.log(0.9) <= b["ci95"][1]
    assert s.measured["R^2"] >= 0.95


def test_du_10_balance_bound_reported(report):
    s = _sub(report, "(a)")
    assert 0 < s.measured["min ratio over all iterates and seeds"] <= 1
    assert s.measured["max ratio over all iterates and seeds"] >= 1


def test_du_10_controls_above_stability_limit(report):
    ctrl = [s for s in report.subs if s.control]
    assert {s.verdict for s in ctrl} == {"inconsistent", "divergent"}
    assert "Lower the step size" in ctrl[1].measured["outcome"]


def test_du_10_divergence_error_names_step():
    with pytest.raises(DivergenceError, match=r"eta=3 .*c_step=3"):
        rank1_run(50, seed=0, c_step=3.0, max_steps=500)
