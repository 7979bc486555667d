"""Tests of ``verify.discover``: hand-derived counts, proofs, span of the known families.

Hand derivations (f is the network output; a law must satisfy <grad Q, grad_theta f_j(x)> = 0):

* 1-1-1 linear, f = v u x: grad f = x (v, u); W(theta) = span{(v, u)}, dim 1, and brackets of
  multiples of one field vanish, so the count is D - 1 = 1; the law is u^2 - v^2.
* The same net with momentum on (t, u, v, u', v'): the fields fill the 5-dimensional state (no law;
  the angular-momentum law of Marcotte et al. 2024 needs two hidden units, r(r-1)/2 = 0).
* 3-2-3 linear (U: 2x3, V: 3x2, f = V U x): the fibre of theta -> VU is the GL(2) orbit (dim 4), so
  dim W = 12 - 4 = 8; brackets add the skew part (dim 1): count 12 - 9 = 3 = r(r+1)/2 with r = 2,
  the entries of U U^T - V^T V (DU-3).
* 3-2-2 ReLU: on a region the two hidden units are independent rescalings: count 2 (one DU-1 law
  per hidden unit), and W is already closed under brackets.
* diagonal net n=3, L=2 (f = <u * v, x>): per coordinate the field (v_i x_i, u_i x_i) spans one of two
  directions: count 3, laws u_i^2 - v_i^2 (EX-1). For L=3 each coordinate has 3 parameters and one
  direction: 2 laws per coordinate, 4 for n = 2 (EX-2).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from verify.model.activations import leaky_relu
from verify.certificates import Proven, Refuted
from verify.laws.discovery import discover
from verify.errors import BadInput
from verify.laws.lie_rank import lie_rank
from verify.model import diagonal_net, mlp
from verify.laws.regions import Region, sample_region
from verify.prove.concrete import QuantityFn, entries, prove_conserved
from verify.interpret.symbolic import param_matrices
from proofs.du_hu_lee import matrix_balance, neuron_balance


def _law_expr(law) -> sp.Expr:
    expr = sp.Integer(0)
    for c, mon in law.terms:
        term = sp.Rational(c)
        for name in mon:
            term *= sp.Symbol(name, real=True)
        expr += term
    return expr


def _in_span(basis: list[sp.Expr], target: sp.Expr) -> bool:
    """Exact rational span test over the monomials of the polynomials involved."""
    polys = [sp.expand(b).as_coefficients_dict() for b in basis]
    t = sp.expand(target).as_coefficients_dict()
    mons = sorted({m for p in polys + [t] for m in p}, key=str)
    A = sp.Matrix([[p.get(m, 0) for p in polys] for m in mons])
    Ab = A.row_join(sp.Matrix([t.get(m, 0) for m in mons]))
    return A.rank() == Ab.rank()


def _family(model, quantity: QuantityFn) -> list[sp.Expr]:
    return [q for _, q in entries(quantity.build(param_matrices(model)))]


def test_discover_1_1_1_linear_hand_count():
    r = discover(mlp((1, 1, 1), "identity"))
    assert r.state_dim == 2 and r.count == 1 and r.lower == r.upper == 1 and r.exact
    assert [l.text for l in r.laws] == ["W1[0,0]^2 - W2[0,0]^2"]
    assert r.network_lower == 1


@pytest.mark.parametrize("model,count,n_laws", [
    (mlp((3, 2, 3), "identity"), 3, 3),
    (mlp((3, 4, 2, 3), "identity"), 13, 13),  # hidden widths 4, 2: 10 + 3 (DU-3 per layer)
    (mlp((3, 2, 2), "relu"), 2, 2),
    (mlp((3, 3, 2), "relu", bias=True), 3, 3),
    (diagonal_net(3, 2), 3, 3),
    (diagonal_net(2, 3), 4, 4),
])
def test_discover_hand_counts_and_every_law_proven(model, count, n_laws):
    r = discover(model)
    assert r.exact and r.count == count and (r.lower, r.upper) == (count, count)
    assert len(r.laws) == n_laws
    assert all(isinstance(l.certificate, Proven) for l in r.laws)
    assert r.network_lower == count  # here the quadratic laws are all of them
    assert f"independent conservation laws: {count} exactly" in r.render_text() and not r.closing


def test_du_1_family_spanned_and_deletion_breaks_span():
    model = mlp((3, 3, 2), "relu")
    r = discover(model, count=False)
    basis = [_law_expr(l) for l in r.laws]
    family = _family(model, neuron_balance(model))
    assert all(_in_span(basis, q) for q in family)
    for k in range(len(basis)):  # every law is needed
        assert not all(_in_span(basis[:k] + basis[k + 1:], q) for q in family)


def test_du_3_family_spanned_and_deletion_breaks_span():
    model = mlp((3, 3, 2), "identity")
    r = discover(model, count=False)
    basis = [_law_expr(l) for l in r.laws]
    family = _family(model, matrix_balance(model))
    assert all(_in_span(basis, q) for q in family)
    assert len(basis) == 6
    for k in range(len(basis)):
        assert not all(_in_span(basis[:k] + basis[k + 1:], q) for q in family)


def test_ex_1_family_spanned():
    model = diagonal_net(3, 2)
    r = discover(model, count=False)
    basis = [_law_expr(l) for l in r.laws]
    u, v = sp.symbols("u1[0:3]", real=True), sp.symbols("u2[0:3]", real=True)
    for i in range(3):
        assert _in_span(basis, u[i] ** 2 - v[i] ** 2)
    assert not _in_span(basis[1:], u[0] ** 2 - v[0] ** 2)


def test_du_1_non_law_never_reported():
    # Negative control: under ReLU the off-diagonal entries of W1 W1^T - W2^T W2 are not conserved
    # (the engine refutes them) and must not lie in the discovered span.
    model = mlp((3, 3, 2), "relu")
    r = discover(model, count=False)
    basis = [_law_expr(l) for l in r.laws]
    off = _family(model, matrix_balance(model))[1]  # entry [0,1]
    assert isinstance(prove_conserved(model, QuantityFn("offdiag", lambda P: off)), Refuted)
    assert not _in_span(basis, off)


def test_du_1_two_relu_regions_same_count():
    model = mlp((3, 4, 2), "relu")
    a, b = lie_rank(model, seed=0, kind="local"), lie_rank(model, seed=5, kind="local")
    assert not np.array_equal(a.region.theta0, b.region.theta0)
    assert a.upper == b.upper == 4 and a.kind == b.kind == "local"
    r = discover(model, degree=0)
    assert r.upper == 4 and r.lower == 0 and not r.exact and r.count is None  # no search: no lower bound
    assert "patterns reached by" in r.region  # the output states which region was used
    assert "between 0 and 4, not exact" in r.render_text() and "proven laws" in r.closing


def test_discover_momentum_count_and_json():
    r = discover(mlp((1, 1, 1), "identity"), dynamics="momentum")
    # State (t, u, v, u', v'), X0 = (1, u', v', 0, 0), Y = (0, 0, 0, x v, x u): the brackets fill R^5.
    assert r.state_dim == 5 and r.degree == 2 and r.exact and r.count == 0 and not r.laws
    d = json.loads(discover(mlp((2, 2, 2), "identity")).to_json())
    assert d["count"] == {"lower": 3, "upper": 3, "exact": True, "value": 3, "kind": "polynomial", "closing": ""}
    assert len(d["laws"]) == 3 and d["laws"][0]["certificate"]["verdict"] == "proven"
    assert "independent conservation laws: 3 exactly" in discover(mlp((2, 2, 2), "identity")).render_text()


def test_discover_bad_input():
    with pytest.raises(BadInput, match="dynamics"):
        discover(mlp((2, 2, 2), "identity"), dynamics="sgd")
    with pytest.raises(BadInput, match="homogeneous"):
        discover(mlp((2, 2, 2), "tanh"))
    with pytest.raises(BadInput, match="friction"):
        discover(mlp((2, 2, 2), "identity"), dynamics="momentum", friction=-1)
    with pytest.raises(BadInput, match="kind"):
        discover(mlp((2, 2, 2), "identity"), kind="best")


@pytest.mark.parametrize("widths,hidden", [((3, 4, 2), 4), ((5, 4, 4, 2), 8)])
def test_du_1_relu_regions_agree_across_seeds(widths, hidden):
    # Inputs of dimension >= 3: every region (theta0 and its reached activation patterns) gives
    # one law per hidden unit, no more (DU-1), at four random theta0.
    model = mlp(widths, "relu")
    runs = [lie_rank(model, seed=s, kind="local") for s in range(4)]
    assert len({r.region.theta0.tobytes() for r in runs}) == 4  # the regions really differ
    assert [r.upper for r in runs] == [hidden] * 4
    assert all("distinct patterns reached" in r.region.description for r in runs)


def test_relu_count_never_rises_with_more_patterns():
    # 2-input deep net whose count once depended on the size of a random data set: W only grows with
    # the patterns used, so the upper bound can only fall as patterns are added, and with every
    # pattern of the basis it does not depend on the random samples (integer point, elements).
    model = mlp((2, 5, 4, 7, 7), "relu")
    full = sample_region(model, 0, "local")
    q = full.X.shape[0] // len(full.patterns)

    def sub(k):
        return Region(full.theta0, full.X[:k * q], tuple(c[:k * q] for c in full.codes), "", full.patterns[:k])

    counts = [lie_rank(model, seed=0, region=sub(k)).upper for k in (2, 4, 8, len(full.patterns))]
    assert counts == sorted(counts, reverse=True) and counts[-1] >= 16  # >= one law per hidden unit
    again = [lie_rank(model, seed=s, region=full).upper for s in (1, 2)]
    assert again == [counts[-1]] * 2


@pytest.mark.parametrize("model,count", [
    (mlp((3, 1, 3, 2), "identity"), 1 + 6),  # DU-3 per hidden layer: r(r+1)/2 for r = 1, 3
    (mlp((9, 3, 8, 9, 2), "identity"), 6 + 36 + 45),  # needed brackets of length 7 (was 209 s)
])
def test_du_3_long_brackets_linear_count(model, count):
    r = lie_rank(model)
    assert r.upper == count and r.converged and r.kind == "polynomial"
    assert r.history[-1].depth >= 4 and r.history[-1].new == 0  # the last round added nothing


def test_jets_give_exact_directional_derivatives():
    # Independent check of the jet arithmetic: the eps-coefficient of grad f on a jet equals the
    # complex-step derivative Im G(theta + i h v) / h (no subtraction, exact to round-off).
    from verify.interpret.jets import MODP, forward_backward, jets

    model = mlp((3, 3, 2, 2), ["relu2", leaky_relu(0.25)], bias=True)
    rng = np.random.default_rng(3)
    D = sum(int(np.prod(p.shape)) for p in model.params)
    th, v = rng.standard_normal((2, D))
    X = rng.standard_normal((1, 5, 3))
    cot = rng.standard_normal((1, 5, 2))
    _, _, _, used = forward_backward(model, th[None], X)
    slopes = [s for s in used]
    jet = forward_backward(model, np.vstack([th, v]), X, cot, slopes, jets=jets(1))[1]
    h = 1e-30
    cs = forward_backward(model, (th + 1j * h * v)[None], X, cot, slopes)[1]
    assert np.allclose(jet[1], cs[0].imag / h, rtol=1e-12, atol=1e-12 * np.abs(jet[1]).max())
    assert np.allclose(jet[0], cs[0].real, rtol=1e-12, atol=0)
    # The same jets over the integers mod p: at a small integer point with integer data, slopes
    # 1 and 1/4 (= 4^-1 mod p), the float values are exact rationals with denominators 4^k, so
    # both computations must agree after reduction mod p.
    thi, vi = rng.integers(-3, 4, (2, D)).astype(float)
    Xi, ci = rng.integers(-3, 4, (1, 5, 3)).astype(float), rng.integers(-3, 4, (1, 5, 2)).astype(float)
    used = forward_backward(model, thi[None], Xi)[3]
    exact = forward_backward(model, np.vstack([thi, vi]), Xi, ci, used, jets=jets(1))[1]
    inv4 = pow(4, -1, MODP.modulus)
    modular_slopes = [MODP.reduce(np.where(u == 0.25, inv4, u)) for u in used]
    mod = forward_backward(model, np.vstack([thi, vi]), Xi, ci, modular_slopes, jets=jets(1, MODP))[1]
    scale = 4.0 ** 6  # clears every denominator (at most one 1/4 per layer and per derivative)
    assert np.abs(exact * scale - np.round(exact * scale)).max() == 0
    expect = MODP.canonical(np.round(exact * scale) * pow(int(scale), -1, MODP.modulus) % MODP.modulus)
    assert np.array_equal(MODP.canonical(mod), expect)


def test_unit_cut_out_proves_laws_and_refutes_non_laws():
    from verify.laws.search import param_names, unit_sub_model

    model = mlp((3, 3, 2), "relu", bias=True)
    r = discover(model, count=False)
    assert all("hidden unit(s)" in l.certificate.statement for l in r.laws)
    # Negative control on the cut-out of units {0, 1}: the off-diagonal DU-3 entry is not a law
    # under ReLU, and the cut-out must refute it, not pass it.
    index = {e[2]: i for i, e in enumerate(param_names(model))}
    flat = {index[f"W1[{u},{k}]"] for u in (0, 1) for k in range(3)} | {index[f"W2[{j},{u}]"] for u in (0, 1) for j in range(2)}
    sub, _, remap = unit_sub_model(model, flat)
    P = param_matrices(sub)
    off = sum(P["W1"][0, k] * P["W1"][1, k] for k in range(3)) - sum(P["W2"][j, 0] * P["W2"][j, 1] for j in range(2))
    assert isinstance(prove_conserved(sub, QuantityFn("offdiag", lambda _: off)), Refuted)


def test_du_3_bottleneck_all_laws_found():
    # 8-9-3-6 linear: DU-3 gives 9*10/2 + 3*4/2 = 51 laws. A spurious grading (too few samples in
    # the Euler system) once split the off-diagonal laws into single monomials: 12 found.
    r = discover(mlp((8, 9, 3, 6), "identity"))
    assert len(r.laws) == 51 and r.network_lower == r.count == 51


@pytest.mark.parametrize("spec", ["attention_readout", "conv2d_maxpool", "hadamard_difference", "layernorm_relu",
                                  "residual_relu", "weightnorm_relu"])
def test_discover_rejects_layers_it_does_not_model_in_one_line(spec):
    """Layers outside dense/shared/diagonal nets must be refused, never silently ignored."""
    import subprocess
    import sys
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / f"{spec}.toml"
    run = subprocess.run([sys.executable, "-m", "verify", "discover", str(path), "--count"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "discover" in run.stderr
