"""DU-12 (Sec 4 / Figure 2): quick audit at reduced size, paper numbers side by side."""

from __future__ import annotations

import pytest

from verify.numerics import run_audit
from verify.numerics.audits.du_12 import PAPER


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run_audit("DU-12", quick=True, seed=0, out=tmp_path_factory.mktemp("du12"))


def _sub(rep, prefix):
    return next(s for s in rep.subs if s.name.startswith(prefix))


def test_du_12_quick_balanced(report):
    s = _sub(report, "balanced init: squared-norm")
    assert s.verdict == "consistent"
    assert s.paper["final ||W1||^2, ||W2||^2, ||W3||^2"] == [42.90, 43.76, 43.68]
    assert _sub(report, "balanced init: ratios").verdict == "consistent"


def test_du_12_quick_unbalanced_differences_conserved(report):
    s = _sub(report, "unbalanced init: squared-norm")
    assert s.verdict == "consistent"
    assert s.paper["final ||W1||^2, ||W2||^2, ||W3||^2"] == PAPER["unbalanced"][
        "final ||W1||^2, ||W2||^2, ||W3||^2"]
    mech = _sub(report, "unbalanced init: final")
    assert mech.verdict == "consistent"


def test_du_12_quick_is_labelled_and_has_figure(report):
    assert any(n.startswith("QUICK TIER") for n in report.notes)
    assert any(f.endswith("DU-12-figure2-quick.png") for f in report.figures)


def test_du_12_control_large_step_rejected(report):
    ctrl = next(s for s in report.subs if s.control)
    assert ctrl.verdict == "inconsistent" and ctrl.control_ok


def test_du_12_paper_scale_parameter_and_step():
    from verify.numerics.audits.du_12 import ETA, paper_scale

    c, eta_c = paper_scale([13.97, 13.95, 13.94])
    paper = sum(PAPER["balanced"]["final ||W1||^2, ||W2||^2, ||W3||^2"]) / 3
    # norms grow like c^(2/3): c brings our mean balanced norm to the paper's
    assert c ** (2 / 3) * (13.97 + 13.95 + 13.94) / 3 == pytest.approx(paper, rel=1e-12)
    assert eta_c * c ** (4 / 3) == pytest.approx(ETA, rel=1e-12)
    assert paper_scale([paper] * 3) == pytest.approx((1.0, ETA), rel=1e-12)  # no-op at the paper's size


def test_du_12_scaled_targets_and_step_follow_the_unscaled_path():
    # The reason the step is eta / c^(4/3) and not a second knob: f is homogeneous of degree 3,
    # so GD on (c Y, eta / c^(4/3)) from c^(1/3) W0 is c^(1/3) times GD on (Y, eta) from W0.
    import numpy as np

    from verify.numerics.audits.du_12 import du12_problem
    from verify.numerics.models.du_relu_net import init_layers, relu_net_gd

    widths, m, c, eta = (12, 6, 6, 3), 20, 7.0, 0.05
    X, Y = du12_problem(widths, m, seed=3)
    Xc, Yc = du12_problem(widths, m, seed=3, target_scale=c)
    np.testing.assert_allclose(Yc, c * Y, rtol=1e-15)
    W0 = init_layers(widths, [0.05, 0.1, 0.2], np.random.default_rng(4))
    a = relu_net_gd(W0, X, Y, eta, 200)
    b = relu_net_gd([c ** (1 / 3) * W for W in W0], Xc, Yc, eta / c ** (4 / 3), 200)
    for Wa, Wb in zip(a.Ws, b.Ws):
        np.testing.assert_allclose(Wb, c ** (1 / 3) * Wa, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.sqnorms, c ** (2 / 3) * a.sqnorms, rtol=1e-9)
    # control: the unscaled step on the scaled problem takes another path
    d = relu_net_gd([c ** (1 / 3) * W for W in W0], Xc, Yc, eta / c, 200)
    assert not np.allclose(d.sqnorms, b.sqnorms, rtol=1e-3)


def test_du_12_quick_paper_scale_row(report):
    s = _sub(report, "unbalanced init, targets x c")
    assert s.rule.startswith("PRE-REGISTERED")
    t_near = s.measured["iteration from which all ratios stay near 1"]
    assert s.verdict == ("consistent" if t_near is not None else "inconsistent")
    # the conservation law still sets the final ratio at the new scale
    assert s.measured["final ratios (12, 23, 13)"][0] == pytest.approx(
        s.measured["predicted final ratio 1 + D_0/||W2(T)||^2"], rel=0.05)
