"""DU-10 (Thm 3.2): quick audit verdicts, the measured rate, and the negative controls."""

from __future__ import annotations

import math

import pytest

from verify.errors import DivergenceError
from verify.numerics import run_audit
from verify.numerics.models.du_rank1 import rank1_run


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


def test_du_10_clopper_pearson_is_exact_and_can_say_no():
    from scipy import stats

    from verify.numerics.rates import clopper_pearson_interval

    for k, n in ((8, 12), (34, 70), (1, 10), (9, 10)):
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson_interval(k, n) == pytest.approx((ref.low, ref.high), rel=1e-9)
    # the rule's boundary: the lower end is > 0 iff at least one run keeps the bound
    assert clopper_pearson_interval(0, 70)[0] == 0.0
    assert clopper_pearson_interval(1, 70)[0] > 0.0
    assert clopper_pearson_interval(70, 70)[1] == 1.0


def test_du_10_opposite_sign_start_leaves_the_band():
    # Theory behind the control: with sign(u_0^T u*) != sign(v_0^T v*) one factor must cross 0,
    # where |a_t| + |a_{t+1}| is one step's change ~ c_step |b|: the ratio leaves [0.1, 10].
    # With equal signs nothing forces a crossing (no assertion on those runs).
    runs = [rank1_run(50, seed=seed, c_step=0.1, eps_min=1e-4) for seed in range(12)]
    opposite = [r for r in runs if not r["same_sign_start"]]
    assert len(opposite) >= 3  # the seeds do exercise the case
    assert all(r["ratio_min"] < 0.1 or r["ratio_max"] > 10.0 for r in opposite)


def test_du_10_balance_rule_as_reported(report):
    s = _sub(report, "(a)")
    assert s.rule.startswith("PRE-REGISTERED")
    k, n = (int(x) for x in s.measured["runs keeping the bound"].split("/"))
    lo, hi = s.measured["fraction 95% CI (Clopper-Pearson)"]
    assert lo <= k / n <= hi
    assert s.verdict == ("consistent" if lo > 0 else "inconsistent")
    split = s.measured["by initial signs"]
    assert sum(int(v["inside"].split("/")[1]) for v in split.values()) == n
    ctrl = next(c for c in report.subs if c.name.startswith("control: the (a) rule"))
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok
    assert ctrl.measured["runs keeping the bound"].startswith("0/")


def test_du_10_controls_above_stability_limit(report):
    ctrl = {s.name: s for s in report.subs if s.control and "c_step =" in s.name}
    assert {s.verdict for s in ctrl.values()} == {"inconsistent", "divergent"}
    assert "Lower the step size" in \
        ctrl["control: c_step = 2.5 (above the stability limit c_step < 1)"].measured["outcome"]


def test_du_10_divergence_error_names_step():
    with pytest.raises(DivergenceError, match=r"eta=3 .*c_step=3"):
        rank1_run(50, seed=0, c_step=3.0, max_steps=500)
