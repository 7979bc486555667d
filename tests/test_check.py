"""Property-testing job: `verify check`, specs, quantities, dynamics, trajectories, strategies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.testing import strategies as vs
from verify.certificates import Proven, Refuted
from verify.testing.checking import as_quantity, check
from verify.errors import BadInput, SpecError
from verify.model import mlp
from verify.interpret.numeric import fd_gradient, flat, loss_and_grad, unflat
from verify.model.losses import loss_value_and_grad
from verify.lang.spec import load_spec, parse_spec
from verify.testing.assertions import NotConserved, assert_conserved
from verify.prove.trajectory import flow_drift, gd_drift

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# (file, quantity, expected verdict): the README table is this list.
EXAMPLE_VERDICTS = [
    ("two_layer_relu_bias.toml", "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "proven"),
    ("two_layer_relu_bias.toml", "sum(W1[i,:]**2) - sum(W2[:,i]**2)", "refuted"),
    ("squared_relu.toml", "sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)", "proven"),
    ("squared_relu.toml", "sum(W1[i,:]**2) - sum(W2[:,i]**2)", "refuted"),
    ("conv_leaky.toml", "norm(v1)**2 - norm(W2)**2", "proven"),
    ("tanh_two_layer.toml", "sum(W1[i,:]**2) - sum(W2[:,i]**2)", "refuted"),
    ("diagonal_depth3.toml", "u1[i]**2 - u3[i]**2", "proven"),
    ("sparse_shared_relu.toml", "norm(v1)**2 - norm(v2)**2", "proven"),
    ("deep_linear_mixed.toml", "W1 @ W1.T - W2.T @ W2", "proven"),
    ("deep_linear_mixed.toml", "W2 @ W2.T - W3.T @ W3", "refuted"),
]


@pytest.mark.parametrize("spec, quantity, expected", EXAMPLE_VERDICTS)
def test_du_1_du_3_du_4_ex_2_examples_get_their_verdicts(spec, quantity, expected):
    assert check(load_spec(EXAMPLES / spec), quantity).verdict == expected


def test_du_1_weight_decay_reports_exact_derivative():
    v = check(mlp((2, 2, 2), "relu"), "sum(W1[i,:]**2) - sum(W2[:,i]**2)", weight_decay=True)
    assert isinstance(v, Refuted) and v.exact_law.startswith("dQ/dt = (-2*lambda)*Q")


def test_du_1_momentum_not_conserved_but_flow_is():
    net = mlp((2, 2, 1), "relu")
    assert check(net, "sum(W1[i,:]**2) - sum(W2[:,i]**2)").verdict == "proven"
    assert check(net, "sum(W1[i,:]**2) - sum(W2[:,i]**2)", dynamics="momentum").verdict == "refuted"


def test_ex_1_gd_not_conserved_exactly():
    from verify.model import diagonal_net
    assert check(diagonal_net(2, 2), "u1[i]**2 - u2[i]**2", dynamics="gd").verdict == "refuted"


def test_du_1_assert_conserved_raises_with_witness():
    net = mlp((2, 2, 1), "tanh")
    with pytest.raises(NotConserved, match="witness"):
        assert_conserved(net, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert isinstance(assert_conserved(mlp((2, 2, 1), "relu"), "sum(W1[i,:]**2) - sum(W2[:,i]**2)"), Proven)


def test_du_1_trajectory_flow_and_gd_drift():
    net = mlp((3, 3, 2), "relu", bias=True)
    good = as_quantity("sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", net)
    bad = as_quantity("sum(W1[i,:]**2) - sum(W2[:,i]**2)", net)
    assert flow_drift(net, good).relative_drift < 1e-9  # solve_ivp rtol = 1e-10
    assert flow_drift(net, bad).relative_drift > 1e-4
    p_good = gd_drift(net, good).detail["exponent p (change ~ eta^p, from eta and eta/2)"]
    p_bad = gd_drift(net, bad).detail["exponent p (change ~ eta^p, from eta and eta/2)"]
    assert abs(p_good - 2) < 0.2 and abs(p_bad - 1) < 0.2


@pytest.mark.parametrize("text, needle", [
    ("input = 2\n[[layer]]\ntype = 'dens'\nout = 2\n", "did you mean 'dense'"),
    ("input = 2\n[[layer]]\ntype = 'dense'\nout = 0\n", ":2 (layer 1)"),
    ("input = 2\n[[layer]\n", "malformed TOML"),
    ("input = 2\n[[layer]]\ntype = 'activation'\nname = 'relux'\n", "Closest: relu"),
    ("input = 2\n[[layer]]\ntype = 'shared'\npattern = [[1, 0, 1]]\n", "length 2"),
    ("input = 2\nwidth = 3\n[[layer]]\ntype = 'dense'\nout = 1\n", "unknown top-level key"),
])
def test_spec_errors_name_the_place(text, needle):
    with pytest.raises(SpecError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(text, "s.toml")


def _cli(*args):
    p = subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def test_du_1_check_cli_exit_codes_and_json(tmp_path):
    spec = str(EXAMPLES / "two_layer_relu_bias.toml")
    code, out, _ = _cli("check", spec, "--quantity", "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "--json")
    assert code == 0 and json.loads(out)["verdict"] == "proven"
    code, out, _ = _cli("check", spec, "--quantity", "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert code == 1 and "witness" in out
    for args, needle in [(("--quantity", "sum(W9[i,:])"), "Unknown parameter 'W9'"),
                         (("--quantity", "sum(W1[i,:]**2"), "column"),
                         (("--quantity", "W1[7,0]"), "out of range")]:
        code, out, err = _cli("check", spec, *args)
        assert code == 2 and needle in err and "Traceback" not in err and err.count("\n") == 1, err
    bad = tmp_path / "bad.toml"
    bad.write_text("input = 2\n[[layer]]\ntype = 'conv9'\n")
    code, _, err = _cli("check", str(bad), "--quantity", "1")
    assert code == 2 and "bad.toml:2" in err


@pytest.mark.parametrize("loss", ["square", "logistic", "exponential", "cross_entropy"])
def test_backprop_gradient_matches_finite_differences(loss):
    """The hand-written reverse mode (independent of SymPy) against central differences."""
    rng = np.random.default_rng(3)
    model = mlp((3, 4, 2), "tanh", bias=True)
    P = {p.name: rng.normal(size=p.shape) for p in model.params}
    X = rng.normal(size=(5, 3))
    T = rng.integers(0, 2, size=(5, 1)) if loss == "cross_entropy" else (
        rng.choice([-1.0, 1.0], size=(5, 2)) if loss in ("logistic", "exponential") else rng.normal(size=(5, 2)))
    _, G = loss_and_grad(model, P, X, T, loss)

    def f(th):
        from verify.interpret.numeric import forward
        return loss_value_and_grad(loss, forward(model, unflat(model, th), X), T)[0]
    np.testing.assert_allclose(flat(model, G), fd_gradient(f, flat(model, P)), rtol=1e-6, atol=1e-7)


def _balance_terms(model, P, G):
    """Per-neuron <W_h[i,:], G_h[i,:]> (+ b_h[i] g_b[i]) and <W_{h+1}[:,i], G_{h+1}[:,i]> with their scale."""
    dense = [l for l in model.layers if hasattr(l, "weight")]
    out = []
    for h in range(len(dense) - 1):
        W, Gw, Wn, Gn = P[dense[h].weight], G[dense[h].weight], P[dense[h + 1].weight], G[dense[h + 1].weight]
        inc = np.sum(W * Gw, axis=1) + (P[dense[h].bias] * G[dense[h].bias] if dense[h].bias else 0)
        outg = np.sum(Wn * Gn, axis=0)
        scale = np.sum(np.abs(W * Gw), axis=1) + np.sum(np.abs(Wn * Gn), axis=0)
        out.append((inc, outg, scale))
    return out


@settings(max_examples=60)
@given(data=st.data())
def test_du_1_du_2_property_float64_random_networks(data):
    """DU-1's lemma <W_h[i,:], G_h[i,:]> = <W_{h+1}[:,i], G_{h+1}[:,i]> (DU-2 is its sum) on random
    nets of depth 2-5, widths 1-8, homogeneous activations, with and without bias; compared
    relative to the scale of the terms (float64 round-off ~ 1e-16 * depth)."""
    model = data.draw(vs.networks(depth=(2, 5), widths=(1, 8), activations=("relu", "leaky_relu", "identity")))
    P = data.draw(vs.parameters(model))
    X = data.draw(vs.data(model))
    T = np.zeros((X.shape[0], model.output_dim))
    _, G = loss_and_grad(model, P, X, T)
    for inc, outg, scale in _balance_terms(model, P, G):
        assert np.all(np.abs(inc - outg) <= 1e-12 * (scale + 1e-300) + 1e-300)


@settings(max_examples=30)
@given(data=st.data())
def test_du_1_negative_control_float64_tanh_detected(data):
    """With tanh the per-neuron identity fails by far more than round-off on generic points."""
    model = data.draw(vs.networks(depth=(2, 3), widths=(2, 4), activations=("tanh",), bias=False))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    P = {p.name: rng.normal(size=p.shape) for p in model.params}
    X, T = rng.normal(size=(3, model.input_dim)), rng.normal(size=(3, model.output_dim))
    _, G = loss_and_grad(model, P, X, T)
    worst = max(float(np.max(np.abs(i - o) / (s + 1e-300))) for i, o, s in _balance_terms(model, P, G))
    assert worst > 1e-6


def test_strategies_reject_invalid_bounds():
    with pytest.raises(BadInput):
        vs.networks(depth=(3, 2))
    with pytest.raises(BadInput):
        vs.networks(widths=(0, 4))
    with pytest.raises(BadInput):
        vs.losses(names=("hinge",))


def test_du_1_check_takes_a_parsed_quantity():
    """``verify.check(net, parse_quantity("..."))`` (issue 13): the parsed quantity gets the same verdict as
    its text, both ways; assert_conserved too; a bad name is the same clean error."""
    import verify
    from verify.errors import UnknownName
    from verify.lang.quantity import parse_quantity
    text = "sum(W1[i,:]**2) - sum(W2[:,i]**2)"
    relu, tanh = mlp((2, 3, 1), "relu"), mlp((2, 2, 1), "tanh")
    proven = verify.check(relu, verify.parse_quantity(text))
    assert isinstance(proven, Proven)
    assert proven.statement == check(relu, text).statement and text in proven.title
    refuted = check(tanh, parse_quantity(text))  # negative control: tanh is not 1-homogeneous
    assert isinstance(refuted, Refuted) and refuted.witness is not None
    assert refuted.exact_law == check(tanh, text).exact_law
    assert isinstance(assert_conserved(relu, parse_quantity(text)), Proven)
    with pytest.raises(NotConserved, match="witness"):
        assert_conserved(tanh, parse_quantity(text))
    assert as_quantity(parse_quantity(text), relu).text == text
    with pytest.raises(UnknownName, match="Closest: W2, W1"):
        check(relu, parse_quantity("sum(W9**2)"))


@settings(max_examples=5)
@given(vs.networks(depth=(2, 3), widths=(1, 3), activations=("relu", "leaky_relu"), bias=False))
def test_du_1_readme_strategy_example(model):
    """The snippet in the README, verbatim."""
    assert_conserved(model, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")


# --------------------------------------------------------------- GD increments (issue 14)
def test_du_3gd_check_increment_text_proven_and_det_control_refuted():
    """A user states DU-3gd on their own net in the quantity language; adding eta^2 det(G_W1) I
    (tr(M) M - M M for 2x2) must be refuted with an exact witness on a batch of 2 points."""
    from verify.proofs.du_hu_lee import DET_TERM, MATRIX_GD
    net = mlp((2, 2, 2), "identity")
    v = check(net, MATRIX_GD[0], dynamics="gd", increment=MATRIX_GD[1])
    assert isinstance(v, Proven) and MATRIX_GD[1] in v.statement
    assert any("every batch size N" in h for h in v.hypotheses)
    bad = check(net, MATRIX_GD[0], dynamics="gd", increment=MATRIX_GD[1] + DET_TERM)
    assert isinstance(bad, Refuted) and bad.witness.certified == "exact rational" and len(bad.witness.data) == 2


def test_du_1gd_jt_1_ex_1_check_increment_text():
    from verify.model import diagonal_net
    from verify.proofs.du_hu_lee import NEURON_GD
    from verify.proofs.ji_telgarsky import JT_GD
    from verify.proofs.related import EX1_GD
    relu = mlp((2, 3, 2), "relu")
    assert check(relu, NEURON_GD[0], dynamics="gd", increment=NEURON_GD[1]).verdict == "proven"
    wrong = "eta**2*(sum(G_W1[i,:]**2) - 2*sum(G_W2[:,i]**2))"  # wrong weight on the outgoing term
    assert check(relu, NEURON_GD[0], dynamics="gd", increment=wrong).verdict == "refuted"
    deep = mlp((2, 2, 2, 1), "identity")
    assert check(deep, JT_GD[0], dynamics="gd", increment=JT_GD[1]).verdict == "proven"
    flipped = "eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)"  # DU-3's orientation for JT-1's Q
    assert check(deep, JT_GD[0], dynamics="gd", increment=flipped).verdict == "refuted"
    diag = diagonal_net(2, 2)
    assert check(diag, EX1_GD[0], dynamics="gd", increment=EX1_GD[1]).verdict == "proven"
    assert check(diag, EX1_GD[0], dynamics="gd", increment="-" + EX1_GD[1]).verdict == "refuted"


def test_gd_increment_scalar_applies_to_every_entry():
    net = mlp((1, 1, 1), "identity")
    # Q = W1^2 - W2^2 is a scalar here; its exact GD increment eta^2 (G_W1^2 - G_W2^2)
    v = check(net, "W1 @ W1.T - W2.T @ W2", dynamics="gd", increment="eta**2*(G_W1[0,0]**2 - G_W2[0,0]**2)")
    assert v.verdict == "proven"


@pytest.mark.parametrize("kwargs, exc, needle", [
    (dict(increment="eta**2*G_W1", dynamics="flow"), BadInput, "dynamics 'gd'"),
    (dict(increment="eta**2*G_W3", dynamics="gd"), BadInput, "Closest: G_W"),
    (dict(increment="eta**2*(G_W1 @", dynamics="gd"), SpecError, "increment: unexpected end of the increment"),
    (dict(increment="eta**2*G_W1[0,:]", dynamics="gd"), BadInput, "give the increment the quantity's free indices"),
    (dict(increment="__import__('os')", dynamics="gd"), SpecError, "increment: unexpected"),
    (dict(increment="eta**2*G_W1 @ G_W1.T", dynamics="gd", n_data=1), BadInput, ">= 2 points"),
])
def test_gd_increment_bad_input(kwargs, exc, needle):
    net = mlp((2, 2, 2), "identity")
    with pytest.raises(exc, match=needle.replace("(", r"\(").replace("*", r"\*")):
        check(net, "W1 @ W1.T - W2.T @ W2", **kwargs)


def test_gd_increment_reserved_names_clash_with_a_parameter():
    from verify.testing.checking import as_increment
    from verify.model import Dense, Model, Param
    net = Model("eta-net", 2, (Param("eta", (1, 2)),), (Dense("eta"),))
    with pytest.raises(BadInput, match="reserves for the GD step"):
        as_increment("eta**2", net)
