"""GB-1, GB-2 (Gidel, Bach & Lacoste-Julien): quick audits, controls, closed-form RRR reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from verify.numerics.context import AuditContext
from verify.numerics.run import AUDITS
from verify.numerics.models.gb_linear_net import (
    aligned_init,
    gb_problem,
    gd_two_layer,
    learning_time_formula,
    mode_values,
    rrr_solution,
)
from verify.numerics.audit_report import combine_verdicts


@pytest.fixture(scope="module")
def gb_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("gb")
    cache = {}

    def get(cid):
        if cid not in cache:
            o = AUDITS[cid](AuditContext(claim_id=cid, quick=True, seed=0, out=out))
            cache[cid] = (o, combine_verdicts(o.subs))
        return cache[cid]

    return get


# ------------------------------------------------------------------ closed-form RRR reference

def test_gb_1_rrr_whitened_is_truncated_svd():
    Syx = np.diag([3.0, 2.0, 1.0])
    np.testing.assert_allclose(rrr_solution(np.eye(3), Syx, 1), np.diag([3.0, 0, 0]), atol=1e-14)
    np.testing.assert_allclose(rrr_solution(np.eye(3), Syx, 2), np.diag([3.0, 2.0, 0]), atol=1e-14)
    np.testing.assert_allclose(rrr_solution(np.eye(3), Syx, 0), np.zeros((3, 3)))


def test_gb_1_rrr_full_rank_is_ols():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    Sx = A @ A.T + np.eye(4)
    Syx = rng.standard_normal((3, 4))
    np.testing.assert_allclose(rrr_solution(Sx, Syx, 3), Syx @ np.linalg.inv(Sx), atol=1e-10)


def test_gb_1_rrr_rank1_matches_brute_force_non_whitened():
    Sx = np.diag([4.0, 1.0])
    Syx = np.diag([3.0, 2.0])  # s / sqrt(lam) = (1.5, 2): rank-1 RRR keeps mode 2, not mode 1

    def loss(p):
        W = np.outer(p[:2], p[2:])
        return 0.5 * np.trace(W @ Sx @ W.T) - np.trace(W @ Syx.T)

    best = min((optimize.minimize(loss, x0, method="BFGS", options={"gtol": 1e-10})
                for x0 in np.random.default_rng(0).standard_normal((8, 4))), key=lambda r: r.fun)
    W1 = rrr_solution(Sx, Syx, 1)
    np.testing.assert_allclose(W1, np.diag([0.0, 2.0]), atol=1e-12)
    assert loss(np.array([0, 1, 0, 2.0])) == pytest.approx(best.fun, abs=1e-8)


def test_gb_2_mode_recursion_matches_gd_exactly():
    # Aligned balanced init: each mode follows w+ = w (1 + eta (s - lam w))^2 (CLAIMS.md GB-2).
    P = gb_problem([3.0, 1.0], [2.0, 1.0], 4, 3, 20, np.random.default_rng(2))
    W1, W2 = aligned_init(P, 3, 3.0)
    _, Ws = gd_two_layer(W1, W2, P.Sx, P.Syx, 0.05, 50)
    w = np.exp(-6.0) * np.ones(2)
    for t in range(50):
        w = w * (1 + 0.05 * (P.s - P.lam * w)) ** 2
    np.testing.assert_allclose(mode_values(Ws[-1], P), w, rtol=1e-10)


def test_gb_2_formula_values():
    # s/(2 lam) = 3, so the 1/2 ln term (0.549) is far from zero. The formula is the step at
    # which pure exponential growth e^{-2 delta} (1 + eta s)^{2t} reaches half the limit s/lam.
    s, lam, delta, eta = 3.0, 0.5, 5.0, 0.1
    t = learning_time_formula(np.array([s]), np.array([lam]), delta, eta)[0]
    assert t == pytest.approx((delta + 0.5 * np.log(3.0)) / np.log(1.3), rel=1e-14)
    assert np.exp(-2 * delta) * (1 + eta * s) ** (2 * t) == pytest.approx(s / (2 * lam), rel=1e-12)
    # and the 1/2 ln term matters: dropping it is 11% off here
    assert abs(t - delta / np.log(1.3)) / t > 0.09


def _first_half_step(s, lam, delta, eta):
    w, t = np.exp(-2 * delta), 0
    while w < s / (2 * lam):
        w *= (1 + eta * (s - lam * w)) ** 2
        t += 1
    return t


@pytest.mark.parametrize("s, lam", [(3.0, 0.5), (0.4, 1.0), (2.0, 4.0)])
def test_gb_2_formula_error_shrinks_like_one_over_delta(s, lam):
    # The scalar mode recursion is the GD (test above); the formula neglects the slow-down near
    # the limit, a bounded number of steps, so its relative error falls like 1/delta.
    eta = 0.05
    errs = []
    for delta in (4.0, 8.0, 16.0, 32.0):
        t = _first_half_step(s, lam, delta, eta)
        f = learning_time_formula(np.array([s]), np.array([lam]), delta, eta)[0]
        errs.append(abs(f - t) / t)
    assert all(b < a for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 0.03 and 0.3 < errs[0] * 4.0 / (errs[-1] * 32.0) < 3.0


def test_gb_2_mode_dynamics_do_not_depend_on_the_data_set():
    # Why GB-2 has no CI over data sets: two independent data sets with the same (s, lam)
    # differ by rotations only, and the aligned mode values follow the same recursion.
    steps = []
    for seed in (5, 6):
        P = gb_problem([3.0, 1.0], [2.0, 1.0], 4, 3, 20, np.random.default_rng(seed))
        W1, W2 = aligned_init(P, 3, 3.0)
        _, Ws = gd_two_layer(W1, W2, P.Sx, P.Syx, 0.05, 80)
        steps.append(np.array([mode_values(W, P) for W in Ws]))
    np.testing.assert_allclose(steps[0], steps[1], rtol=1e-10)


# ------------------------------------------------------------------ quick audits

def test_gb_1_incremental_quick(gb_reports):
    out, verdict = gb_reports("GB-1")
    assert verdict == "consistent"
    claim = next(s for s in out.subs if not s.control)
    assert max(claim.measured["min relative distance per rank r=0..k"][1:-1]) <= 0.1


def test_gb_1_one_layer_negative_control(gb_reports):
    out, _ = gb_reports("GB-1")
    (ctrl,) = [s for s in out.subs if s.control]
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok


def test_gb_2_formula_quick(gb_reports):
    out, verdict = gb_reports("GB-2")
    claim = out.subs[0]
    assert claim.rule.startswith("PRE-REGISTERED") and "no CI" in claim.rule
    tops = [v["max |relative error|"] for v in claim.measured["by delta"].values()]
    ok = all(b < a for a, b in zip(tops, tops[1:])) and tops[-1] <= 0.2
    assert claim.verdict == ("consistent" if ok else "inconsistent")  # the rule, applied
    twin = claim.measured["second data set (seed + 1), delta=8, eta=0.05: learning steps"]
    assert twin["identical"] and twin["first data set"] == twin["second data set"]


def test_gb_2_flow_time_formula_is_rejected(gb_reports):
    out, _ = gb_reports("GB-2")
    ctrl = next(s for s in out.subs if s.name.startswith("control: the same rule on the flow"))
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok
    assert list(ctrl.measured["by delta"].values())[-1]["max |relative error|"] > 0.2


def test_gb_2_ordering_negative_control(gb_reports):
    out, _ = gb_reports("GB-2")
    (ctrl,) = [s for s in out.subs if s.control and "non-whitened" in s.name]
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok
    assert ctrl.measured["GD learning order (mode index)"] != ctrl.measured["RRR order (mode index)"]


def test_gb_2_run_audit_writes_json_and_resumes(tmp_path):
    import json

    from verify.errors import BadInput
    from verify.numerics.run import run_audit

    rep = run_audit("gb-2", quick=True, seed=0, out=tmp_path)
    data = json.loads((tmp_path / "GB-2-quick.json").read_text())
    assert data["claim_id"] == "GB-2" and data["verdict"] == rep.verdict == "consistent"
    runs = sorted((tmp_path / "runs" / "GB-2-quick-seed0").glob("*.json"))
    assert len(runs) == 11  # 9 sweep runs, a second data set, the non-whitened control
    stamp = [p.stat().st_mtime_ns for p in runs]
    again = run_audit("GB-2", quick=True, seed=0, out=tmp_path)
    assert [p.stat().st_mtime_ns for p in runs] == stamp  # resumed from disk, not recomputed
    assert again.subs[0].measured == rep.subs[0].measured
    with pytest.raises(BadInput, match="verify prove DU-1"):  # an identity: the one rule names its command
        run_audit("DU-1", quick=True, out=tmp_path)


def test_gb_2_fractional_learning_step_lies_within_its_integer_step():
    from verify.numerics.audits.gb_1_2 import gb2_run

    r = gb2_run((3.0, 1.2, 0.6), None, 6, 5, 6, 50, 5.0, 0.2, 0)
    for t, f in zip(r["tau"], r["tau_frac"]):
        assert t - 1 <= f <= t
    # and it removes the rounding: the formula is closer to it than to the integer step
    assert all(abs(p - f) <= abs(p - t) + 1e-12
               for p, f, t in zip(r["formula"], r["tau_frac"], r["tau"]))
