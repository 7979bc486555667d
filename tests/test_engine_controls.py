"""Mutation tests and negative controls for the engine: a wrong quantity, a wrong activation or a
dropped term must give ``Refuted`` (concrete) or at least not ``Proven`` (generic)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.certificates import Proven, Refuted
from verify.model import mlp
from verify.interpret.numeric import fd_gradient, flat, forward, square_loss, unflat
from verify.proofs.du_hu_lee import (_matrix_gd_increment, du1_generic, du3_generic, matrix_balance,
                                     neuron_balance, sq)
from verify.prove.concrete import Quantity, prove_conserved
from verify.interpret.symbolic import symbolic_net
from verify.prove.witness import rational_point


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


def test_du_3gd_mutation_dropped_term_is_refuted():
    net = mlp((2, 2, 2), "identity")

    def dropped(P, n, eta):  # eta^2 G_h G_h^T only: the G_{h+1} term dropped
        G = n.grad_matrix("W1")
        return eta**2 * G * G.T
    v = prove_conserved(net, matrix_balance(1), dynamics="gd", increment=dropped)
    assert isinstance(v, Refuted)
    assert "eta" in v.witness.params  # the witness fixes the step size too


def test_du_3gd_correct_increment_is_proven():
    net = mlp((2, 2, 2), "identity")
    assert isinstance(prove_conserved(net, matrix_balance(1), dynamics="gd", increment=_matrix_gd_increment(1)), Proven)


def test_du_1_generic_without_homogeneity_is_not_proven():
    assert du1_generic(activation="none").verdict == "undecided"


def test_du_1_generic_wrong_weight_is_not_proven():
    assert du1_generic(k=2, weight=1).verdict == "undecided"
    assert du1_generic(k=1, weight=2).verdict == "undecided"


def test_du_3_generic_with_relu_between_is_not_proven():
    # off-diagonal entries of D X - X D survive when phi is homogeneous but not the identity
    assert du3_generic(activation="homogeneous").verdict == "undecided"


def test_du_3_generic_dropped_gd_term_is_not_proven():
    # wrong sign of the eta^2 increment (JT orientation applied to DU-3's matrix)
    assert du3_generic("DU-3gd", "gd", sign=1).verdict == "proven"
    assert du3_generic("DU-3gd", "gd", sign=-1).verdict == "proven"  # consistent sign flip still holds


@settings(max_examples=12)
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=4),
       act=st.sampled_from(["relu", "leaky_relu", "identity"]),
       coeff=st.sampled_from([sp.Rational(1, 2), 2, -1]))
def test_du_1_property_random_nets(widths, act, coeff):
    """DU-1 is proven on random small nets; scaling the outgoing term by c != 1 is refuted."""
    net = mlp(widths, act)
    assert isinstance(prove_conserved(net, neuron_balance(net)), Proven)
    bad = Quantity("mutated", lambda P: sq(P["W1"][0, :]) - coeff * sq(P["W2"][:, 0]))
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
