"""Proof job: every registered proof of every identity claim, named by claim id.

Each test runs the registry's tasks for one claim and mode and asserts the verdict the task
declares: ``proven`` for proofs, ``refuted`` (with an exact witness) for negative controls.
"""

from __future__ import annotations

import pytest

from verify.certificates import Proven, Refuted
from verify.proofs import ALL_TASKS


def _tasks(claim_id, mode, expect="proven"):
    ts = [t for t in ALL_TASKS if t.claim_id == claim_id and t.mode == mode and t.expect == expect]
    assert ts, f"no {mode} {expect} tasks for {claim_id}"
    return ts


#: Claims whose GD step is taken on a data loss (DU-6's f is a fixed objective, no data).
DATA_GD = ("DU-1gd", "DU-3gd", "JT-1", "EX-1")


def _batch_stated(v) -> bool:
    """A GD proof on a data loss says which batches it covers; a flow proof of the engine says why
    one point covers any data set."""
    text = " ".join(v.hypotheses)
    engine = v.mode == "concrete" and v.hypotheses[0].startswith("loss L = sum over")
    if v.dynamics != "gd":
        return not engine or "dQ/dt is linear in L" in text
    if v.claim_id not in DATA_GD:
        return True
    if v.mode == "concrete":
        return engine and "every batch size N" in text and "sum over 1 data point" not in text
    return "batch" in text and "one sample" not in text


def _check(claim_id, mode):
    for task in _tasks(claim_id, mode):
        v = task.run()
        assert isinstance(v, Proven), f"{task.key}: {v.verdict}"
        assert v.claim_id == claim_id and v.mode == mode
        assert v.steps, "a proof must carry its derivation"
        assert v.hypotheses, "a proof must state its hypotheses"
        assert _batch_stated(v), f"{task.key}: {v.hypotheses}"


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_1(mode):
    _check("DU-1", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_1gd(mode):
    _check("DU-1gd", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_1k(mode):
    _check("DU-1k", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_2(mode):
    _check("DU-2", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_3(mode):
    _check("DU-3", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_3gd(mode):
    _check("DU-3gd", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_4(mode):
    _check("DU-4", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_du_6(mode):
    _check("DU-6", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_jt_1(mode):
    _check("JT-1", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_ex_1(mode):
    _check("EX-1", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_ex_2(mode):
    _check("EX-2", mode)


@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_ex_3(mode):
    _check("EX-3", mode)


CONTROLS = [t for t in ALL_TASKS if t.expect != "proven"]


def test_du_1gd_du_3gd_have_concrete_and_generic_gd_controls():
    kinds = {(t.claim_id, t.mode) for t in CONTROLS}
    assert {("DU-1gd", "concrete"), ("DU-1gd", "generic"), ("DU-3gd", "concrete"), ("DU-3gd", "generic")} <= kinds
    det = [t for t in CONTROLS if t.claim_id == "DU-3gd" and "det(G_W1)" in t.name]
    assert len(det) == 1 and det[0].expect == "refuted"


@pytest.mark.parametrize("task", CONTROLS, ids=[t.key for t in CONTROLS])
def test_negative_controls_of_du_1_du_3_ex_1(task):
    v = task.run()
    assert v.verdict == task.expect, f"{task.key} gave {v.verdict}"
    if isinstance(v, Refuted):
        w = v.witness
        assert w is not None and w.value not in ("0", "")
        assert abs(w.value_float) > 0
        assert w.certified in ("exact rational",) or w.certified.startswith("non-zero certified")



@pytest.mark.parametrize("mode", ["generic", "concrete"])
def test_nm_1(mode):
    _check("NM-1", mode)


def test_nm_1_generic_proof_rests_on_euler_degree_zero_and_fails_without_it():
    from verify.proofs.normalisation import nm1_generic
    v = nm1_generic()
    assert v.verdict == "proven" and any("J z" in s.reason and "Euler" in s.reason for s in v.steps)
    # the step before Euler's rule still holds the J z terms: the rule is what closes the proof
    before = [s.text for s in v.steps if s.reason == "b = z - W a"]
    assert before and "z" in before[0] and "J" in before[0]
    # control: the bias left out of Q leaves the residual -2 J W a delta^T, not 0
    c = nm1_generic(with_bias=False)
    assert c.verdict == "undecided" and "J*W*a*delta.T" in c.evidence["residual normal form"]
