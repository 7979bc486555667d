"""DU-12 (Sec 4 / Figure 2): quick audit at reduced size, paper numbers side by side."""

from __future__ import annotations

import pytest

from verify.numerics import run_audit
from verify.numerics.audit_du12 import PAPER


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
