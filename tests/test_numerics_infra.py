"""Tests of the shared audit infrastructure: rate fits, results/atomic IO, sweeps, plotting."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verify.errors import BadInput
from verify.numerics import (
    AuditReport,
    SubVerdict,
    Task,
    combine_verdicts,
    fit_linear_model,
    fit_linear_rate,
    linear_phase_window,
    new_figure,
    run_tasks,
    save_figure,
    seed_for,
    wilson_interval,
)
from verify._infra.atomic import read_json, write_json_atomic


# ------------------------------------------------------------------ rates

@given(rate=st.floats(-0.5, -0.01), noise=st.floats(0.0, 0.05), seed=st.integers(0, 2**31))
def test_fit_linear_rate_recovers_known_rate(rate, noise, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(200)
    e = 3.0 * np.exp(rate * t + noise * rng.standard_normal(t.size))
    fit = fit_linear_rate(e)
    lo, hi = fit.slope_ci95
    assert lo <= fit.slope <= hi
    # A 95% CI misses the truth in 5% of noisy sequences by design (coverage is tested below),
    # so per example we only require agreement within 5 standard errors (+ round-off).
    assert abs(fit.slope - rate) <= 5 * fit.stderr + 1e-9 * abs(rate)


def test_fit_linear_rate_true_rate_inside_ci_fixed_seed():
    rng = np.random.default_rng(7)
    e = 2.0 * np.exp(-0.137 * np.arange(60) + 0.1 * rng.standard_normal(60))
    fit = fit_linear_rate(e)
    lo, hi = fit.slope_ci95
    assert lo <= -0.137 <= hi and hi - lo < 0.01


def test_fit_linear_rate_ci_coverage_is_about_95_percent():
    # Frequentist check of the t-based CI on 400 synthetic sequences with known slope.
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        e = np.exp(-0.1 * np.arange(30) + 0.2 * rng.standard_normal(30))
        lo, hi = fit_linear_rate(e).slope_ci95
        hits += lo <= -0.1 <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_fit_linear_rate_window_and_steps():
    t = np.arange(0, 100, 5)
    e = np.where(t < 20, 1.0, np.exp(-0.2 * (t - 20)))  # plateau then linear phase
    win = linear_phase_window(e, upper=0.99, lower=1e-12)
    fit = fit_linear_rate(e, window=win, steps=t)
    assert win[0] == 5
    assert fit.slope == pytest.approx(-0.2, rel=1e-9)
    assert fit.factor == pytest.approx(math.exp(-0.2), rel=1e-9)


def test_fit_linear_rate_rejects_bad_input():
    with pytest.raises(BadInput, match="at least 3 points"):
        fit_linear_rate([1.0, 0.5])
    with pytest.raises(BadInput, match="non-positive"):
        fit_linear_rate([1.0, 0.0, 0.1, 0.01])
    with pytest.raises(BadInput, match="never reached"):
        linear_phase_window([1.0, 1.0, 1.0], upper=0.1, lower=0.01)


def test_fit_linear_model_recovers_coefficients_with_ci():
    rng = np.random.default_rng(2)
    ld = np.repeat(np.log([10, 100, 1000, 1e4]), 5)
    le = np.tile(np.log([1e2, 1e4, 1e6, 1e8, 1e10]), 4)
    y = 3.0 * ld + 9.5 * le + 20 + rng.normal(0, 2.0, ld.size)
    fit = fit_linear_model(np.column_stack([ld, le, np.ones_like(ld)]), y, ("a", "b", "c"))
    for name, true in (("a", 3.0), ("b", 9.5), ("c", 20.0)):
        lo, hi = fit.get(name)["ci95"]
        assert lo <= true <= hi
    assert fit.r2 > 0.99
    with pytest.raises(BadInput, match="rank-deficient"):
        fit_linear_model(np.column_stack([ld, ld, np.ones_like(ld)]), y, ("a", "b", "c"))


def test_wilson_interval():
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and 0.8 < lo < 0.85
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.15 < hi < 0.2


# ------------------------------------------------------------------ results

def _sub(v, **kw):
    return SubVerdict("x", v, "rule", **kw)


def test_combine_verdicts_rules():
    ok_ctrl = _sub("divergent", control=True, expected="divergent")
    bad_ctrl = _sub("consistent", control=True, expected="divergent")
    assert combine_verdicts([_sub("consistent"), ok_ctrl]) == "consistent"
    assert combine_verdicts([_sub("inconsistent"), ok_ctrl]) == "inconsistent"
    # A control that does not fail means the audit could not have failed: never a pass.
    assert combine_verdicts([_sub("consistent"), bad_ctrl]) == "undecided"
    assert combine_verdicts([_sub("undecided"), ok_ctrl]) == "undecided"
    assert combine_verdicts([_sub("divergent")]) == "divergent"
    assert combine_verdicts([ok_ctrl]) == "undecided"
    with pytest.raises(ValueError, match="verdict"):
        _sub("pass")


def test_report_json_text_markdown(tmp_path):
    rep = AuditReport(
        claim_id="DU-10", verdict="consistent",
        subs=(SubVerdict("rate", "consistent", "CI below 0",
                         measured={"slope": {"value": -0.1, "ci95": [-0.11, -0.09]},
                                   "x": float("inf")}, paper={"rate": "linear"}),),
        figures=("a.png",), seed=3, quick=True, params={"d": (1, 2)}, versions={"numpy": "x"},
        git_revision="abc", wall_time_s=1.0)
    js = rep.to_json()
    text = json.dumps(js, allow_nan=False)  # strict JSON: inf was converted
    assert '"inf"' in text and js["seed"] == 3 and js["subs"][0]["rule"] == "CI below 0"
    assert "95% CI" in rep.render_text() and "paper rate = linear" in rep.render_text()
    md = rep.render_markdown()
    assert "| rate | consistent | CI below 0 |" in md and "![a.png](a.png)" in md
    p = write_json_atomic(tmp_path / "r.json", js)
    assert read_json(p) == js
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temp files left


def test_read_json_treats_torn_file_as_missing(tmp_path):
    (tmp_path / "torn.json").write_text('{"a": 1')
    assert read_json(tmp_path / "torn.json") is None
    assert read_json(tmp_path / "missing.json") is None


def test_seed_for_is_stable_and_distinct():
    assert seed_for(0, "a", 1) == seed_for(0, "a", 1)
    assert len({seed_for(0, "a", i) for i in range(100)} | {seed_for(1, "a", 0)}) == 101
    assert 0 <= seed_for(5, "x") < 2**63


# ------------------------------------------------------------------ sweeps

def _square(x: int, marker: str | None = None) -> dict:
    if marker:  # records every real computation, so the test can see what was recomputed
        with open(marker, "a") as fh:
            fh.write(f"{x}\n")
    return {"x": x, "y": x * x}


def test_run_tasks_resumes_and_never_recomputes(tmp_path):
    marker = tmp_path / "calls.txt"
    tasks = [Task(f"sq_{i}", _square, {"x": i, "marker": str(marker)}) for i in range(5)]
    first = run_tasks(tasks[:3], runs_dir=tmp_path / "runs")
    assert first.computed == 3 and first.reused == 0
    # "Interrupted" after 3 runs: the full sweep computes only the 2 missing ones.
    second = run_tasks(tasks, runs_dir=tmp_path / "runs")
    assert second.computed == 2 and second.reused == 3
    assert [r["y"] for r in second.results] == [0, 1, 4, 9, 16]
    assert sorted(marker.read_text().split()) == ["0", "1", "2", "3", "4"]
    third = run_tasks(tasks, runs_dir=tmp_path / "runs")
    assert third.computed == 0 and third.results == second.results


def test_run_tasks_two_processes_equal_serial(tmp_path):
    tasks = [Task(f"sq_{i}", _square, {"x": i}) for i in range(4)]
    par = run_tasks(tasks, runs_dir=tmp_path / "par", workers=2)
    ser = run_tasks(tasks, runs_dir=None)
    assert par.results == ser.results and par.computed == 4


def test_run_tasks_rejects_bad_keys():
    with pytest.raises(BadInput, match="duplicate"):
        run_tasks([Task("a", _square, {"x": 1}), Task("a", _square, {"x": 2})], runs_dir=None)
    with pytest.raises(BadInput, match="letters, digits"):
        Task("a/b", _square)


def test_save_figure_writes_png_and_svg(tmp_path):
    fig, ax = new_figure()
    ax.plot([0, 1], [1, 0])
    png, svg = save_figure(fig, tmp_path, "fig")
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(svg) as fh:
        assert "<svg" in fh.read(500)


def test_du_10_narrow_ci_is_printed_with_enough_digits_to_tell_its_ends_apart():
    from verify.numerics.audit_report import format_measured as _fmt
    # DU-10's median run slope (quick tier, seed 0): with 4 digits all three read -0.1053.
    narrow = _fmt({"value": -0.10533194001696661, "ci95": [-0.10533363407631788, -0.10533024595761534]})
    value, lo, hi = (float(x) for x in narrow.replace("(95% CI", "").replace("..", "").replace(")", "").split())
    assert lo < value < hi and len({value, lo, hi}) == 3
    # A wide CI keeps the usual 4 significant digits (the control).
    assert _fmt({"value": 3.297923721952796, "ci95": [1.6303879926478608, 4.965459451257732]}) == \
        "3.298 (95% CI 1.63 .. 4.965)"
