"""Mutation tests and negative controls for the engine: a wrong quantity, a wrong activation or a
dropped term must give ``Refuted`` (concrete) or at least not ``Proven`` (generic)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.prove.batch import gd_coverage
from verify.certificates import Proven, Refuted
from verify.prove.dynamics import ETA, gd_increment
from verify.errors import BadInput
from verify.model import mlp
from verify.interpret.numeric import fd_gradient, flat, forward, square_loss, unflat
from verify.proofs.du_hu_lee import (DET_TERM, MATRIX_GD, du1_generic, du3_generic, gd_claim,
                                     neuron_balance, sq)
from verify.prove.concrete import Increment, QuantityFn, entries, prove_conserved
from verify.interpret.symbolic import param_matrices, symbolic_net
from verify.prove.witness import rational_point


#: DU-3's quantity through the Python escape hatch (a lambda), to pair with the lambda increments below;
#: the catalog states it in the quantity language (``matrix_balance``).
_MATRIX_Q = QuantityFn("W1 W1^T - W2^T W2", lambda P: P["W1"] * P["W1"].T - P["W2"].T * P["W2"])


def test_du_1_mutation_wrong_degree_weight_is_refuted():
    net = mlp((2, 2, 2), "relu")
    v = prove_conserved(net, neuron_balance(net, k=2))  # degree 1 activation, weight 2: wrong law
    assert isinstance(v, Refuted) and v.witness.value != "0"


def test_du_1k_mutation_degree_2_with_weight_1_is_refuted():
    net = mlp((2, 2, 2), "relu2")
    assert isinstance(prove_conserved(net, neuron_balance(net, k=1)), Refuted)


@pytest.mark.parametrize("act", ["tanh", "softplus", "sigmoid"])
def test_du_1_mutation_wrong_activation_is_refuted(act):
    net = mlp((1, 2, 1), act)
    assert isinstance(prove_conserved(net, neuron_balance(net)), Refuted)


def _matrix_increment(extra=None) -> Increment:
    """DU-3gd's increment through the Python API (``extra(G)`` is added: a mutation)."""
    def build(P, G, eta):
        inc = eta**2 * (G["W1"] * G["W1"].T - G["W2"].T * G["W2"])
        return inc + extra(G, eta) if extra else inc
    return Increment("eta^2 (G1 G1^T - G2^T G2)" + (" + mutation" if extra else ""), build)


def test_du_3gd_mutation_dropped_term_is_refuted():
    net = mlp((2, 2, 2), "identity")
    dropped = Increment("eta^2 G_h G_h^T only", lambda P, G, eta: eta**2 * G["W1"] * G["W1"].T)
    v = prove_conserved(net, _MATRIX_Q, dynamics="gd", increment=dropped)
    assert isinstance(v, Refuted)
    assert "eta" in v.witness.params  # the witness fixes the step size too


def test_du_3gd_correct_increment_is_proven_on_a_batch():
    net = mlp((2, 2, 2), "identity")
    v = prove_conserved(net, _MATRIX_Q, dynamics="gd", increment=_matrix_increment())
    assert isinstance(v, Proven)
    assert "sum over 2 data point(s)" in v.hypotheses[0]
    assert any("every batch size N" in h for h in v.hypotheses)


def _det(G, eta):
    return eta**2 * G["W1"].det() * sp.eye(2)


def test_du_3gd_det_term_vanishes_for_one_point_but_is_refuted_on_a_batch():
    """The issue-14 reproduction: eta^2 det(G_W1) I is 0 for every one-point gradient of the linear
    2-2-2 net (rank one), so one point cannot tell it apart; the batch of 2 refutes it exactly."""
    net = mlp((2, 2, 2), "identity")
    one = symbolic_net(net, 1)
    G1 = one.grad_matrix("W1")
    assert sp.expand(G1.det()) == 0  # why a one-point "proof" accepted it
    q = _MATRIX_Q
    bad = _matrix_increment(_det)
    v = prove_conserved(net, q, dynamics="gd", increment=bad)
    assert isinstance(v, Refuted) and v.witness.certified == "exact rational"
    assert len(v.witness.data) == 2 and v.witness.value != "0"
    # a GD proof on one point is not offered at all
    with pytest.raises(BadInput, match=">= 2 points"):
        prove_conserved(net, q, dynamics="gd", increment=bad, n_data=1)
    # the same claim in the quantity language (tr(M) M - M M = det(M) I for 2x2), as --increment takes it
    q2, inc2 = gd_claim(net, MATRIX_GD[0], MATRIX_GD[1] + DET_TERM)
    v2 = prove_conserved(net, q2, dynamics="gd", increment=inc2)
    assert isinstance(v2, Refuted)


def test_du_3gd_det_witness_recomputed_numerically():
    """The refutation's exact value equals Q(theta - eta G) - Q(theta) - claimed computed in floats
    from the witness: NumPy forward pass, finite-difference gradient of the square loss on both points."""
    net = mlp((2, 2, 2), "identity")
    v = prove_conserved(net, _MATRIX_Q, dynamics="gd", increment=_matrix_increment(_det))
    w = v.witness
    P = {p.name: np.array([[float(sp.Rational(e)) for e in row] for row in w.params[p.name]]).reshape(p.shape)
         for p in net.params}
    eta = float(sp.Rational(w.params["eta"]))
    X = np.array([[float(sp.Rational(e)) for e in x] for x in w.data])
    T = np.array([[float(sp.Rational(e)) for e in t] for t in eval_targets(w.loss)])
    G = unflat(net, fd_gradient(lambda th: square_loss(net, unflat(net, th), X, T), flat(net, P)))

    def Q(W1, W2):
        return W1 @ W1.T - W2.T @ W2
    moved = Q(P["W1"] - eta * G["W1"], P["W2"] - eta * G["W2"]) - Q(P["W1"], P["W2"])
    claimed = eta**2 * (G["W1"] @ G["W1"].T - G["W2"].T @ G["W2"] + np.linalg.det(G["W1"]) * np.eye(2))
    r, c = (int(x) for x in w.entry[w.entry.index("[") + 1:w.entry.index("]")].split(","))  # "DeltaQ[r,c] - ..."
    # FD gradient error ~1e-9 relative; the value is O(1)
    np.testing.assert_allclose((moved - claimed)[r, c], w.value_float, rtol=1e-6, atol=1e-8)


def test_gd_coverage_degree_and_what_it_covers():
    """verify.prove.batch: the residual's degree in G decides the batch argument; a claim that is not a
    polynomial in G with parameter-only coefficients is covered only up to the points used."""
    net = mlp((2, 2, 2), "identity")
    P = param_matrices(net)
    Q = entries(_MATRIX_Q.build(P))

    def claimed(inc):
        return lambda G: [c for _, c in entries(inc.build(P, G, ETA))]
    exact = gd_coverage(Q, P, claimed(_matrix_increment()))
    det = gd_coverage(Q, P, claimed(_matrix_increment(_det)))
    assert (exact.degree, det.degree) == (1, 2)  # the eta^2 terms of the exact claim cancel: degree 1
    assert exact.default_points() == det.default_points() == 2
    assert "every batch size N" in det.hypothesis(2) and "NOT larger batches" in det.hypothesis(1)
    x = sp.Symbol("x[0]", real=True)  # a data symbol: the claim is not a function of (theta, G) alone
    data = gd_coverage(Q, P, lambda G: [x * ETA**2 * G["W1"][0, 0]] * len(Q))
    assert data.degree is None and "x[0]" in data.reason and "NOT larger batches" in data.hypothesis(2)
    w = P["W1"][0, 0]
    root = gd_coverage([("", sp.sqrt(w**2 + 1))], P, lambda G: [0])
    assert root.degree is None and "not a polynomial" in root.reason
    cubic = gd_coverage([("", w**3)], P, lambda G: [0])
    assert cubic.degree == 3 and cubic.default_points() == 3


def test_du_3gd_concrete_residual_is_what_the_engine_expands():
    """The GD residual of the engine is Q(theta - eta G) - Q(theta) - claimed with SymPy's G: checked
    against an independent substitution on the 2-point net (no shortcut through the increment)."""
    net = mlp((1, 1, 1), "identity")
    n2 = symbolic_net(net, 2)
    (w1,), (w2,) = n2.params["W1"], n2.params["W2"]
    g1, g2 = n2.gradient[w1], n2.gradient[w2]
    q = w1**2 - w2**2
    assert sp.expand(gd_increment(q, n2, ETA) - ((w1 - ETA * g1) ** 2 - (w2 - ETA * g2) ** 2 - q)) == 0


def test_du_1_generic_without_homogeneity_is_not_proven():
    assert du1_generic(activation="none").verdict == "undecided"


def test_du_1_generic_wrong_weight_is_not_proven():
    assert du1_generic(k=2, weight=1).verdict == "undecided"
    assert du1_generic(k=1, weight=2).verdict == "undecided"


def test_du_3_generic_with_relu_between_is_not_proven():
    # off-diagonal entries of D X - X D survive when phi is homogeneous but not the identity
    assert du3_generic(activation="homogeneous").verdict == "undecided"


def test_du_3_generic_dropped_gd_term_is_not_proven():
    """Only the claimed increment changes (Q keeps its sign): the exact claim is proven, the
    increment 0 and the increment with the wrong sign are not."""
    assert du3_generic("DU-3gd", "gd").verdict == "proven"
    dropped = du3_generic("DU-3gd", "gd", claimed="dropped")
    assert dropped.verdict == "undecided" and "eta**2" in dropped.evidence["residual normal form"]
    assert du3_generic("DU-3gd", "gd", claimed="sign").verdict == "undecided"
    assert du3_generic("JT-1", "gd", sign=-1).verdict == "proven"
    assert du3_generic("JT-1", "gd", sign=-1, claimed="sign").verdict == "undecided"


def test_du_3gd_generic_rank_one_term_is_not_proven():
    """tr(M) M - M M (M = G_h W_h^T) is 0 for every one-sample gradient; on a batch of B samples it
    is not, and the generic engine does not drop it."""
    v = du3_generic("DU-3gd", "gd", claimed="rank-one")
    assert v.verdict == "undecided" and "Trace" in v.evidence["residual normal form"]


def test_du_1gd_generic_controls_are_not_proven():
    assert du1_generic("DU-1gd", 1, "gd").verdict == "proven"
    for claimed in ("dropped", "sign"):
        assert du1_generic("DU-1gd", 1, "gd", claimed=claimed).verdict == "undecided", claimed
    assert du1_generic("DU-1gd", 1, "gd", weight=2).verdict == "undecided"  # wrong weight on W_(h+1)
    assert du1_generic("DU-1gd", 2, "gd").verdict == "proven"  # degree 2 with its weight 2
    assert du1_generic("DU-1gd", 1, "gd", activation="none").verdict == "undecided"  # no homogeneity


def test_generic_gd_proofs_state_the_batch():
    for v in (du1_generic("DU-1gd", 1, "gd"), du3_generic("DU-3gd", "gd"), du3_generic("JT-1", "gd", sign=-1)):
        assert v.verdict == "proven"
        assert any("batch of B samples, B a symbol" in h for h in v.hypotheses), v.hypotheses
        assert not any("one sample" in h for h in v.hypotheses)
    flow = du1_generic()
    assert any("dQ/dt is linear in L" in h for h in flow.hypotheses)


@settings(max_examples=12)
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=4),
       act=st.sampled_from(["relu", "leaky_relu", "identity"]),
       coeff=st.sampled_from([sp.Rational(1, 2), 2, -1]))
def test_du_1_property_random_nets(widths, act, coeff):
    """DU-1 is proven on random small nets; scaling the outgoing term by c != 1 is refuted."""
    net = mlp(widths, act)
    assert isinstance(prove_conserved(net, neuron_balance(net)), Proven)
    bad = QuantityFn("mutated", lambda P: sq(P["W1"][0, :]) - coeff * sq(P["W2"][:, 0]))
    assert isinstance(prove_conserved(net, bad), Refuted)


@pytest.mark.parametrize("model", [mlp((2, 3, 2), "relu", bias=True), mlp((3, 2, 2, 1), "leaky_relu"),
                                   mlp((2, 2, 1), "tanh")], ids=lambda m: m.name)
def test_symbolic_gradient_matches_finite_differences(model):
    """dL/dtheta derived by SymPy (undefined loss, then specialised to 1/2||y - t||^2) equals a
    central finite difference of the independent NumPy forward pass, at random rational points."""
    net = symbolic_net(model)
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 3:
        drawn = rational_point(net, rng)
        if drawn is None:
            continue
        subs, _, targets = drawn
        P = {name: np.array([[float(subs[s]) for s in M.row(i)] for i in range(M.rows)]) for name, M in net.params.items()}
        P = {p.name: P[p.name].reshape(p.shape) for p in model.params}
        X = np.array([[float(subs[s]) for s in net.inputs[0]]])
        T = np.array([[float(t) for t in targets[0]]])
        symbolic = np.array([float(net.gradient[t].xreplace(subs)) for t in net.theta])
        numeric = fd_gradient(lambda th: square_loss(model, unflat(model, th), X, T), flat(model, P))
        # FD error O(h^2 f''') ~ 1e-9 here; kinks are avoided by rational_point (no pre-activation is 0)
        np.testing.assert_allclose(symbolic, numeric, rtol=1e-6, atol=1e-7)
        checked += 1


def test_du_1_witness_value_matches_numeric_recomputation():
    """A tanh refutation's exact dQ/dt agrees with -<grad Q, grad L> computed by finite differences."""
    model = mlp((2, 2, 2), "tanh")
    v = prove_conserved(model, neuron_balance(model))
    w = v.witness
    P = {name: np.array([[float(sp.Rational(e)) for e in row] for row in rows]) for name, rows in w.params.items()}
    P = {p.name: P[p.name].reshape(p.shape) for p in model.params}
    X = np.array([[float(sp.Rational(e)) for e in x] for x in w.data])
    T = np.array([[float(sp.Rational(e)) for e in t] for t in eval_targets(w.loss)])
    h, i = (int(s.split("=")[1]) for s in w.entry[3:w.entry.index("]")].split(","))
    gL = fd_gradient(lambda th: square_loss(model, unflat(model, th), X, T), flat(model, P))
    Pg = unflat(model, gL)
    W, Wn, G, Gn = P[f"W{h}"], P[f"W{h + 1}"], Pg[f"W{h}"], Pg[f"W{h + 1}"]
    dq = -(2 * W[i, :] @ G[i, :] - 2 * Wn[:, i] @ Gn[:, i])
    np.testing.assert_allclose(dq, w.value_float, rtol=1e-6, atol=1e-9)
    assert forward(model, P, X).shape == (1, 2)


def eval_targets(loss_text: str):
    """Targets from the witness's loss text "... t = [['a', 'b']]" (parsed, never evaluated)."""
    inner = loss_text.split("t = ", 1)[1]
    rows = inner.strip("[]").split("], [")
    return [[e.strip(" '[]") for e in row.split(",")] for row in rows]


@pytest.mark.parametrize("model", [mlp((2, 2, 2), "relu"), mlp((1, 2, 2, 1), "tanh"), mlp((2, 2, 1), "relu", bias=True)],
                         ids=lambda m: m.name)
def test_chain_rule_gradient_equals_sympy_diff_of_undefined_loss(model):
    """The engine's chain-rule gradient equals SymPy's own diff of ell(f(theta)), renamed."""
    from verify.interpret.symbolic import gradient_via_undefined_loss
    net = symbolic_net(model)
    ref = gradient_via_undefined_loss(net)
    for t in net.theta:
        assert sp.expand(net.gradient[t] - ref[t]) == 0, t
