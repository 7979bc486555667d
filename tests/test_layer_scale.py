"""A layer kind added through the extension point alone: ``scale`` (y = a o x, learned a).

Everything below reaches it only through the registry: the spec reader, the symbolic and numeric
interpreters, the concrete prover, the strategies (issue 13's demonstration)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.certificates import Proven, Refuted
from verify.interpret.numeric import fd_gradient, flat, loss_and_grad, square_loss, unflat
from verify.lang.spec import parse_spec
from verify.model import Act
from verify.model.layers.scale import Scale
from verify.model.layout import layout
from verify.testing import check
from verify.testing.strategies import layer_stacks

SPEC = """
input = 2
[[layer]]
type = "dense"
out = 3
[[layer]]
type = "scale"
[[layer]]
type = "activation"
name = "relu"
[[layer]]
type = "dense"
out = 2
"""


def test_scale_spec_declares_its_gain():
    model = parse_spec(SPEC)
    assert [p.name for p in model.params] == ["W1", "a2", "W3"]
    assert isinstance(model.layers[1], Scale) and model.param("a2").shape == (3,)


def test_scale_unit_balance_is_proven_and_the_wrong_weight_refuted():
    """W1 row i -> c W1 row i, a_i -> a_i / c leaves the net unchanged: ||W1[i,:]||^2 - a2[i]^2 is
    conserved; through the ReLU, a2[i]^2 - ||W3[:,i]||^2 too. Control: twice a2[i]^2 is not."""
    model = parse_spec(SPEC)
    assert isinstance(check(model, "sum(W1[i,:]**2) - a2[i]**2"), Proven)
    assert isinstance(check(model, "a2[i]**2 - sum(W3[:,i]**2)"), Proven)
    wrong = check(model, "sum(W1[i,:]**2) - 2*a2[i]**2")
    assert isinstance(wrong, Refuted) and wrong.witness is not None


@settings(max_examples=20, deadline=None)
@given(layer_stacks(kinds=(Scale, Act)), st.integers(0, 2**16))
def test_scale_backprop_matches_finite_differences(model, seed):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1, 1, sum(s.size for s in layout(model)))
    P, X, T = unflat(model, theta), rng.uniform(-1, 1, (3, model.input_dim)), np.zeros((3, model.output_dim))
    _, grads = loss_and_grad(model, P, X, T)
    fd = fd_gradient(lambda th: square_loss(model, unflat(model, th), X, T), theta)
    assert np.allclose(flat(model, grads), fd, rtol=1e-6, atol=1e-6)
