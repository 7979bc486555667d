"""Unit tests of the numeric models behind the audits: MF gradients, DU-6, Hessian, ReLU net."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verify.errors import BadInput, DivergenceError
from verify.numerics import (
    balance_gap,
    du6_increment,
    gd_step,
    init_layers,
    low_rank_target,
    mf_grad,
    mf_hessian,
    mf_hvp,
    mf_loss,
    mf_min_eigenvalue,
    relu_net_gd,
    relu_net_loss_grad,
    run_mf_gd,
)
from verify.numerics.models.du_rank1 import rank1_run


def _fd_grad(f, X, h=1e-6):
    G = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        G[idx] = (f(X + E) - f(X - E)) / (2 * h)
    return G


@pytest.mark.parametrize("regularized", [False, True])
def test_du_5_gradients_match_finite_differences(regularized):
    rng = np.random.default_rng(0)
    M = low_rank_target(5, 4, 2, rng).M
    U, V = rng.standard_normal((5, 2)), rng.standard_normal((4, 2))
    gU, gV, _ = mf_grad(U, V, M, regularized=regularized)
    np.testing.assert_allclose(gU, _fd_grad(lambda X: mf_loss(X, V, M, regularized=regularized), U),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gV, _fd_grad(lambda X: mf_loss(U, X, M, regularized=regularized), V),
                               rtol=1e-6, atol=1e-7)


@given(d1=st.integers(1, 6), d2=st.integers(1, 6), r=st.integers(1, 3),
       eta=st.floats(1e-3, 0.5), seed=st.integers(0, 2**32 - 1))
def test_du_6_identity_holds_to_roundoff(d1, d2, r, eta, seed):
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((d1, r)), rng.standard_normal((d2, r))
    M = rng.standard_normal((d1, d2))
    Un, Vn = gd_step(U, V, M, eta)
    meas = balance_gap(Un, Vn) - balance_gap(U, V)
    pred = du6_increment(U, V, M, eta)
    scale = sum(float(np.vdot(A, A)) for A in (U, V, Un, Vn))
    assert np.max(np.abs(meas - pred)) <= 64 * (max(d1, d2) + 2) * 2.2e-16 * scale


def test_du_6_control_wrong_sign_is_detected():
    rng = np.random.default_rng(3)
    U, V, M = rng.standard_normal((4, 2)), rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    Un, Vn = gd_step(U, V, M, 0.3)
    meas = balance_gap(Un, Vn) - balance_gap(U, V)
    assert np.max(np.abs(meas + du6_increment(U, V, M, 0.3))) > 1e-3  # sign flipped: far off


def test_du_9_hvp_matches_gradient_differences_and_dense_equals_lanczos():
    rng = np.random.default_rng(4)
    U, V, M = rng.standard_normal((7, 2)), rng.standard_normal((5, 2)), rng.standard_normal((7, 5))
    dU, dV = rng.standard_normal((7, 2)), rng.standard_normal((5, 2))
    h = 1e-6
    gp = mf_grad(U + h * dU, V + h * dV, M)
    gm = mf_grad(U - h * dU, V - h * dV, M)
    hU, hV = mf_hvp(U, V, M, dU, dV)
    np.testing.assert_allclose(hU, (gp[0] - gm[0]) / (2 * h), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hV, (gp[1] - gm[1]) / (2 * h), rtol=1e-5, atol=1e-6)
    H = mf_hessian(U, V, M)
    assert np.allclose(H, H.T)
    assert mf_min_eigenvalue(U, V, M, method="dense") == pytest.approx(
        mf_min_eigenvalue(U, V, M, method="lanczos"), rel=1e-8, abs=1e-9)
    with pytest.raises(BadInput, match="method"):
        mf_min_eigenvalue(U, V, M, method="qr")


def test_du_5_divergence_names_the_step():
    rng = np.random.default_rng(5)
    M = low_rank_target(6, 5, 2, rng).M
    with pytest.raises(DivergenceError, match=r"eta=3\b.*Lower the step size"):
        run_mf_gd(M, rng.standard_normal((6, 2)), rng.standard_normal((5, 2)), lambda t: 3.0, 500)


def test_du_10_rank1_error_formula_matches_dense():
    # The O(d) cancellation-free error equals the dense ||u v^T - M*||_F on a short run.
    r = rank1_run(8, seed=11, eps_min=1e-3, max_steps=50)
    rng = np.random.default_rng(11)
    us = rng.standard_normal(8); us /= np.linalg.norm(us)
    vs = rng.standard_normal(8); vs /= np.linalg.norm(vs)
    delta = 0.01 * np.sqrt(1 / 8)
    u = np.sqrt(delta) * rng.standard_normal(8)
    v = np.sqrt(delta) * rng.standard_normal(8)
    M = np.outer(us, vs)
    for t in range(5):
        assert np.log10(np.linalg.norm(np.outer(u, v) - M)) == pytest.approx(
            r["log10_error"][t], abs=1e-12)
        R = np.outer(u, v) - M
        u, v = u - 0.1 * R @ v, v - 0.1 * R.T @ u


def test_du_12_relu_gradients_match_finite_differences():
    rng = np.random.default_rng(6)
    Ws = init_layers((6, 5, 4, 3), (0.5, 0.5, 0.5), rng)
    X, Y = rng.standard_normal((9, 6)), rng.standard_normal((9, 3))
    _, grads = relu_net_loss_grad(Ws, X, Y)
    for k in range(3):
        def f(W, k=k):
            W_ = list(Ws)
            W_[k] = W
            return relu_net_loss_grad(W_, X, Y)[0]
        np.testing.assert_allclose(grads[k], _fd_grad(f, Ws[k]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_du_12_fast_loop_equals_reference(dtype):
    rng = np.random.default_rng(7)
    Ws = init_layers((10, 6, 5, 3), (0.2, 0.2, 0.2), rng)
    X, Y = rng.standard_normal((12, 10)), rng.standard_normal((12, 3))
    ref = [W.copy() for W in Ws]
    losses = []
    for _ in range(5):
        loss, g = relu_net_loss_grad(ref, X, Y)
        losses.append(loss)
        ref = [W - 0.05 * G for W, G in zip(ref, g)]
    run = relu_net_gd([W.astype(dtype) for W in Ws], X, Y, 0.05, 5)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(run.loss[:5], losses, rtol=tol)
    for W, R in zip(run.Ws, ref):
        assert W.dtype == dtype
        np.testing.assert_allclose(W, R, rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(run.sqnorms[-1], [np.vdot(R, R) for R in ref], rtol=tol * 10)


def test_du_12_divergence_raises():
    rng = np.random.default_rng(8)
    Ws = init_layers((10, 6, 5, 3), (1.0, 1.0, 1.0), rng)
    X, Y = 10 * rng.standard_normal((12, 10)), rng.standard_normal((12, 3))
    with pytest.raises(DivergenceError, match="Lower the step size"):
        relu_net_gd(Ws, X, Y, 10.0, 200)
