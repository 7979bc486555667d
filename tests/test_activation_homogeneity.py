"""Activation homogeneity derived by SymPy (issue 18, item 4), not only declared.

Covers: the derivation (proof piecewise on z<0, z=0, z>0 for abs, sqrt(z**2), Max/Min, Heaviside,
Piecewise, sign; an exact witness against every degree otherwise), its agreement with the declared
property of every built-in activation, DU-1 per-neuron balance proven through ``verify check`` for
abs(z) and sqrt(z**2) with the derivation cited, the negative controls z**2 + z and abs(z) + 1, and
bad input. Every witness is re-evaluated here from the formula itself, independently of the module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.certificates import Proven, Refuted
from verify.errors import SpecError
from verify.lang.formula import FUNCTIONS, custom, parse_formula
from verify.lang.spec import load_spec, parse_spec
from verify.model import mlp
from verify.model.activations import ACTIVATIONS, Z, Activation, leaky_relu, relu_power
from verify.model.homogeneity import Homogeneous, NotHomogeneous, Underived, derive_homogeneity
from verify.testing.checking import check

ROOT = Path(__file__).resolve().parents[1]
DU1 = "sum(W1[i,:]**2) - sum(W2[:,i]**2)"
#: (spec, quantity, verdict): the README's example-verdict rows of examples/abs_balance.toml
ABS_EXAMPLE_VERDICTS = [
    ("abs_balance.toml", DU1, "proven"),
    ("abs_balance.toml", "sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)", "refuted"),
]
_SCALES = [sp.Rational(1, 3), sp.Integer(2), sp.Rational(5, 2)]
_ZS = [sp.Rational(-7, 3), sp.Integer(-1), sp.Integer(0), sp.Rational(1, 2), sp.Integer(3)]
_DIGITS = 50


def _n(v: sp.Expr) -> sp.Float:
    return sp.N(v, _DIGITS)


def assert_identity_at_points(phi: sp.Expr, k: sp.Expr) -> None:
    """phi(c z) = c**k phi(z) at rational points, evaluated from the formula (not from the module)."""
    for c in _SCALES:
        for z in _ZS:
            gap = phi.subs(Z, c * z) - c**k * phi.subs(Z, z)
            assert sp.simplify(gap) == 0, (phi, k, c, z, gap)


def assert_witness_exact(phi: sp.Expr, h: NotHomogeneous) -> None:
    """The witness refutes phi(c z) = c**k phi(z) for every k, checked from the formula itself."""
    for c, z, a, b in h.points:
        assert c.is_Rational and c > 0 and z.is_Rational
        assert sp.simplify(phi.subs(Z, z) - a) == 0 and sp.simplify(phi.subs(Z, c * z) - b) == 0
    tiny = sp.Float(10) ** -20
    if len(h.points) == 1:
        c, z, a, b = h.points[0]
        if a == 0 or b == 0:
            assert abs(_n(a + b)) > tiny  # exactly one of them is 0: c**k * a = b fails for every k
        else:
            assert _n(b / a) < -tiny  # c**k > 0 for every real k
        return
    (c1, z1, a1, b1), (c2, z2, a2, b2) = h.points
    assert c1 == c2 and z1 != z2
    assert abs(_n(a1)) > tiny and abs(_n(a2)) > tiny
    r1, r2 = _n(b1 / a1), _n(b2 / a2)
    assert abs(r1 - r2) > tiny
    if r1 > 0:  # the only degree the first point allows fails at the second one
        k = sp.log(b1 / a1) / sp.log(c1)
        assert abs(_n(b2 - c2**k * a2)) > tiny


# -- the derivation on piecewise forms ------------------------------------------------------------

@pytest.mark.parametrize("phi, k, slopes", [
    (sp.Abs(Z), 1, (1, -1)),
    (sp.sqrt(Z**2), 1, (1, -1)),
    (Z * sp.sign(Z), 1, (1, -1)),
    (sp.Max(Z, 0), 1, (1, 0)),
    (sp.Min(Z, 0), 1, (0, 1)),
    (Z * sp.Heaviside(Z), 1, (1, 0)),
    (sp.Piecewise((Z, Z > 0), (Z / 5, True)), 1, (1, sp.Rational(1, 5))),
    (sp.Max(Z, 0) ** 3, 3, (1, 0)),
    (Z * sp.Abs(Z), 2, (1, -1)),
    (3 * Z**2, 2, (3, 3)),
])
def test_derived_homogeneous_piecewise(phi, k, slopes):
    h = derive_homogeneity(phi, Z)
    assert isinstance(h, Homogeneous) and h.degree == k and h.slopes == tuple(sp.Rational(s) for s in slopes)
    assert "proven piecewise on z<0" in h.text() and "z=0 (phi(0) = 0)" in h.text()
    assert_identity_at_points(phi, h.degree)


def test_derived_homogeneous_of_non_integer_degree_is_not_written_on_regions():
    h = derive_homogeneity(parse_formula("abs(z)**1.5"), Z)
    assert isinstance(h, Homogeneous) and h.degree == sp.Rational(3, 2) and h.slopes is None
    act = custom("abs(z)**1.5")
    assert act.degree is None and "needs an integer k >= 1" in act.property_text()


@pytest.mark.parametrize("text, why", [("z/abs(z)", "phi(0) = nan is undefined"), ("log(z)", "phi(0) = zoo is undefined"),
                                       ("sqrt(z)", "phi(-1) = I is not a real number")])
def test_undefined_or_not_real_is_underived(text, why):
    h = custom(text).homogeneity
    assert isinstance(h, Underived) and why in h.reason


# -- agreement with the declared property of every built-in activation ----------------------------

BUILTINS = {**dict(ACTIVATIONS), "relu_power(3)": relu_power(3), "relu_power(4)": relu_power(4),
            "leaky_relu(1/4)": leaky_relu("1/4"), "leaky_relu(0)": leaky_relu(0)}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_derived_property_agrees_with_declared(name):
    act: Activation = BUILTINS[name]
    phi = act.definition()
    if phi is None:  # the generic activation: degree declared, no function to derive from
        assert name == "homogeneous" and act.slopes is None
        return
    h = derive_homogeneity(phi, Z)
    if act.is_homogeneous:
        assert isinstance(h, Homogeneous), (name, h.text())
        assert h.degree == act.degree and h.slopes == act.slopes
        assert_identity_at_points(phi, h.degree)
    else:
        assert isinstance(h, NotHomogeneous), (name, h.text())
        assert_witness_exact(phi, h)


# -- negative controls --------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["z**2 + z", "abs(z) + 1", "abs(z - 1)", "z + abs(z) + z**2 - z*abs(z)"])
def test_not_homogeneous_formula_refuted_with_exact_witness(text):
    act = custom(text)
    assert isinstance(act.homogeneity, NotHomogeneous) and act.degree is None
    assert_witness_exact(act.formula, act.homogeneity)
    assert "not positively homogeneous of any degree" in act.property_text()


@pytest.mark.parametrize("text", ["z**2 + z", "abs(z) + 1"])
def test_du_1_negative_control_balance_not_proven(text):
    v = check(mlp([2, 3, 1], custom(text)), DU1)
    assert isinstance(v, Refuted) and v.witness is not None and v.witness.value != "0"


def test_mixed_degrees_name_each_side():
    h = custom("z + abs(z) + z**2 - z*abs(z)").homogeneity  # 2z on z > 0, 2z**2 on z < 0
    assert isinstance(h, NotHomogeneous) and len(h.points) == 2
    assert dict(h.candidates) == {"z>0": 1, "z<0": 2}


# -- DU-1 per-neuron balance through verify check -----------------------------------------------

@pytest.mark.parametrize("text", ["abs(z)", "sqrt(z**2)", "-3*abs(z)", "2*abs(z) - z"])
def test_du_1_balance_proven_for_derived_homogeneous_formula(text):
    act = custom(text, "phi")
    assert act.degree == 1 and act.slopes is not None and act.slopes[0] != act.slopes[1]
    v = check(mlp([2, 3, 1], act), DU1)
    assert isinstance(v, Proven)
    cited = [h for h in v.hypotheses if h.startswith("phi:")]
    assert len(cited) == 1 and "derived by SymPy: phi(c*z) = c**1*phi(z)" in cited[0]
    assert "proven piecewise on z<0" in cited[0]


def test_du_1_randomized_route_uses_the_derived_regions():
    v = check(mlp([2, 3, 1], custom("abs(z)")), DU1, method="randomized")
    assert v.verdict == "proven (randomized)"


def test_polynomial_homogeneous_formula_keeps_its_closed_form():
    """2*z is homogeneous without a kink: it stays a closed form, so the linear-net law W1 W1^T - W2^T W2
    (which needs one constant shared by every unit) stays proven; abs(z) has a kink and refutes it."""
    lin = custom("2*z")
    assert isinstance(lin.homogeneity, Homogeneous) and lin.degree is None
    assert check(mlp([2, 2, 2], lin), "W1 @ W1.T - W2.T @ W2").verdict == "proven"
    assert check(mlp([2, 2, 2], custom("abs(z)")), "W1 @ W1.T - W2.T @ W2").verdict == "refuted"


@pytest.mark.parametrize("spec, quantity, expected", ABS_EXAMPLE_VERDICTS)
def test_du_1_abs_example_gets_its_verdict(spec, quantity, expected):
    assert check(load_spec(ROOT / "examples" / spec), quantity).verdict == expected


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_du_1_cli_prints_the_derivation():
    p = _cli("check", "examples/abs_balance.toml", "--quantity", DU1)
    assert p.returncode == 0 and "PROVEN" in p.stdout, p.stdout + p.stderr
    assert "abs: homogeneous of degree 1" in p.stdout and "derived by SymPy" in p.stdout


@pytest.mark.parametrize("formula, needle", [
    ("abs(z, 2)", "abs takes exactly one argument"),
    ("abs()", "abs takes exactly one argument"),
    ("abs(z)**99", "exponent 99 is too large"),
    ("ab(z)", "did you mean 'abs'"),
])
def test_bad_abs_formula_one_line_exit_2(tmp_path, formula, needle):
    spec = (ROOT / "examples" / "abs_balance.toml").read_text().replace('"abs(z)"', repr(formula).replace("'", '"'))
    path = tmp_path / "bad.toml"
    path.write_text(spec)
    p = _cli("check", str(path), "--quantity", DU1)
    assert p.returncode == 2 and needle in p.stderr and p.stderr.count("\n") == 1, p.stderr
    with pytest.raises(SpecError, match="column 1"):
        parse_spec(spec, "bad.toml")


# -- soundness on drawn formulas ----------------------------------------------------------------

_LEAVES = st.sampled_from(["z", "z", "2", "0.5", "-1", "3"])
_FORMULAS = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.builds(lambda f, a: f"{f}({a})", st.sampled_from(sorted(FUNCTIONS)), inner),
    st.builds(lambda a, op, b: f"({a}){op}({b})", inner, st.sampled_from(["+", "-", "*", "/"]), inner),
    st.builds(lambda a, e: f"({a})**{e}", inner, st.sampled_from(["2", "3"]))), max_leaves=5)


@settings(max_examples=30)
@given(_FORMULAS)
def test_derivation_sound_on_drawn_formulas(text):
    """Whatever the formula: a proof holds at rational points, a witness is exact, or nothing is claimed."""
    try:
        phi = parse_formula(text)
    except SpecError:
        return
    h = derive_homogeneity(phi, Z)
    if isinstance(h, Homogeneous):
        assert_identity_at_points(phi, h.degree)
    elif isinstance(h, NotHomogeneous):
        assert_witness_exact(phi, h)
    else:
        assert isinstance(h, Underived) and h.reason


def test_checkers_reject_wrong_claims():
    """Controls for the two checkers above: a wrong degree and a fabricated witness are caught."""
    with pytest.raises(AssertionError):
        assert_identity_at_points(sp.Abs(Z), 2)
    with pytest.raises(AssertionError):  # relu is homogeneous: no point can refute it
        assert_witness_exact(sp.Max(Z, 0), NotHomogeneous(((sp.Integer(2), sp.Integer(1), sp.Integer(1), sp.Integer(2)),
                                                           (sp.Integer(2), sp.Integer(3), sp.Integer(3), sp.Integer(6))),
                                                          "fabricated", "none"))
    with pytest.raises(AssertionError):  # values that are not phi's
        assert_witness_exact(sp.Abs(Z), NotHomogeneous(((sp.Integer(2), sp.Integer(1), sp.Integer(0), sp.Integer(2)),),
                                                       "fabricated", "none"))


def test_proof_through_a_refuted_formula_cites_the_witness():
    """sum(b2) under cross-entropy needs no homogeneity: proven, and the hypothesis line says why the
    formula z**2 + z is not homogeneous (the exact witness)."""
    v = check(mlp([2, 2, 2], custom("z**2 + z", "quad"), bias=True), "sum(b2)", loss="cross_entropy")
    assert isinstance(v, Proven)
    cited = [h for h in v.hypotheses if h.startswith("quad:")]
    assert len(cited) == 1 and "not positively homogeneous of any degree: c = 2, z = -1" in cited[0]


def test_undecided_verdict_reports_the_derivation():
    """abs(z)**1.5 is homogeneous of degree 3/2, not an integer: kept as a closed form, and an undecided
    verdict through it says so."""
    v = check(mlp([2, 2, 1], custom("abs(z)**1.5", "p")), "sum(W1[i,:]**2) - 3/2*sum(W2[:,i]**2)")
    assert v.verdict == "undecided"
    assert "c**(3/2)" in v.evidence["activation p"] and "needs an integer k" in v.evidence["activation p"]
