"""JT-1..JT-5 (Ji & Telgarsky): quick audits, negative controls and the independent SVM QP."""

from __future__ import annotations

import numpy as np
import pytest

from verify.errors import BadInput
from verify.numerics.context import AuditContext
from verify.numerics.run import AUDITS
from verify.numerics.audits.jt_1_2 import transcribed_D
from verify.numerics.models.jt_linear_net import (
    is_separable,
    jt_init,
    planted_max_margin_data,
    product,
    risk_and_grads,
    soft_margin_direction,
    svm_direction,
)
from verify.numerics.audit_report import combine_verdicts


def _audit(cid, out):
    ctx = AuditContext(claim_id=cid, quick=True, seed=0, out=out)
    out = AUDITS[cid](ctx)
    return out, combine_verdicts(out.subs)


@pytest.fixture(scope="module")
def jt_reports(tmp_path_factory):
    """Each quick audit runs once per module (the machine is shared; keep the suite fast)."""
    cache = {}
    out = tmp_path_factory.mktemp("jt")  # shared: JT-2..JT-5 reuse each other's runs

    def get(cid):
        if cid not in cache:
            cache[cid] = _audit(cid, out)
        return cache[cid]

    return get


def _claims(out):
    return [s for s in out.subs if not s.control]


def _controls(out):
    return [s for s in out.subs if s.control]


# ------------------------------------------------------------------ independent SVM reference

def test_jt_4_svm_qp_symmetric_pair():
    # z_i = y_i x_i = (1, 0), (1, 0), (0.9, 0.3), (0.9, -0.3): any unit (cos a, sin a) has
    # min margin <= 0.9 cos a <= 0.9, attained at a = 0, so u-bar = (1, 0).
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.9, 0.3], [-0.9, 0.3]])
    y = np.array([1.0, -1.0, 1.0, -1.0])
    np.testing.assert_allclose(svm_direction(X, y), [1.0, 0.0], atol=1e-7)


def test_jt_4_svm_qp_two_positive_points():
    # min ||u|| s.t. u.x1 >= 1, u.x2 >= 1 with x1=(1, .5), x2=(.5, 1): by symmetry u = (2/3, 2/3).
    X = np.array([[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(svm_direction(X, np.ones(2)), np.ones(2) / np.sqrt(2), atol=1e-7)


@pytest.mark.parametrize("d", [3, 8])
def test_jt_4_svm_qp_recovers_planted_direction(d):
    data = planted_max_margin_data(25, d, 0.2, np.random.default_rng(d))
    u = svm_direction(data.X, data.y)
    assert 1 - u @ data.planted < 1e-9
    assert np.linalg.norm(data.X, axis=1).max() <= 1 + 1e-12


def test_jt_4_svm_qp_rejects_nonseparable():
    X = np.array([[1.0, 0.0], [1.0, 0.0]])
    y = np.array([1.0, -1.0])
    assert not is_separable(X, y)
    with pytest.raises(BadInput, match="not linearly separable"):
        svm_direction(X, y)
    # the soft-margin reference still exists there (used by the JT-4 control)
    assert np.isfinite(soft_margin_direction(X, y)).all()


def test_jt_1_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    data = planted_max_margin_data(10, 4, 0.2, rng)
    Ws = jt_init(4, [3, 3], 0.8, rng)
    R, G, w = risk_and_grads(Ws, data.X, data.y, "logistic")
    np.testing.assert_allclose(w, product(Ws))
    E = rng.standard_normal(Ws[1].shape)
    h = 1e-6
    plus = risk_and_grads([Ws[0], Ws[1] + h * E, Ws[2]], data.X, data.y, "logistic")[0]
    minus = risk_and_grads([Ws[0], Ws[1] - h * E, Ws[2]], data.X, data.y, "logistic")[0]
    assert abs((plus - minus) / (2 * h) - np.sum(G[1] * E)) <= 1e-7 * max(1.0, abs(np.sum(G[1] * E)))


def test_jt_3_transcribed_D_by_hand():
    W1 = np.array([[2.0, 0.0], [0.0, 0.0]])  # ||W1||_F^2 = 4
    W2 = np.array([[1.0, 0.0]])  # ||W2||_F^2 = 1; W1 W1^T - W2^T W2 = diag(3, 0)
    assert transcribed_D([W1, W2]) == pytest.approx(4 - 1 + 3)


# ------------------------------------------------------------------ quick audits

def test_jt_1_trajectory_identity_quick(jt_reports):
    out, verdict = jt_reports("JT-1")
    assert verdict == "consistent"
    assert _claims(out)[0].measured["max relative residual"] < 1e-13
    assert all(c.control_ok for c in _controls(out))


def _t_grid(T=20_000):
    return np.unique(np.round(np.geomspace(2, T, 200))).astype(float)


@pytest.mark.parametrize("gap, expected", [
    (lambda t: 0.3 / np.log(t) ** 2, "consistent"),  # the known max-margin rate: -> 0
    (lambda t: 2.0 / t, "consistent"),  # a power of t: -> 0 fast
    (lambda t: 0.01 + 5.0 / t, "inconsistent"),  # levelled off at 0.01
    (lambda t: 0.02 + 0.01 * np.exp(-t / 500.0), "inconsistent"),  # plateau after a transient
])
def test_jt_4_asymptotic_rule_on_curves_with_known_limits(gap, expected):
    from verify.numerics.audits.jt_4 import asymptotic_verdict
    from verify.numerics.rates import fit_limit_inverse_log

    t = _t_grid()
    rhos = []
    for a in (0.5, 1.0, 2.0, 4.0):  # four "runs" differing in amplitude
        f = fit_limit_inverse_log(t, a * gap(t), t_from=t[-1] / 10)
        rhos.append(f.rel_limit)
    assert asymptotic_verdict(rhos)[0] == expected


def test_jt_4_asymptotic_rule_undecided_when_runs_disagree():
    from verify.numerics.audits.jt_4 import asymptotic_verdict

    # half the runs extrapolate below 0, half level off: the data cannot tell
    assert asymptotic_verdict([-1.5, -1.2, 0.8, 0.9])[0] == "undecided"
    # every run below 0 but one slightly above: not consistent (each run must reach 0)
    assert asymptotic_verdict([-1.5, -1.4, -1.6, 0.01])[0] == "undecided"


def test_jt_4_extrapolated_limit_never_exceeds_a_convex_limit():
    # The argument behind the rule: for y = c + h(1/ln t), h convex increasing with h(0) = 0,
    # the least-squares line's intercept is <= c.
    from verify.numerics.rates import fit_limit_inverse_log

    t = _t_grid(5000)
    for c in (0.0, 1e-3, 0.05):
        for h in (lambda x: x ** 2, lambda x: np.exp(-1 / x), lambda x: x ** 1.01):
            y = c + h(1.0 / np.log(t))
            assert fit_limit_inverse_log(t, y, t_from=500.0).limit <= c + 1e-12


def test_jt_4_quick_report_applies_the_rule_and_its_controls(jt_reports):
    from verify.numerics.audits.jt_4 import asymptotic_verdict

    out, verdict = jt_reports("JT-4")
    (claim,) = _claims(out)
    assert claim.rule.startswith("PRE-REGISTERED")
    rhos = [r["rho_r"] for r in claim.measured["per run"].values()]
    assert len(rhos) == claim.measured["runs"] == 4
    assert claim.verdict == asymptotic_verdict(rhos)[0]  # the report is the rule, applied
    off, nonsep = _controls(out)
    # 45 degrees off u-bar the limit is 0.293 > 0: the same rule must see a non-zero limit.
    assert off.verdict == "inconsistent" and off.control_ok
    assert off.measured["mean rho (95% CI over runs)"]["ci95"][0] > 0
    assert nonsep.expected == "inconsistent"
    # a control that did not fail leaves the audit undecided, never consistent
    assert verdict != "consistent" or nonsep.control_ok
    assert any(f.endswith("JT-4-quick.png") for f in out.figures)


def test_jt_5_step_rule_quick_and_control(jt_reports):
    out, verdict = jt_reports("JT-5")
    assert verdict == "consistent"
    (ctrl,) = _controls(out)
    assert ctrl.verdict == "inconsistent"


def test_jt_2_limits_quick_and_nonseparable_control(jt_reports):
    out, verdict = jt_reports("JT-2")
    assert verdict == "consistent"
    assert len(_claims(out)) == 4
    assert all(c.verdict == "inconsistent" for c in _controls(out))
    assert all("EXPLORATORY" in s.note for s in _claims(out))


def test_jt_3_bound_quick(jt_reports):
    out, verdict = jt_reports("JT-3")
    claim = _claims(out)[0]
    # D is audited as transcribed: whatever the verdict, it must come with its evidence.
    assert claim.verdict in ("consistent", "inconsistent")
    assert ("counterexample" in claim.measured) == (claim.verdict == "inconsistent")
    assert all(c.control_ok for c in _controls(out))
