"""The layer extension point, exercised through every reader at once: random stacks of layer kinds,
each drawn by its own ``draw`` hook, must agree between the symbolic and the numeric interpreter
(forward values at a rational point) and between backprop and finite differences (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from verify.errors import BadInput
from verify.interpret.numeric import fd_gradient, flat, forward, loss_and_grad, square_loss, unflat
from verify.interpret.symbolic import symbolic_net
from verify.model import Act, Normalize, Pool
from verify.model.layout import entries, layout
from verify.testing.strategies import layer_stacks

KINDS = (Act, Pool, Normalize)
RTOL = 1e-6  # central differences with h = 1e-6: error O(h^2) relative, plus round-off O(1e-10)


def _point(model, rng):
    theta = rng.uniform(-1, 1, sum(s.size for s in layout(model)))
    return theta, unflat(model, theta), rng.uniform(-1, 1, (3, model.input_dim))


@settings(max_examples=25, deadline=None)
@given(layer_stacks(kinds=KINDS), st.integers(0, 2**16))
def test_backprop_matches_finite_differences_on_drawn_stacks(model, seed):
    theta, P, X = _point(model, np.random.default_rng(seed))
    T = np.zeros((3, model.output_dim))
    with np.errstate(all="ignore"):
        # a normalisation whose input is exactly 0 (every unit before it dead) is undefined there
        assume(np.all(np.isfinite(forward(model, P, X))))
    _, grads = loss_and_grad(model, P, X, T)
    fd = fd_gradient(lambda th: square_loss(model, unflat(model, th), X, T), theta)
    assert np.allclose(flat(model, grads), fd, rtol=RTOL, atol=RTOL)


@settings(max_examples=15, deadline=None)
@given(layer_stacks(kinds=(Act, Pool), depth=(1, 2)), st.integers(0, 2**16))
def test_symbolic_and_numeric_forward_agree_on_drawn_stacks(model, seed):
    """The symbolic forward with every region symbol set from the point's own signs / arg-maxes
    equals the numeric forward (both read the same layer kinds)."""
    rng = np.random.default_rng(seed)
    theta, P, X = _point(model, rng)
    net = symbolic_net(model)
    values = {sym: sp.Rational(float(v)) for (_, _, name), v, sym in
              zip(entries(model), theta, net.theta)}
    values.update({s: sp.Rational(float(x)) for s, x in zip(net.inputs[0], X[0])})
    for region in net.regions:  # activation / max-selection symbols from their exact arguments
        values[region.symbol] = region.activation.region_value(
            region.preactivation.xreplace(values) if not isinstance(region.preactivation, sp.Tuple)
            else sp.Tuple(*[z.xreplace(values) for z in region.preactivation]))
    exact = [float(e.xreplace(values)) for e in net.outputs[0]]
    assert np.allclose(exact, forward(model, P, X[:1])[0], rtol=1e-12, atol=1e-12)


def test_layer_stacks_reject_bad_kinds():
    with pytest.raises(BadInput, match="layer classes"):
        layer_stacks(kinds=("relu",))
    with pytest.raises(BadInput, match="depth"):
        layer_stacks(kinds=(Act,), depth=(3, 1))


def test_finite_difference_check_catches_a_wrong_backward(monkeypatch):
    """Negative control: a layer kind whose backward drops its factor 1/|window| (avg pooling) fails
    the same comparison."""
    from verify.model import Dense, Model, Param
    model = Model("avg", 4, (Param("W1", (4, 4)), Param("W2", (1, 2))),
                  (Dense("W1"), Pool("avg", ((0, 1), (2, 3))), Dense("W2")))
    theta, P, X = _point(model, np.random.default_rng(0))
    T = np.zeros((3, 1))

    def agree():
        _, grads = loss_and_grad(model, P, X, T)
        fd = fd_gradient(lambda th: square_loss(model, unflat(model, th), X, T), theta)
        return np.allclose(flat(model, grads), fd, rtol=RTOL, atol=RTOL)

    assert agree()
    original = Pool.backward
    monkeypatch.setattr(Pool, "backward", lambda self, *a: 2 * original(self, *a))
    assert not agree()
