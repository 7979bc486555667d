"""WN-1 (Chou, Rauhut & Ward): gradient flows, quick audit, dense-truth control, the l1 LP reference."""

from __future__ import annotations

import numpy as np
import pytest

from verify.errors import BadInput
from verify.numerics.context import AuditContext
from verify.numerics.run import AUDITS
from verify.numerics.audit_report import combine_verdicts
from verify.numerics.models.wn_flow import flow_plain, flow_polar
from verify.numerics.models.wn_polar import gd_plain, gd_polar, l1_min_interpolator, sparse_problem


@pytest.fixture(scope="module")
def wn_report(tmp_path_factory):
    out = AUDITS["WN-1"](AuditContext(claim_id="WN-1", quick=True, seed=0,
                                                out=tmp_path_factory.mktemp("wn")))
    return out, combine_verdicts(out.subs)


def test_wn_1_l1_lp_known_cases():
    # w = (0, 1) has l1 norm 1 against 2 for (2, 0): the LP must pick the sparse one.
    np.testing.assert_allclose(l1_min_interpolator(np.array([[1.0, 2.0]]), np.array([2.0])),
                               [0.0, 1.0], atol=1e-9)
    A = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    np.testing.assert_allclose(l1_min_interpolator(A, np.ones(2)), [0.0, 0.0, 1.0], atol=1e-9)


def test_wn_1_l1_lp_recovers_sparse_truth_and_rejects_inconsistent_system():
    P = sparse_problem(40, 25, 2, np.random.default_rng(3))
    np.testing.assert_allclose(l1_min_interpolator(P.A, P.y), P.w_star, atol=1e-7)
    with pytest.raises(BadInput):
        l1_min_interpolator(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([1.0, 2.0]))


def test_wn_1_polar_gd_starts_where_plain_gd_starts_and_fits():
    P = sparse_problem(10, 8, 2, np.random.default_rng(0))
    a, b = gd_plain(P, 0.5, 0), gd_polar(P, 0.5, 0)
    np.testing.assert_allclose(a.w, b.w)  # same initial point, w(0) = 0
    run = gd_polar(P, 0.5, 20_000)
    assert run.loss[-1] <= 1e-6 * run.loss[0]


def test_wn_1_flows_keep_their_exact_invariants():
    # plain flow: u_i v_i is conserved; WN flow: ||a|| = ||b|| = 1. Their drift is the solver's
    # error, and must be small (the checks below fail if the right-hand sides are wrong).
    P = sparse_problem(20, 10, 2, np.random.default_rng(1))
    for alpha in (0.1, 2.0):
        assert flow_plain(P, alpha, 1e4).invariant_drift < 1e-6
        assert flow_polar(P, alpha, 1e4).invariant_drift < 1e-6


def test_wn_1_flow_matches_small_step_gd():
    # An independent route to the same flow: GD with a small step follows it; both must end at
    # the same interpolator (to the step-size error), for the plain and the WN parametrisation.
    P = sparse_problem(12, 8, 2, np.random.default_rng(0))
    for flow, gd in ((flow_plain, gd_plain), (flow_polar, gd_polar)):
        f = flow(P, 0.5, 1e4, rtol_loss=1e-8)
        g = gd(P, 0.5, 400_000, rtol=1e-8)
        assert f.time_to_fit is not None and g.iterations is not None
        np.testing.assert_allclose(g.w, f.w, atol=2e-3 * np.abs(P.w_star).max())


def test_wn_1_flow_negative_control_wrong_sign_is_caught():
    # A flow with the sign of v's gradient flipped is not a gradient flow: it must not fit.
    from scipy.integrate import solve_ivp

    P = sparse_problem(12, 8, 2, np.random.default_rng(0))
    d = 12

    def rhs(t, y):
        w = y[:d] ** 2 - y[d:] ** 2
        g = P.A.T @ (P.A @ w - P.y) / len(P.y)
        return np.concatenate([-2 * y[:d] * g, -2 * y[d:] * g])  # wrong sign on v

    sol = solve_ivp(rhs, (0, 50), np.full(2 * d, 0.5), method="LSODA", rtol=1e-8)
    w = sol.y[:d, -1] ** 2 - sol.y[d:, -1] ** 2
    r0 = float(P.y @ P.y)
    r = P.A @ w - P.y
    right = flow_plain(P, 0.5, 50.0)
    assert float(r @ r) > 1e-3 * r0 and right.final_loss < 1e-9 * r0


def test_wn_1_quick_verdicts(wn_report):
    out, verdict = wn_report
    subs = {s.name: s for s in out.subs}
    primary = [s for s in out.subs if not s.control and not s.secondary]
    assert primary and all("(flow)" in s.name for s in primary)
    assert all("secondary" in s.name for s in out.subs if s.secondary)
    assert all(s.rule.startswith("PRE-REGISTERED") for s in primary)
    # the contrast the claim relies on: the plain flow does not recover at large scale
    plain = subs["WN-1 (flow): plain gradient flow loses the sparse bias at large initialisation"]
    table = plain.measured["plain gradient flow"]
    big = table[max(table, key=lambda k: float(k.split("=")[1]))]
    assert plain.verdict == ("consistent" if big["rel error"] > 0.05 else "inconsistent")
    # the GD rows are secondary: the overall verdict is that of the flow rows and the controls
    only_primary = combine_verdicts([s for s in out.subs if not s.secondary])
    assert verdict == only_primary
    assert any(f.endswith("WN-1-quick.png") for f in out.figures)


def test_wn_1_secondary_rows_stay_out_of_the_verdict_and_controls_cannot_be_secondary():
    from verify.numerics.audit_report import SubVerdict

    ok = SubVerdict("flow", "consistent", "rule")
    gd = SubVerdict("secondary GD", "inconsistent", "rule", secondary=True)
    assert combine_verdicts([ok, gd]) == "consistent"
    assert combine_verdicts([ok, SubVerdict("GD", "inconsistent", "rule")]) == "inconsistent"
    with pytest.raises(ValueError, match="cannot be secondary"):
        SubVerdict("c", "inconsistent", "rule", control=True, expected="inconsistent",
                   secondary=True)


def test_wn_1_dense_truth_negative_control(wn_report):
    out, _ = wn_report
    (ctrl,) = [s for s in out.subs if s.control]
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok
