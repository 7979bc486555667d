"""GELU and user-defined activation formulas: safe parsing, both interpretations, verdicts.

DU-1 needs a homogeneous activation; a user formula declares no degree, so the engine must prove
DU-1 only when the formula really is linear (2*z) and refute it, with an exact witness, for
swish and GELU (negative controls).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.lang.formula import custom
from verify.model.activations import get_activation
from verify.certificates import Proven, Refuted
from verify.testing.checking import check
from verify.errors import SpecError
from verify.lang.formula import FUNCTIONS, Z, parse_formula
from verify.model import mlp
from verify.interpret.numeric import fd_gradient, flat, loss_and_grad, unflat
from verify.lang.spec import parse_spec

DU1 = "sum(W1[i,:]**2) - sum(W2[:,i]**2)"


def test_formula_parses_exactly():
    assert parse_formula("0.5*z*(1 + erf(z/sqrt(2)))") == Z * (1 + sp.erf(Z / sp.sqrt(2))) / 2
    assert parse_formula("z*sigmoid(z)") == Z / (1 + sp.exp(-Z))
    assert parse_formula(" -z**2 + pi") == -Z**2 + sp.pi


@pytest.mark.parametrize("text, column, what", [
    ("__import__('os')", 1, "unknown function '__import__'"),
    ("z.real", 1, "Attribute is not allowed"),
    ("lambda: z", 1, "Lambda is not allowed"),
    ("x*z", 1, "unknown name 'x'"),
    ("z + y", 5, "unknown name 'y'"),
    ("exp(z, 2)", 1, "exactly one argument"),
    ("9**9**9", 1, "too large"),
    ("z/0", 1, "division by zero"),
    ("3", 1, "does not depend on z"),
    ("'z'", 1, "not a number"),
    ("tahn(z)", 1, "did you mean 'tanh'"),
])
def test_formula_errors_name_the_column(text, column, what):
    with pytest.raises(SpecError) as exc:
        parse_formula(text)
    msg = str(exc.value)
    assert what in msg and f"column {column}:" in msg, msg


_ALPHABET = "z0123456789.+-*/() ,_abceilnopqrstwxE\n'"
_PIECES = st.sampled_from(["z", "2", "0.5", "+", "-", "*", "/", "**", "(", ")", " ", *[f"{f}(" for f in FUNCTIONS],
                           "__import__(", "[", "]", "lambda", ",", ".", "pi", "E", "open("])


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(_ALPHABET, max_size=40), st.lists(_PIECES, max_size=14).map("".join)))
def test_formula_fuzz_only_clean_errors(text):
    """Arbitrary text: either an expression in z alone, or a SpecError naming a column."""
    try:
        expr = parse_formula(text)
    except SpecError as exc:
        assert "activation formula" in str(exc)
        return
    assert expr.free_symbols == {Z}


@pytest.mark.parametrize("act", [get_activation("gelu"), custom("z*sigmoid(z)", "swish"),
                                 custom("log(1 + exp(z)) - log(2)")])
def test_numeric_derivative_matches_finite_differences(act):
    z = np.linspace(-4, 4, 41)
    h = 1e-6
    fd = (act.numpy(z + h) - act.numpy(z - h)) / (2 * h)
    np.testing.assert_allclose(act.numpy_derivative(z), fd, rtol=1e-6, atol=1e-8)


def test_gelu_numeric_matches_its_sympy_formula():
    g = get_activation("gelu")
    for v in (sp.Rational(-2), sp.Rational(1, 3), sp.Rational(3)):
        assert abs(float(g.sympy_closed(v)) - g.numpy(np.array(float(v)))) < 1e-14


def test_backprop_through_formula_activation_matches_finite_differences():
    model = mlp([3, 4, 2], custom("z*tanh(z) + z", "mix"), bias=True)
    rng = np.random.default_rng(0)
    P = {p.name: rng.normal(size=p.shape) for p in model.params}
    X, T = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    _, G = loss_and_grad(model, P, X, T)
    fd = fd_gradient(lambda th: loss_and_grad(model, unflat(model, th), X, T)[0], flat(model, P))
    np.testing.assert_allclose(flat(model, G), fd, rtol=1e-6, atol=1e-8)


def test_du_1_formula_linear_is_proven():
    assert isinstance(check(mlp([2, 2, 1], custom("2*z")), DU1), Proven)


@pytest.mark.parametrize("act", ["gelu", "swish"])
def test_du_1_negative_control_gelu_and_swish_are_refuted(act):
    a = get_activation("gelu") if act == "gelu" else custom("z*sigmoid(z)", "swish")
    verdict = check(mlp([2, 2, 1], a), DU1)
    assert isinstance(verdict, Refuted)
    assert verdict.witness.value_float != 0 and "certified" in verdict.witness.certified


def test_spec_formula_activation_and_errors():
    spec = '''input = 2
[[layer]]
type = "dense"
out = 2
[[layer]]
type = "activation"
name = "swish"
formula = "{f}"
[[layer]]
type = "dense"
out = 1
'''
    model = parse_spec(spec.format(f="z*sigmoid(z)"), "s.toml")
    assert model.layers[1].activation.name == "swish"
    with pytest.raises(SpecError, match=r"s\.toml:5 \(layer 2\): activation formula .*column 1: unknown function 'eval'"):
        parse_spec(spec.format(f="eval(z)"), "s.toml")


def test_du_1_swish_example_spec_is_refuted():
    from pathlib import Path

    from verify.lang.spec import load_spec
    model = load_spec(Path(__file__).resolve().parents[1] / "examples" / "swish_formula.toml")
    assert isinstance(check(model, DU1), Refuted)
