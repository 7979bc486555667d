"""A loss chosen in the model (``Model.loss`` / spec ``loss = ...``): proofs and exact witnesses.

Cross-entropy gradients sum to zero over the classes, so sum(b_out) is conserved for that loss
but not for every loss: the same quantity must be proven with ``cross_entropy`` and refuted (a
negative control) with the loss left open or with the square loss.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from verify.certificates import Proven, Refuted
from verify.testing.checking import as_quantity, check
from verify.errors import BadInput, SpecError
from verify.model import mlp
from verify.lang.spec import load_spec, parse_spec
from verify.prove.trajectory import flow_drift

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLASSIFIER = EXAMPLES / "softmax_classifier.toml"


def _with_loss(loss):
    return dataclasses.replace(load_spec(CLASSIFIER), loss=loss)


def test_cross_entropy_conserves_sum_of_output_biases():
    verdict = check(load_spec(CLASSIFIER), "sum(b2)")
    assert isinstance(verdict, Proven)
    assert any("sum_j dl_j = 0" in s.reason for s in verdict.steps)


@pytest.mark.parametrize("loss", [None, "square"])
def test_negative_control_sum_of_biases_refuted_without_cross_entropy(loss):
    verdict = check(_with_loss(loss), "sum(b2)")
    assert isinstance(verdict, Refuted)
    assert "1/2*||y - t||^2" in verdict.witness.loss


def test_cross_entropy_refutation_uses_the_cross_entropy_loss():
    verdict = check(load_spec(CLASSIFIER), "b2[0]")
    assert isinstance(verdict, Refuted)
    assert "softmax" in verdict.witness.loss and "certified" in verdict.witness.certified


def test_logistic_refutation_uses_the_logistic_loss():
    model = dataclasses.replace(mlp([2, 2, 1], "tanh"), loss="logistic")
    verdict = check(model, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert isinstance(verdict, Refuted)
    assert "log(1 + exp(-t*y))" in verdict.witness.loss and verdict.witness.value_float != 0


def test_du_1_chosen_loss_still_proven():
    model = mlp([2, 3, 1], "relu", bias=True)
    assert isinstance(check(model, "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", loss="exponential"), Proven)


def test_trajectory_uses_the_chosen_loss():
    conserved = flow_drift(load_spec(CLASSIFIER), as_quantity("sum(b2)", load_spec(CLASSIFIER)))
    square = flow_drift(_with_loss("square"), as_quantity("sum(b2)", _with_loss("square")))
    assert conserved.relative_drift < 1e-10 < 1e-3 < square.relative_drift


@pytest.mark.parametrize("line, message", [
    ('loss = 3', "loss = 3; write e.g."),
    ('loss = "crossentropy"', "Unknown loss 'crossentropy'. Closest: cross_entropy"),
    ('loss = "logistic"', "logistic loss needs one output"),
])
def test_bad_loss_is_one_clear_line(tmp_path, line, message):
    text = CLASSIFIER.read_text().replace('loss = "cross_entropy"', line)
    with pytest.raises((SpecError, BadInput), match=message):
        parse_spec(text, "c.toml")
    spec = tmp_path / "c.toml"
    spec.write_text(text)
    run = subprocess.run([sys.executable, "-m", "verify", "check", str(spec), "--quantity", "sum(b2)"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_package_level_api_check_and_discover_are_functions():
    import verify
    verdict = verify.check(mlp([2, 2, 1], "relu"), "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert isinstance(verdict, Proven) and callable(verify.discover)
