"""Float64 property tests of every identity claim on random networks (issue 4, "own property tests").

Each flow claim is checked as the exact identity dQ/dt = <grad Q, -grad L> = 0, with grad L from
the hand-written reverse mode ``verify.interpret.numeric.loss_and_grad`` (independent of SymPy). Each GD
claim is checked as Q(theta - eta G) - Q(theta) = eta^2 (...). Networks, points, data, targets
and losses come from ``verify.testing.strategies``: depths 2-5, widths 1-8, activations drawn per hidden
layer from the homogeneous family (identity, relu, leaky_relu, relu2), with and without bias, with
and without sharing.

Tolerance rule (one rule, explicit): a computed value v of a sum of terms t_e that vanishes (or
equals a stated increment) in exact arithmetic must satisfy |v| <= RTOL * S + ATOL, where S is the
sum of |t_e| over the *individual* terms: every parameter entry, every data point and every edge
of a shared weight (per-sample gradients, so cancellation between data points cannot hide in S).
The negative controls use the same checkers and must exceed CONTROL = 1e9 * RTOL.

References:
    Du, Hu & Lee (2018) Thm 2.1 (DU-1), Cor 2.1 (DU-2), Thm 2.2 (DU-3), Thm 2.3 (DU-4), eq (9)
    (DU-6); footnote 8 (biases); shared/papers/CLAIMS.md rows DU-1gd, DU-3gd, EX-1, EX-2, and the
    registry's DU-1k (degree-k activations: ||W_h[i,:]||^2 - k ||W_{h+1}[:,i]||^2).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, assume, event, find, given, settings
from hypothesis import strategies as st

from verify.testing import strategies as vs
from verify.model.activations import get_activation
from verify.errors import BadInput
from verify.model.losses import check_loss, loss_value_and_grad
from verify.model import Act, Dense, DiagonalLinear, Model, Param, conv1d_pattern, diagonal_net, mlp
from verify.interpret.numeric import fd_gradient, flat, forward, loss_and_grad, unflat

#: float64 unit round-off is 1.1e-16; each term passes through at most ~10 roundings and each sum
#: has at most 8 + 1 terms per data point, so the exact error bound is ~1e-14 * S. 1e-12 leaves a
#: factor 100 of margin and is still 9 decades below the negative controls' threshold.
RTOL = 1e-12
#: Absolute floor for terms near the underflow range (smallest normal float64 is 2.2e-308).
#: Drawn entries are flushed to 0 below MIN_MAGNITUDE, which keeps every product in these tests
#: (at most ~12 factors >= 1e-6, relu2 squaring included) above 1e-290.
ATOL = 1e-300
MIN_MAGNITUDE = 1e-6
#: A negative control must exceed this relative violation (1e9 * RTOL): far above round-off.
CONTROL = 1e-3

NET = dict(depth=(2, 5), widths=(1, 8), activations=vs.HOMOGENEOUS)


# ---------------------------------------------------------------------------------------------
# helpers: problems, per-sample gradients, the one relative-violation rule


@st.composite
def problems(draw, nets):
    """(model, P, X, T, loss): a network from ``nets`` with a point, data, a fitting loss and targets."""
    model = draw(nets)
    P = draw(vs.parameters(model, min_magnitude=MIN_MAGNITUDE))
    X = draw(vs.data(model, points=(1, 4), min_magnitude=MIN_MAGNITUDE))
    loss = draw(vs.losses(output_dim=model.output_dim))
    T = draw(vs.targets(model, loss, points=X.shape[0]))
    return model, P, X, T, loss


def _dense(model):
    return [layer for layer in model.layers if isinstance(layer, Dense)]


def _degree_after(model, h):
    """Homogeneity degree of the activation after weight layer h (0-based), None if not declared."""
    layers = list(model.layers)
    act = layers[layers.index(_dense(model)[h]) + 1]
    assert isinstance(act, Act)
    return act.activation.degree, act.activation


def _dense_equivalent(model, P):
    """The same function with every shared weight spread into its matrix W = v[g] (edge parameters)."""
    if not any(layer.pattern is not None for layer in _dense(model)):
        return model, P
    params, layers, Pd = [], [], {}
    for layer in model.layers:
        if isinstance(layer, Dense) and layer.pattern is not None:
            pat = np.asarray(layer.pattern)
            name = "E_" + layer.weight
            params.append(Param(name, pat.shape))
            Pd[name] = np.concatenate([[0.0], P[layer.weight]])[pat]
            if layer.bias:
                params.append(Param(layer.bias, (pat.shape[0],)))
                Pd[layer.bias] = P[layer.bias]
            layer = Dense(name, layer.bias)
        layers.append(layer)
    return Model(model.name + "-dense", model.input_dim, tuple(params), tuple(layers)), Pd


def gradients(model, P, X, T, loss, *, drawn=True):
    """Batch gradient of the model, and per-sample gradients of its dense (edge) equivalent.

    The identities are about finite values, and exponential losses of deep relu2 nets can
    overflow: a drawn example that overflows is discarded (``assume``); a fixed one must not.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled just below
        _, G = loss_and_grad(model, P, X, T, loss)
        dmodel, dP = _dense_equivalent(model, P)
        per = [loss_and_grad(dmodel, dP, X[p:p + 1], T[p:p + 1], loss)[1] for p in range(X.shape[0])]
    finite = all(np.all(np.isfinite(g)) for d in [G, *per] for g in d.values())
    if drawn:
        assume(finite)
        # A zero gradient satisfies every flow identity trivially (e.g. all-zero draws): discard it.
        assume(any(np.any(g != 0) for g in G.values()))
        # coverage statistics (pytest --hypothesis-show-statistics)
        event(f"loss={loss}")
        degrees = {layer.activation.name for layer in model.layers if isinstance(layer, Act)}
        event("has relu^2 layer" if "relu^2" in degrees else "no relu^2 layer")
    assert finite
    return G, per


def _edges(model, name, arr):
    """Spread an array over a shared weight's edges (identity for dense weights and biases)."""
    for layer in _dense(model):
        if layer.weight == name and layer.pattern is not None:
            pat = np.asarray(layer.pattern)
            return "E_" + name, np.where(pat > 0, np.concatenate([[0.0], arr])[pat], 0.0)
    return name, arr


def flow_violation(model, gradQ, G, per):
    """|dQ/dt| / S for dQ/dt = <grad Q, -G> (S: sum of |individual terms|), and the raw pair."""
    value = -sum(float(np.sum(gq * G[name])) for name, gq in gradQ.items())
    scale = 0.0
    for name, gq in gradQ.items():
        ename, eq = _edges(model, name, gq)
        scale += sum(float(np.sum(np.abs(eq * g[ename]))) for g in per)
    return value, scale


def rel(value, scale):
    """Relative violation max |value| / (scale + ATOL/RTOL) elementwise: <= RTOL means 'holds'."""
    value, scale = np.abs(np.asarray(value, float)), np.asarray(scale, float)
    return float(np.max(value / (scale + ATOL / RTOL)))


def holds(value, scale):
    return bool(np.all(np.abs(np.asarray(value, float)) <= RTOL * np.asarray(scale, float) + ATOL))


def neuron_gradQ(model, P, h, i, k, bias=True):
    """grad of ||W_h[i,:]||^2 (+ b_h[i]^2) - k ||W_{h+1}[:,i]||^2 (h 0-based, dense layers)."""
    d, dn = _dense(model)[h], _dense(model)[h + 1]
    gq = {d.weight: np.zeros_like(P[d.weight]), dn.weight: np.zeros_like(P[dn.weight])}
    gq[d.weight][i, :] = 2 * P[d.weight][i, :]
    gq[dn.weight][:, i] = -2 * k * P[dn.weight][:, i]
    if bias and d.bias:
        gq[d.bias] = np.zeros_like(P[d.bias])
        gq[d.bias][i] = 2 * P[d.bias][i]
    return gq


def du1_violations(model, P, G, per, *, degree=None, bias=True):
    """Worst relative violation of the per-neuron law over all hidden neurons.

    ``degree`` overrides the declared degree (for wrong-degree controls); ``bias=False`` drops
    b_h[i]^2 from the quantity (the dropped-bias control).
    """
    worst = 0.0
    for h in range(len(_dense(model)) - 1):
        k = degree if degree is not None else _degree_after(model, h)[0]
        for i in range(P[_dense(model)[h].weight].shape[0]):
            worst = max(worst, rel(*flow_violation(model, neuron_gradQ(model, P, h, i, k, bias), G, per)))
    return worst


def layer_gradQ(model, P, h, k, bias=True, frobenius_of_shared=False):
    """grad of ||w_h||^2 + ||b_h||^2 - k ||w_{h+1}||^2 where w is W (dense) or v (shared).

    ``frobenius_of_shared`` uses ||W_h||_F^2 = sum_p mult_p v_p^2 instead of ||v_h||^2 (a control).
    """
    d, dn = _dense(model)[h], _dense(model)[h + 1]
    gq = {}
    for layer, c in ((d, 2.0), (dn, -2.0 * k)):
        mult = 1.0
        if frobenius_of_shared and layer.pattern is not None:
            pat = np.asarray(layer.pattern)
            mult = np.bincount(pat.ravel(), minlength=P[layer.weight].size + 1)[1:]
        gq[layer.weight] = c * mult * P[layer.weight]
    if bias and d.bias:
        gq[d.bias] = 2 * P[d.bias]
    return gq


def du3_flow(model, P, G, per, h):
    """d/dt (W_h W_h^T + b_h b_h^T - W_{h+1}^T W_{h+1}) and its entrywise term scale."""
    d, dn = _dense(model)[h], _dense(model)[h + 1]
    W, Wn, Gw, Gn = P[d.weight], P[dn.weight], G[d.weight], G[dn.weight]
    b, gb = (P[d.bias], G[d.bias]) if d.bias else (np.zeros(W.shape[0]), np.zeros(W.shape[0]))
    value = -(Gw @ W.T + W @ Gw.T + np.outer(gb, b) + np.outer(b, gb)) + (Gn.T @ Wn + Wn.T @ Gn)
    aW, aWn, ab = np.abs(W), np.abs(Wn), np.abs(b)
    scale = np.zeros_like(value)
    for g in per:
        pG, pGn = np.abs(g[d.weight]), np.abs(g[dn.weight])
        pgb = np.abs(g[d.bias]) if d.bias else np.zeros_like(ab)
        scale += pG @ aW.T + aW @ pG.T + np.outer(pgb, ab) + np.outer(ab, pgb) + pGn.T @ aWn + aWn.T @ pGn
    return value, scale


def gd_point(P, G, eta):
    return {n: P[n] - eta * G[n] for n in P}


def _sq(a):
    return float(np.sum(np.square(a)))


# ---------------------------------------------------------------------------------------------
# DU-1 / DU-1k / DU-2 (flow) on random dense networks


@settings(deadline=None)
@given(problems(vs.networks(**NET, sharing=False)))
def test_du_1_du_1k_flow_random_networks(problem):
    """Every hidden neuron: d/dt(||W_h[i,:]||^2 + b_h[i]^2 - k ||W_{h+1}[:,i]||^2) = 0, k the
    declared degree of phi_h (k = 1: DU-1, bias term per footnote 8; k = 2, relu2: DU-1k)."""
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    assert du1_violations(model, P, G, per) <= RTOL


@pytest.mark.parametrize("loss, outputs", [("square", (1, 8)), ("logistic", (1, 1)), ("exponential", (1, 1)),
                                           ("cross_entropy", (2, 8))])
@settings(deadline=None, max_examples=15)
@given(data=st.data())
def test_du_1_du_1k_flow_every_loss(loss, outputs, data):
    """The per-neuron law again with each chosen loss drawn on purpose (the mixed test above
    draws square most often)."""
    model = data.draw(vs.networks(**NET, outputs=outputs, sharing=None))
    P = data.draw(vs.parameters(model, min_magnitude=MIN_MAGNITUDE))
    X = data.draw(vs.data(model, points=(1, 4), min_magnitude=MIN_MAGNITUDE))
    T = data.draw(vs.targets(model, loss, points=X.shape[0]))
    G, per = gradients(model, P, X, T, loss)
    if model.params[0].name.startswith("v"):  # shared weights: DU-4's layer law
        for h in range(len(_dense(model)) - 1):
            assert holds(*flow_violation(model, layer_gradQ(model, P, h, _degree_after(model, h)[0]), G, per))
    else:
        assert du1_violations(model, P, G, per) <= RTOL


@settings(deadline=None)
@given(problems(vs.networks(**NET, sharing=False)))
def test_du_2_flow_random_networks(problem):
    """Layer sums (Cor 2.1): d/dt(||W_h||_F^2 + ||b_h||^2 - k ||W_{h+1}||_F^2) = 0."""
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    for h in range(len(_dense(model)) - 1):
        k = _degree_after(model, h)[0]
        assert holds(*flow_violation(model, layer_gradQ(model, P, h, k), G, per))


# ---------------------------------------------------------------------------------------------
# DU-3 (flow): identity activation between layers h and h+1, every other activation random


@settings(deadline=None)
@given(problems(vs.networks(**NET, sharing=False, linear_layer=True)))
def test_du_3_flow_random_networks_with_a_linear_layer(problem):
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    linear = [h for h in range(len(_dense(model)) - 1) if _degree_after(model, h)[1].is_identity]
    assert linear  # the strategy promises one
    for h in linear:
        assert holds(*du3_flow(model, P, G, per, h))


# ---------------------------------------------------------------------------------------------
# DU-4 (flow): shared / sparse weights


@pytest.mark.parametrize("bias", [False, True], ids=["as_stated", "with_bias"])
@settings(deadline=None)
@given(data=st.data())
def test_du_4_flow_random_sharing_patterns(bias, data):
    """Thm 2.3 (no bias): d/dt(||v_h||^2 - k ||v_{h+1}||^2) = 0 on random patterns g_h; with biases
    (footnote 8 extension) the conserved quantity is ||v_h||^2 + ||b_h||^2 - k||v_{h+1}||^2."""
    model, P, X, T, loss = data.draw(problems(vs.networks(**NET, sharing=True, bias=bias)))
    G, per = gradients(model, P, X, T, loss)
    for h in range(len(_dense(model)) - 1):
        assert holds(*flow_violation(model, layer_gradQ(model, P, h, _degree_after(model, h)[0]), G, per))


# ---------------------------------------------------------------------------------------------
# DU-1gd / DU-3gd: one GD step changes Q by exactly eta^2 (...)

ETAS = st.floats(1e-3, 1.0, allow_nan=False)


@settings(deadline=None)
@given(problems(vs.networks(**NET, sharing=False)), ETAS)
def test_du_1gd_one_step_increment_random_networks(problem, eta):
    """Q(theta - eta G) - Q(theta) = eta^2(||G_h[i,:]||^2 + g_b[i]^2 - k ||G_{h+1}[:,i]||^2)."""
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    Pn = gd_point(P, G, eta)
    for h in range(len(_dense(model)) - 1):
        d, dn = _dense(model)[h], _dense(model)[h + 1]
        k = _degree_after(model, h)[0]
        for i in range(P[d.weight].shape[0]):
            def Q(R, sign=-1.0):  # sign = +1 gives the sum of the magnitudes of Q's parts
                b = _sq(R[d.bias][i]) if d.bias else 0.0
                return _sq(R[d.weight][i, :]) + b + sign * k * _sq(R[dn.weight][:, i])

            change = Q(Pn) - Q(P)
            increment = eta**2 * Q(G)
            _, flow_scale = flow_violation(model, neuron_gradQ(model, P, h, i, k), G, per)
            # round-off of each sum of squares is relative to the sum of its squares, at P, at the
            # step point and at |P| + eta |G| (the entries before rounding of the subtraction)
            bound = {n: np.abs(P[n]) + eta * np.abs(G[n]) for n in P}
            scale = sum(Q(R, +1.0) for R in (P, Pn, bound)) + eta**2 * Q(G, +1.0) + eta * flow_scale
            assert holds(change - increment, scale), (h, i, change, increment)


@settings(deadline=None)
@given(problems(vs.networks(**NET, sharing=False, linear_layer=True)), ETAS)
def test_du_3gd_one_step_increment_random_networks(problem, eta):
    """M(theta - eta G) - M(theta) = eta^2 (G_h G_h^T + g_b g_b^T - G_{h+1}^T G_{h+1}) (matrix),
    M = W_h W_h^T + b_h b_h^T - W_{h+1}^T W_{h+1}, phi_h the identity."""
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    Pn = gd_point(P, G, eta)
    for h in [h for h in range(len(_dense(model)) - 1) if _degree_after(model, h)[1].is_identity]:
        d, dn = _dense(model)[h], _dense(model)[h + 1]

        def M(R, f=lambda a: a):
            b = f(R[d.bias]) if d.bias else np.zeros(R[d.weight].shape[0])
            W, Wn = f(R[d.weight]), f(R[dn.weight])
            return W @ W.T + np.outer(b, b), Wn.T @ Wn
        change = (M(Pn)[0] - M(Pn)[1]) - (M(P)[0] - M(P)[1])
        increment = eta**2 * (M(G)[0] - M(G)[1])
        bound = {n: np.abs(P[n]) + eta * np.abs(G[n]) for n in P}
        scale = sum(sum(M(R, np.abs)) for R in (P, Pn, bound)) + eta**2 * sum(M(G, np.abs)) \
            + eta * du3_flow(model, P, G, per, h)[1]
        assert holds(change - increment, scale)


# ---------------------------------------------------------------------------------------------
# DU-6: matrix factorisation GD


def du6_residual(U, V, M, eta):
    """U+^T U+ - V+^T V+ - (U^T U - V^T V + eta^2 (V^T R^T R V - U^T R R^T U)) and its term scale."""
    R = U @ V.T - M
    RV, RtU = R @ V, R.T @ U
    Up, Vp = U - eta * RV, V - eta * RtU
    lhs = Up.T @ Up - Vp.T @ Vp
    rhs = U.T @ U - V.T @ V + eta**2 * (RV.T @ RV - RtU.T @ RtU)
    aU, aV = np.abs(U) + eta * np.abs(RV), np.abs(V) + eta * np.abs(RtU)
    # R itself is computed with cancellation; its error enters through RV and RtU, bounded by |U||V^T|+|M|
    aR = np.abs(U) @ np.abs(V).T + np.abs(M)
    aRV, aRtU = aR @ np.abs(V), aR.T @ np.abs(U)
    scale = aU.T @ aU + aV.T @ aV + eta**2 * (aRV.T @ aRV + aRtU.T @ aRtU) + 2 * eta * (
        np.abs(U).T @ aRV + np.abs(V).T @ aRtU)
    return lhs - rhs, scale


@settings(deadline=None)
@given(vs.factorizations(rows=(1, 6), cols=(1, 6), rank=(1, 4), min_magnitude=MIN_MAGNITUDE), ETAS)
def test_du_6_gd_identity_random_matrices(instance, eta):
    U, V, M = instance
    assert holds(*du6_residual(U, V, M, eta))


def test_du_6_control_without_eta_squared_term_is_detected():
    """Negative control: GD does not conserve U^T U - V^T V exactly; dropping eta^2(...) is caught."""
    rng = np.random.default_rng(0)
    U, V, M, eta = rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=(4, 3)), 0.1
    residual, scale = du6_residual(U, V, M, eta)
    R = U @ V.T - M
    wrong = residual + eta**2 * ((R @ V).T @ (R @ V) - (R.T @ U).T @ (R.T @ U))  # = change - 0
    assert rel(residual, scale) <= RTOL
    assert rel(wrong, scale) > CONTROL


# ---------------------------------------------------------------------------------------------
# EX-1 / EX-2: diagonal (Hadamard) nets


@st.composite
def diagonal_problems(draw, depth):
    return draw(problems(vs.diagonal_networks(n=(1, 8), depth=depth)))


def _diag_gradQ(P, k, l, i):
    gq = {f"u{k}": np.zeros_like(P[f"u{k}"]), f"u{l}": np.zeros_like(P[f"u{l}"])}
    gq[f"u{k}"][i] = 2 * P[f"u{k}"][i]
    gq[f"u{l}"][i] = -2 * P[f"u{l}"][i]
    return gq


@settings(deadline=None)
@given(diagonal_problems(depth=(2, 2)))
def test_ex_1_flow_diagonal_net(problem):
    """w = u * v: d/dt (u_i^2 - v_i^2) = 0 for every i."""
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    for i in range(model.input_dim):
        assert holds(*flow_violation(model, _diag_gradQ(P, 1, 2, i), G, per))


@settings(deadline=None)
@given(diagonal_problems(depth=(2, 5)))
def test_ex_2_flow_depth_L_diagonal_net(problem):
    """w = u1 * ... * uL: d/dt (u_{k,i}^2 - u_{l,i}^2) = 0 for all k < l and i."""
    model, P, X, T, loss = problem
    G, per = gradients(model, P, X, T, loss)
    L = len(model.params)
    for k in range(1, L + 1):
        for l in range(k + 1, L + 1):
            for i in range(model.input_dim):
                assert holds(*flow_violation(model, _diag_gradQ(P, k, l, i), G, per))


def _w_gradient(X, T, w, loss):
    """g = grad_w L of the linear model x -> <w, x>, from the loss derivative alone (per point too)."""
    _, dY = loss_value_and_grad(loss, X @ w[:, None], T)
    return (dY.T @ X).ravel(), np.abs(dY * X).sum(axis=0)


@settings(deadline=None)
@given(diagonal_problems(depth=(2, 2)), ETAS)
def test_ex_1_gd_step_multiplies_by_one_minus_eta_squared_g_squared(problem, eta):
    """u+_i^2 - v+_i^2 = (u_i^2 - v_i^2)(1 - eta^2 g_i^2), g = grad_w L at w = u * v."""
    model, P, X, T, loss = problem
    G, _ = gradients(model, P, X, T, loss)
    u, v = P["u1"], P["u2"]
    with np.errstate(over="ignore", invalid="ignore"):
        g, g_abs = _w_gradient(X, T, u * v, loss)
    assume(np.all(np.isfinite(g)))
    up, vp = u - eta * G["u1"], v - eta * G["u2"]
    residual = (up**2 - vp**2) - (u**2 - v**2) * (1 - eta**2 * g**2)
    au, av = np.abs(u) + eta * np.abs(v) * g_abs, np.abs(v) + eta * np.abs(u) * g_abs
    scale = au**2 + av**2 + (u**2 + v**2) * (1 + eta**2 * g_abs**2)
    assert holds(residual, scale)


def test_ex_1_control_gd_does_not_conserve_exactly():
    """Negative control: the same check with the factor left out (u+^2 - v+^2 = u^2 - v^2) fails."""
    rng = np.random.default_rng(1)
    model = diagonal_net(4, 2)
    P = {p.name: rng.normal(size=p.shape) for p in model.params}
    X, T, eta = rng.normal(size=(3, 4)), rng.normal(size=(3, 1)), 0.2
    _, G = loss_and_grad(model, P, X, T)
    u, v = P["u1"], P["u2"]
    up, vp = u - eta * G["u1"], v - eta * G["u2"]
    assert rel((up**2 - vp**2) - (u**2 - v**2), up**2 + vp**2 + u**2 + v**2) > CONTROL


# ---------------------------------------------------------------------------------------------
# Negative controls: the same checkers must find violations far above tolerance


def _random_problem(model, seed, loss="square", scale=1.0):
    rng = np.random.default_rng(seed)
    P = {p.name: scale * rng.normal(size=p.shape) for p in model.params}
    X = rng.normal(size=(4, model.input_dim))
    T = rng.normal(size=(4, model.output_dim))
    return P, X, T, loss


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("act", vs.NON_HOMOGENEOUS)
def test_du_1_control_non_homogeneous_activation_detected(act, seed):
    """tanh / sigmoid / softplus: the degree-1 law fails by far more than round-off."""
    model = mlp((3, 4, 3, 2), act)
    P, X, T, loss = _random_problem(model, seed)
    G, per = gradients(model, P, X, T, loss, drawn=False)
    assert du1_violations(model, P, G, per, degree=1) > CONTROL


def test_du_1_control_non_homogeneous_found_by_hypothesis():
    """Hypothesis itself finds a random non-homogeneous net where the DU-1 checker reports a
    violation 1e9 times the tolerance (the checker of the positive test can fail)."""
    def violated(problem):
        model, P, X, T, loss = problem
        with np.errstate(over="ignore", invalid="ignore"):
            _, G = loss_and_grad(model, P, X, T, loss)
            dmodel, dP = _dense_equivalent(model, P)
            per = [loss_and_grad(dmodel, dP, X[p:p + 1], T[p:p + 1], loss)[1] for p in range(X.shape[0])]
        return du1_violations(model, P, G, per, degree=1) > CONTROL
    nets = vs.networks(depth=(2, 3), widths=(1, 4), activations=vs.NON_HOMOGENEOUS, bias=False)
    model, *_ = find(problems(nets), violated,
                     settings=settings(max_examples=200, database=None, phases=[Phase.generate]))
    assert any(isinstance(layer, Act) and not layer.activation.is_homogeneous for layer in model.layers)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "identity", "relu2"])
def test_du_1_control_dropped_bias_detected(act):
    """A biased net: the law holds with b_h[i]^2 and fails without it."""
    model = mlp((3, 4, 2), act, bias=True)
    P, X, T, loss = _random_problem(model, 3)
    G, per = gradients(model, P, X, T, loss, drawn=False)
    assert du1_violations(model, P, G, per) <= RTOL
    assert du1_violations(model, P, G, per, bias=False) > CONTROL


@pytest.mark.parametrize("act, right, wrong", [("relu2", 2, 1), ("relu", 1, 2), ("leaky_relu", 1, 2)])
def test_du_1k_control_wrong_degree_detected(act, right, wrong):
    """Weight k must be the activation's degree: relu2 with k = 1 (and relu with k = 2) fails."""
    model = mlp((3, 4, 2), act)
    P, X, T, loss = _random_problem(model, 4)
    G, per = gradients(model, P, X, T, loss, drawn=False)
    assert du1_violations(model, P, G, per, degree=right) <= RTOL
    assert du1_violations(model, P, G, per, degree=wrong) > CONTROL


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "relu2"])
def test_du_3_control_off_diagonal_under_relu_detected(act):
    """Non-linear phi_h: the diagonal of the matrix law (DU-1, k = 1) holds for relu, the
    off-diagonal entries fail; relu2 fails on the diagonal too (degree 2)."""
    model = mlp((3, 4, 2), act)
    P, X, T, loss = _random_problem(model, 5)
    G, per = gradients(model, P, X, T, loss, drawn=False)
    value, scale = du3_flow(model, P, G, per, 0)
    off = ~np.eye(value.shape[0], dtype=bool)
    assert rel(value[off], scale[off]) > CONTROL
    if act != "relu2":
        assert rel(np.diag(value), np.diag(scale)) <= RTOL


def test_du_4_control_frobenius_norm_of_shared_weights_detected():
    """With sharing, ||W_h||_F^2 != ||v_h||^2: the Frobenius version of the law is not conserved."""
    pat1 = conv1d_pattern(5, 2)  # each of 2 kernel weights used 4 times
    pat2 = ((1, 2, 3, 4), (5, 6, 7, 8))  # no sharing
    model = Model("conv-relu", 5, (Param("v1", (2,)), Param("v2", (8,))),
                  (Dense("v1", None, pat1), Act(get_activation("relu")), Dense("v2", None, pat2)))
    P, X, T, loss = _random_problem(model, 6)
    G, per = gradients(model, P, X, T, loss, drawn=False)
    assert holds(*flow_violation(model, layer_gradQ(model, P, 0, 1), G, per))
    assert rel(*flow_violation(model, layer_gradQ(model, P, 0, 1, frobenius_of_shared=True), G, per)) > CONTROL


def test_du_1gd_control_flow_conservation_is_not_exact_for_gd():
    """Negative control: one GD step with the increment left out (change = 0) is detected."""
    model = mlp((3, 4, 2), "relu")
    P, X, T, loss = _random_problem(model, 7)
    G, _ = gradients(model, P, X, T, loss, drawn=False)
    eta, W, Wn = 0.1, P["W1"], P["W2"]
    Pn = gd_point(P, G, eta)
    change = np.sum(Pn["W1"] ** 2, axis=1) - np.sum(Pn["W2"] ** 2, axis=0) - (
        np.sum(W**2, axis=1) - np.sum(Wn**2, axis=0))
    scale = sum(np.sum(R["W1"] ** 2, axis=1) + np.sum(R["W2"] ** 2, axis=0) for R in (P, Pn))
    increment = eta**2 * (np.sum(G["W1"] ** 2, axis=1) - np.sum(G["W2"] ** 2, axis=0))
    assert rel(change - increment, scale) <= RTOL
    assert rel(change, scale) > CONTROL


# ---------------------------------------------------------------------------------------------
# Numeric gradients against an independent method (central finite differences)


def _fd_check(model, P, X, T, loss):
    """Backprop (verify.interpret.numeric.loss_and_grad) against central differences of the forward pass."""
    _, G = loss_and_grad(model, P, X, T, loss)

    def f(th):
        return loss_value_and_grad(loss, forward(model, unflat(model, th), X), T)[0]
    theta = flat(model, P)
    h = 1e-6  # verify.interpret.numeric.fd_gradient's step
    fd = fd_gradient(f, theta, h)
    # Round-off of a central difference is ~ eps |L| / h; truncation ~ h^2 |f'''|, covered by rtol.
    L_scale = max(abs(f(theta)), 1.0)
    np.testing.assert_allclose(flat(model, G), fd, rtol=1e-5, atol=1e3 * np.finfo(float).eps * L_scale / h)


def _away_from_kinks(model, P, X, margin=1e-3):
    """True when no pre-activation of a non-smooth activation lies within ``margin`` of 0."""
    A = np.asarray(X, float)
    for layer in model.layers:
        if isinstance(layer, Act):
            act = layer.activation
            if act.is_homogeneous and not act.is_identity and np.any(np.abs(A) < margin):
                return False
            A = act.numpy(A)
        elif isinstance(layer, Dense):
            W = P[layer.weight] if layer.pattern is None else np.concatenate([[0.0], P[layer.weight]])[
                np.asarray(layer.pattern)]
            A = A @ W.T + (P[layer.bias] if layer.bias else 0.0)
    return True


@st.composite
def seeded_problems(draw, nets):
    """A drawn architecture and loss with a generic (seeded normal) point: FD needs no kinks."""
    model = draw(nets)
    loss = draw(vs.losses(output_dim=model.output_dim))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    P = {p.name: 0.5 * rng.normal(size=p.shape) for p in model.params}
    m = int(rng.integers(1, 5))
    X = rng.normal(size=(m, model.input_dim))
    T = draw(vs.targets(model, loss, points=m))
    return model, P, X, T, loss


SMOOTH_AND_HOMOGENEOUS = vs.HOMOGENEOUS + vs.NON_HOMOGENEOUS


@settings(deadline=None, max_examples=30)
@given(seeded_problems(vs.networks(depth=(2, 4), widths=(1, 5), activations=SMOOTH_AND_HOMOGENEOUS, sharing=None)))
def test_du_1_du_4_backprop_matches_finite_differences_all_losses(problem):
    """Dense and shared nets, with and without bias, all four losses."""
    model, P, X, T, loss = problem
    assume(_away_from_kinks(model, P, X))
    _fd_check(model, P, X, T, loss)


@settings(deadline=None, max_examples=20)
@given(seeded_problems(vs.diagonal_networks(n=(1, 6), depth=(1, 4))))
def test_ex_2_backprop_diagonal_nets_matches_finite_differences(problem):
    model, P, X, T, loss = problem
    _fd_check(model, P, X, T, loss)


@pytest.mark.parametrize("loss", vs.LOSSES)
def test_du_4_backprop_every_loss_on_a_shared_net(loss):
    """Every loss at least once on a fixed shared-weight net with bias (the drawn test may miss one)."""
    pat = conv1d_pattern(4, 2)
    n_out = 2 if loss == "cross_entropy" else 1
    model = Model("conv", 4, (Param("v1", (2,)), Param("b1", (3,)), Param("W2", (n_out, 3))),
                  (Dense("v1", "b1", pat), Act(get_activation("tanh")), Dense("W2")))
    rng = np.random.default_rng(8)
    P = {p.name: rng.normal(size=p.shape) for p in model.params}
    X = rng.normal(size=(3, 4))
    T = {"square": rng.normal(size=(3, model.output_dim)), "cross_entropy": np.array([[0.0], [1.0], [1.0]])}.get(
        loss, np.array([[1.0], [-1.0], [1.0]]))
    _fd_check(model, P, X, T, loss)


# ---------------------------------------------------------------------------------------------
# The strategies themselves


def test_strategies_reject_invalid_bounds_on_entry():
    bad = [
        lambda: vs.networks(depth=(1, 3), linear_layer=True),
        lambda: vs.networks(free=(0, 2)),
        lambda: vs.networks(bias="yes"),
        lambda: vs.networks(sharing=1),
        lambda: vs.networks(activations=()),
        lambda: vs.networks(activations=("relux",)),
        lambda: vs.networks(depth=3),
        lambda: vs.networks(outputs=(0, 1)),
        lambda: vs.diagonal_networks(n=(0, 2)),
        lambda: vs.diagonal_networks(depth=(3, 2)),
        lambda: vs.parameters(mlp((1, 1), "relu"), scale=float("inf")),
        lambda: vs.parameters(mlp((1, 1), "relu"), min_magnitude=2.0),
        lambda: vs.data(mlp((1, 1), "relu"), points=(0, 2)),
        lambda: vs.data(mlp((1, 1), "relu"), min_magnitude=-1.0),
        lambda: vs.targets(mlp((1, 2), "relu"), "logistic", points=2),
        lambda: vs.targets(mlp((1, 1), "relu"), "cross_entropy", points=2),
        lambda: vs.targets(mlp((1, 1), "relu"), "square", points=0),
        lambda: vs.losses(output_dim=0),
        lambda: vs.losses(names=("cross_entropy",), output_dim=1),
        lambda: vs.factorizations(rank=(0, 1)),
    ]
    for make in bad:
        with pytest.raises(BadInput):
            make()


@settings(deadline=None, max_examples=30)
@given(st.data())
def test_strategies_generate_what_they_promise(data):
    model = data.draw(vs.networks(depth=(2, 4), widths=(1, 4), sharing=True, bias=True, linear_layer=True))
    assert all(layer.pattern is not None and layer.bias for layer in _dense(model))
    assert any(_degree_after(model, h)[1].is_identity for h in range(len(_dense(model)) - 1))
    assert 2 <= len(_dense(model)) <= 4
    P = data.draw(vs.parameters(model, scale=0.5, min_magnitude=1e-3))
    for p in model.params:
        a = P[p.name]
        assert a.shape == p.shape and np.all(np.abs(a) <= 0.5) and np.all((a == 0) | (np.abs(a) >= 1e-3))
    loss = data.draw(vs.losses(output_dim=model.output_dim))
    check_loss(loss, model.output_dim)
    T = data.draw(vs.targets(model, loss, points=3))
    assert T.shape[0] == 3 and np.all(np.isfinite(T))
    diag = data.draw(vs.diagonal_networks(n=(2, 3), depth=(3, 3)))
    assert isinstance(diag.layers[0], DiagonalLinear) and len(diag.params) == 3 and diag.input_dim in (2, 3)
    U, V, M = data.draw(vs.factorizations(rows=(2, 2), cols=(3, 3), rank=(1, 1)))
    assert U.shape == (2, 1) and V.shape == (3, 1) and M.shape == (2, 3)
