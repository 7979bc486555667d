"""The symbolic interpreter's gradient: taken in SymPy's polynomial ring when the outputs are
polynomials (issue 17: 5x cheaper on the ResNet block), else by sp.diff; both must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp

from verify.interpret.symbolic import _ring_gradient, symbolic_net
from verify.lang.spec import load_spec
from verify.model import mlp

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _diff_gradient(net):
    return {t: sp.Add(*[dl * out[j].diff(t) for out, dls in zip(net.outputs, net.loss_derivatives)
                        for j, dl in enumerate(dls)]) for t in net.theta}


@pytest.mark.parametrize("model", [mlp((2, 3, 2), "relu", bias=True), mlp((2, 2, 2, 1), "leaky_relu"),
                                   load_spec(EXAMPLES / "conv_leaky.toml"), load_spec(EXAMPLES / "residual_relu.toml"),
                                   load_spec(EXAMPLES / "squared_relu.toml")], ids=lambda m: m.name)
def test_ring_gradient_equals_sp_diff(model):
    net = symbolic_net(model, 2)
    ring = _ring_gradient(net.outputs, net.loss_derivatives, net.theta)
    assert ring is not None and set(ring) == set(net.theta)
    diff = _diff_gradient(net)
    assert all(sp.expand(ring[t] - diff[t]) == 0 for t in net.theta)
    assert net.gradient == ring  # the interpreter took the ring route


def test_ring_gradient_control_sees_a_wrong_gradient():
    net = symbolic_net(mlp((2, 2, 1), "relu", bias=True))
    ring = _ring_gradient(net.outputs, net.loss_derivatives, net.theta)
    t0, t1 = net.theta[0], net.theta[1]
    assert sp.expand(ring[t0] - _diff_gradient(net)[t1]) != 0  # the comparison above can fail


def test_non_polynomial_outputs_take_sp_diff():
    net = symbolic_net(mlp((2, 2, 1), "tanh"))
    assert _ring_gradient(net.outputs, net.loss_derivatives, net.theta) is None
    diff = _diff_gradient(net)
    assert all(sp.simplify(net.gradient[t] - diff[t]) == 0 for t in net.theta)
