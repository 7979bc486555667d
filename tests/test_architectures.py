"""Architectures beyond dense nets (issue 4): conv2d, avg/max pooling, residual blocks, Hadamard
w = u o u - v o v, normalisation (l2, layer norm, weight norm) and softmax attention.

Each layer is checked three ways: the hand-written backprop against central finite differences,
the symbolic interpretation against the numeric one at an exact point (forward and gradient), and
verdicts with negative controls (a quantity that must be refuted, with an exact witness that an
independent float computation confirms)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from verify.laws.lie_rank import check_supported

from verify.model.activations import get_activation
from verify.certificates import Proven, Refuted
from verify.testing.checking import as_quantity, check
from verify.errors import BadInput, SpecError
from verify.model import (Act, Attention, DiagonalLinear, Dense, Model, NormalizedDense, Normalize, Param, Pool,
                          Residual, conv2d_pattern, pool2d_windows)
from verify.prove.concrete import entries
from verify.interpret.numeric import fd_gradient, flat, forward, loss_and_grad, unflat
from verify.model.losses import loss_value_and_grad
from verify.lang.spec import load_spec, parse_spec
from verify.interpret.symbolic import symbolic_net
from verify.prove.trajectory import flow_drift
from verify.prove.witness import rational_point

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RELU = Act(get_activation("relu"))
TANH = Act(get_activation("tanh"))


def _model(name, input_dim, params, layers):
    return Model(name, input_dim, tuple(Param(n, s) for n, s in params), tuple(layers))


# One small model per new layer (and some compositions); every one is used by every cross-check.
MODELS = {
    "conv2d_multichannel_stride_padding": _model(
        "conv2d", 8, [("v1", (2 * 2 * 2 * 2,)), ("W2", (1, 2 * 2 * 2))],
        [Dense("v1", None, conv2d_pattern(2, 2, 2, stride=2, padding=1, channels=2, out_channels=2)), RELU,
         Dense("W2")]),
    "max_pool_2d": _model(
        "maxpool", 3, [("W1", (8, 3)), ("W2", (1, 2))],
        [Dense("W1"), RELU, Pool("max", pool2d_windows(2, 2, 2, channels=2)), Dense("W2")]),
    "avg_pool": _model(
        "avgpool", 3, [("W1", (4, 3)), ("W2", (1, 2))],
        [Dense("W1"), TANH, Pool("avg", ((0, 1), (1, 2, 3))), Dense("W2")]),
    "residual_nested": _model(
        "residual", 2, [("W1", (3, 2)), ("b1", (3,)), ("W2", (2, 3)), ("W3", (2, 2)), ("W4", (1, 2))],
        [Residual((Dense("W1", "b1"), RELU, Dense("W2"), Residual((Dense("W3"), TANH)))), Dense("W4")]),
    "hadamard_difference_depth3": _model(
        "u3-v3", 3, [("u", (3,)), ("v", (3,))], [DiagonalLinear(("u",) * 3, ("v",) * 3)]),
    "l2_normalize": _model(
        "l2", 2, [("W1", (3, 2)), ("W2", (2, 3))], [Dense("W1"), Normalize("l2"), Dense("W2")]),
    "layer_norm": _model(
        "layernorm", 2, [("W1", (3, 2)), ("W2", (1, 3))], [Dense("W1"), Normalize("layer"), RELU, Dense("W2")]),
    "weight_norm_bias": _model(
        "weightnorm", 2, [("W1", (2, 2)), ("b1", (2,)), ("W2", (1, 2))],
        [NormalizedDense("W1", "b1"), TANH, Dense("W2")]),
    "attention_value": _model(
        "attention", 4, [("Wq", (2, 1)), ("Wk", (2, 1)), ("Wv", (2, 3))], [Attention("Wq", "Wk", 2, "Wv")]),
    "attention_readout": _model(
        "attention+dense", 4, [("Wq", (2, 2)), ("Wk", (2, 2)), ("W2", (1, 4))],
        [Attention("Wq", "Wk", 2), Dense("W2")]),
}


@pytest.mark.parametrize("key, loss", [(k, "square") for k in sorted(MODELS)]
                         + [(k, "cross_entropy") for k in sorted(MODELS) if MODELS[k].output_dim > 1])
def test_arch_backprop_matches_finite_differences(key, loss):
    """Hand-written reverse mode (no SymPy) against central differences (error O(h^2) ~ 1e-10)."""
    model = MODELS[key]
    rng = np.random.default_rng(7)
    P = {p.name: rng.normal(size=p.shape) for p in model.params}
    X = rng.normal(size=(4, model.input_dim))
    k = model.output_dim
    T = rng.integers(0, k, size=(4, 1)) if loss == "cross_entropy" else rng.normal(size=(4, k))
    _, G = loss_and_grad(model, P, X, T, loss)

    def f(th):
        return loss_value_and_grad(loss, forward(model, unflat(model, th), X), T)[0]
    g = fd_gradient(f, flat(model, P))
    assert np.linalg.norm(g) > 1e-3  # a non-trivial gradient, so the comparison means something
    np.testing.assert_allclose(flat(model, G), g, rtol=1e-6, atol=1e-7)


def _floats(M, shape):
    return np.array([float(e) for e in M], dtype=float).reshape(shape)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_arch_symbolic_and_numeric_interpretations_agree(key):
    """At an exact rational point (regions from the exact arg-max / signs, t = sqrt(B), e = exp(S)),
    the symbolic outputs and the SymPy-derived gradient equal the NumPy forward and backprop."""
    model = MODELS[key]
    net = symbolic_net(model)
    rng = np.random.default_rng(1)
    drawn = next(d for d in (rational_point(net, rng) for _ in range(50)) if d is not None)
    subs, regions, targets = drawn
    P = {p.name: _floats(net.params[p.name].xreplace(subs), p.shape) for p in model.params}
    X = _floats(net.inputs[0].xreplace(subs), (1, model.input_dim))
    y_sym = _floats(net.outputs[0].xreplace(subs), (1, model.output_dim))
    np.testing.assert_allclose(y_sym, forward(model, P, X), rtol=1e-12, atol=1e-12)
    T = np.array([[float(t) for t in targets[0]]])
    _, G = loss_and_grad(model, P, X, T)
    g_sym = np.array([float(net.gradient[t].xreplace(subs)) for t in net.theta])
    np.testing.assert_allclose(g_sym, flat(model, G), rtol=1e-10, atol=1e-12)


def _conv2d_reference(img, kernel, stride, padding):
    """Direct cross-correlation of a (C, H, W) image with a (O, C, kh, kw) kernel, zero padding."""
    C, H, W = img.shape
    O, _, kh, kw = kernel.shape
    padded = np.zeros((C, H + 2 * padding, W + 2 * padding))
    padded[:, padding:padding + H, padding:padding + W] = img
    oh, ow = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    out = np.zeros((O, oh, ow))
    for o in range(O):
        for r in range(oh):
            for q in range(ow):
                out[o, r, q] = np.sum(padded[:, r * stride:r * stride + kh, q * stride:q * stride + kw] * kernel[o])
    return out


@pytest.mark.parametrize("C, H, W, O, k, stride, padding", [
    (1, 3, 3, 1, 2, 1, 0), (2, 4, 3, 3, (2, 3), 1, 1), (3, 5, 5, 2, 3, 2, 1), (1, 4, 4, 2, 2, 2, 0)])
def test_arch_conv2d_pattern_is_a_convolution(C, H, W, O, k, stride, padding):
    rng = np.random.default_rng(0)
    kh, kw = (k, k) if isinstance(k, int) else k
    kernel = rng.normal(size=(O, C, kh, kw))
    img = rng.normal(size=(C, H, W))
    pat = np.asarray(conv2d_pattern(H, W, k, stride, padding, channels=C, out_channels=O))
    Wmat = np.concatenate([[0.0], kernel.ravel()])[pat]
    np.testing.assert_allclose(Wmat @ img.ravel(), _conv2d_reference(img, kernel, stride, padding).ravel(),
                               rtol=1e-12, atol=1e-12)


def test_arch_pool2d_windows_cover_each_channel():
    assert pool2d_windows(2, 4, 2, channels=2) == ((0, 1, 4, 5), (2, 3, 6, 7), (8, 9, 12, 13), (10, 11, 14, 15))


# (model, quantity, verdict): known facts (proven) and negative controls (refuted).
VERDICTS = [
    # conv2d: the whole-kernel / read-out balance (Du, Hu & Lee's law for shared weights)
    ("conv2d_multichannel_stride_padding", "norm(v1)**2 - norm(W2)**2", "proven"),
    ("conv2d_multichannel_stride_padding", "norm(v1)**2 - 2*norm(W2)**2", "refuted"),
    # max pooling of ReLU units is jointly 1-homogeneous per window: per-window balance
    ("max_pool_2d", "sum(W1[0:4,:]**2) - W2[0,0]**2", "proven"),
    ("max_pool_2d", "norm(W1)**2 - norm(W2)**2", "proven"),
    ("max_pool_2d", "sum(W1[0,:]**2) - W2[0,0]**2", "refuted"),  # one unit of a window: not balanced
    ("avg_pool", "norm(W1)**2 - norm(W2)**2", "refuted"),  # tanh: not homogeneous
    # residual: balance inside the block; none across the skip connection
    ("residual_nested", "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "proven"),
    ("residual_nested", "sum(W1[i,:]**2) - sum(W2[:,i]**2)", "refuted"),  # bias dropped
    ("residual_nested", "norm(W2)**2 - norm(W4)**2", "refuted"),
    # Hadamard w = u^3 - v^3: u' = -3u^2 g, v' = 3v^2 g, so 1/u + 1/v is conserved, but not u*v
    ("hadamard_difference_depth3", "u[i]*v[i]", "refuted"),
    ("hadamard_difference_depth3", "1/u[i] + 1/v[i]", "proven"),
    # scale invariance: <W, grad_W L> = 0
    ("l2_normalize", "norm(W1)**2", "proven"),
    ("l2_normalize", "norm(W2)**2", "refuted"),
    ("l2_normalize", "sum(W1[0,:]**2)", "refuted"),  # only the whole matrix is scale-invariant
    ("layer_norm", "norm(W1)**2", "proven"),
    ("layer_norm", "norm(W2)**2", "refuted"),
    ("weight_norm_bias", "sum(W1[i,:]**2)", "proven"),
    ("weight_norm_bias", "norm(b1)**2", "refuted"),
    # attention: scores depend on Wq Wk^T only
    ("attention_value", "Wq.T @ Wq - Wk.T @ Wk", "proven"),
    ("attention_value", "Wq @ Wq.T - Wk @ Wk.T", "refuted"),
    ("attention_readout", "Wq.T @ Wq - Wk.T @ Wk", "proven"),
    ("attention_readout", "Wq @ Wq.T - Wk @ Wk.T", "refuted"),
    ("attention_readout", "norm(Wq)**2 - norm(W2)**2", "refuted"),
]


@pytest.mark.parametrize("key, quantity, expected", VERDICTS)
def test_arch_verdicts_with_negative_controls(key, quantity, expected):
    v = check(MODELS[key], quantity)
    assert v.verdict == expected, v
    if expected == "refuted":
        assert v.witness.value != "0" and v.witness.certified


def test_arch_hadamard_difference_u_times_v_is_conserved():
    """w = u o u - v o v: u' = -2 u g, v' = 2 v g, so d(u v)/dt = 0 (and u^2 - v^2 = w moves)."""
    model = _model("u2-v2", 3, [("u", (3,)), ("v", (3,))], [DiagonalLinear(("u", "u"), ("v", "v"))])
    assert isinstance(check(model, "u[i]*v[i]"), Proven)
    assert isinstance(check(model, "u[i]**2 - v[i]**2"), Refuted)


def _targets(loss_text: str) -> np.ndarray:
    """The square-loss targets written in a witness ('... with t = [[1/2, -3]]')."""
    inner = loss_text.split("t = ", 1)[1]
    return np.array([[float(Fraction(e)) for e in re.findall(r"-?\d+(?:/\d+)?", row)]
                     for row in re.findall(r"\[([^\[\]]*)\]", inner)])


@pytest.mark.parametrize("key, quantity", [
    ("max_pool_2d", "sum(W1[0,:]**2) - W2[0,0]**2"),
    ("residual_nested", "norm(W2)**2 - norm(W4)**2"),
    ("l2_normalize", "norm(W2)**2"),
    ("attention_readout", "norm(Wq)**2 - norm(W2)**2"),
])
def test_arch_witness_confirmed_by_independent_float_backprop(key, quantity):
    """dQ/dt = -<grad Q, grad L> at the witness, with grad L from the NumPy backprop (not SymPy)."""
    model = MODELS[key]
    v = check(model, quantity)
    assert isinstance(v, Refuted)
    w = v.witness
    P = {p.name: np.array([[float(Fraction(e)) for e in row] for row in w.params[p.name]]).reshape(p.shape)
         for p in model.params}
    X = np.array([[float(Fraction(e)) for e in row] for row in w.data])
    _, G = loss_and_grad(model, P, X, _targets(w.loss))
    Psym = {p.name: sp.Matrix(sp.symarray(p.name, p.shape)) for p in model.params}
    Psym = {p.name: Psym[p.name].reshape(*p.shape) if len(p.shape) == 2 else Psym[p.name] for p in model.params}
    (_, q), = entries(as_quantity(quantity, model).build(Psym))  # a scalar quantity
    point = {s: float(val) for p in model.params for s, val in zip(Psym[p.name], np.ravel(P[p.name]))}
    dq = -sum(float(q.diff(s).subs(point)) * g
              for p in model.params for s, g in zip(Psym[p.name], np.ravel(G[p.name])))
    assert dq == pytest.approx(w.value_float, rel=1e-9, abs=1e-12)


def test_arch_attention_flow_trajectory_conserves_the_k_by_k_law():
    """solve_ivp (rtol 1e-10) along the real flow: Wq^T Wq - Wk^T Wk stays, Wq Wq^T - Wk Wk^T drifts."""
    model = MODELS["attention_readout"]
    assert flow_drift(model, as_quantity("Wq.T @ Wq - Wk.T @ Wk", model)).relative_drift < 1e-9
    assert flow_drift(model, as_quantity("Wq @ Wq.T - Wk @ Wk.T", model)).relative_drift > 1e-4


def test_arch_weight_decay_reports_exact_law_under_normalisation():
    v = check(MODELS["layer_norm"], "norm(W1)**2", weight_decay=True)
    assert isinstance(v, Refuted) and v.exact_law.startswith("dQ/dt = (-2*lambda)*Q")


# (spec file, quantity, verdict): the six example specs of these architectures.
NEW_EXAMPLE_VERDICTS = [
    ("conv2d_maxpool.toml", "norm(v1)**2 - norm(W2)**2", "proven"),
    ("conv2d_maxpool.toml", "sum(v1[0:4]**2) - W2[0,0]**2", "proven"),
    ("conv2d_maxpool.toml", "sum(v1[0:4]**2) - W2[0,1]**2", "refuted"),
    ("residual_relu.toml", "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "proven"),
    ("residual_relu.toml", "norm(W2)**2 - norm(W3)**2", "refuted"),
    ("attention_readout.toml", "Wq1.T @ Wq1 - Wk1.T @ Wk1", "proven"),
    ("attention_readout.toml", "Wq1 @ Wq1.T - Wk1 @ Wk1.T", "refuted"),
    ("layernorm_relu.toml", "norm(W1)**2", "proven"),
    ("layernorm_relu.toml", "norm(W2)**2", "refuted"),
    ("weightnorm_relu.toml", "sum(W1[i,:]**2)", "proven"),
    ("weightnorm_relu.toml", "b1[i]**2 - sum(W2[:,i]**2)", "refuted"),
    ("hadamard_difference.toml", "u[i]*v[i]", "proven"),
    ("hadamard_difference.toml", "u[i]**2 - v[i]**2", "refuted"),
]


@pytest.mark.parametrize("spec, quantity, expected", NEW_EXAMPLE_VERDICTS)
def test_arch_examples_get_their_verdicts(spec, quantity, expected):
    assert check(load_spec(EXAMPLES / spec), quantity).verdict == expected


def test_arch_spec_builds_the_same_model_as_the_python_api():
    m = load_spec(EXAMPLES / "conv2d_maxpool.toml")
    assert m.layers[0] == Dense("v1", None, conv2d_pattern(3, 3, 2, out_channels=2))
    assert m.layers[2] == Pool("max", pool2d_windows(2, 2, 2, channels=2))
    r = load_spec(EXAMPLES / "residual_relu.toml")
    assert r.layers[0] == Residual((Dense("W1", "b1"), RELU, Dense("W2"))) and r.output_dim == 1
    h = load_spec(EXAMPLES / "hadamard_difference.toml")
    assert h.layers == (DiagonalLinear(("u", "u"), ("v", "v")),)


_RES = "input = 2\n[[layer]]\ntype = 'residual'\n[[layer.block]]\ntype = 'dense'\nout = {out}\n"


@pytest.mark.parametrize("text, needle", [
    (_RES.format(out=0), ":4 (layer 1.1)"),  # nested header line and position
    (_RES.format(out=3), ":2 (layer 1)"),
    (_RES.format(out=3), "make the block's last layer output 2"),
    ("input = 2\n[[layer]]\ntype = 'residual'\n", "[[layer.block]]"),
    ("input = 8\n[[layer]]\ntype = 'conv2d'\nheight = 3\nwidth = 3\nkernel = 2\n", "not channels x 3 x 3"),
    ("input = 4\n[[layer]]\ntype = 'conv2d'\nheight = 2\nwidth = 2\nkernel = 3\n", "lower the kernel"),
    ("input = 4\n[[layer]]\ntype = 'pool'\nkind = 'max'\nwindows = [[0, 4]]\n", "out of range 0..3"),
    ("input = 4\n[[layer]]\ntype = 'pool'\nkind = 'min'\nsize = 2\n", "'avg', 'max'"),
    ("input = 4\n[[layer]]\ntype = 'pool'\nkind = 'avg'\nsize = 2\nwindows = [[0]]\n", "not both"),
    ("input = 5\n[[layer]]\ntype = 'attention'\ntokens = 2\n", "not a multiple of tokens"),
    ("input = 1\n[[layer]]\ntype = 'normalize'\n", "width >= 2"),
    ("input = 2\n[[layer]]\ntype = 'normalize'\nkind = 'batch'\n", "'l2', 'layer'"),
    ("input = 1\n[[layer]]\ntype = 'dense'\nout = 2\nweight_norm = true\n", "drop weight_norm"),
    ("input = 2\n[[layer]]\ntype = 'diagonal'\nform = 'sum'\n", "'product', 'difference'"),
    ("input = 2\n[[layer]]\ntype = 'attention'\ntokens = 1\nheads = 2\n", "unknown key(s) ['heads']"),
])
def test_arch_spec_errors_name_the_place_and_the_fix(text, needle):
    with pytest.raises(SpecError, match=re.escape(needle)):
        parse_spec(text, "s.toml")


@pytest.mark.parametrize("build, needle", [
    (lambda: _model("r", 2, [("W1", (3, 2))], [Residual((Dense("W1"),))]), "x + block(x) needs equal widths"),
    (lambda: _model("p", 2, [], [Pool("max", ((0, 2),))]), "0..1"),
    (lambda: _model("p", 2, [], [Pool("median", ((0, 1),))]), "use one of avg, max"),
    (lambda: _model("a", 4, [("Q", (2, 2)), ("K", (2, 3))], [Attention("Q", "K", 2)]), "must both have shape"),
    (lambda: _model("n", 3, [], [Normalize("batch")]), "use one of l2, layer"),
    (lambda: conv2d_pattern(2, 2, 3), "lower the kernel or add padding"),
    (lambda: check_supported(load_spec(EXAMPLES / "residual_relu.toml")),
     "discover cannot handle layer 1 (Residual)"),
])
def test_arch_python_api_errors_say_what_to_do(build, needle):
    with pytest.raises(BadInput, match=re.escape(needle)):
        build()


def test_arch_check_cli_on_attention_example():
    spec = str(EXAMPLES / "attention_readout.toml")
    p = subprocess.run([sys.executable, "-m", "verify", "check", spec, "--quantity", "Wq1.T @ Wq1 - Wk1.T @ Wk1",
                        "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and json.loads(p.stdout)["verdict"] == "proven"
    p = subprocess.run([sys.executable, "-m", "verify", "check", spec, "--quantity", "Wq1 @ Wq1.T - Wk1 @ Wk1.T"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and "witness" in p.stdout
