"""Float64 property tests of the conservation laws on random conv / pooling, residual, normalised
and attention networks (``verify.testing.strategies.conv_networks`` and friends).

Each law is checked as the exact identity dQ/dt = <grad Q, -grad L> = 0 with grad L from the
hand-written reverse mode ``verify.interpret.numeric.loss_and_grad`` (independent of SymPy), for a drawn
network, parameter point, data, loss and targets. Each law has a negative control that must fail
on some drawn example (found by Hypothesis ``find``), with the same checker.

Tolerance rule: the value v = sum_e t_e of a rate that vanishes in exact arithmetic must satisfy
|v| <= RTOL * S, S = sum over data points p and entries e of |t_e| computed from the per-point
gradient (so cancellation between data points cannot hide in S), RTOL = 1e-12 as in
tests/test_property_claims.py (the worst violation seen in 1,500 draws per law was ~2e-16 S).
For the laws before a normalisation, S also includes the gradient arriving at the normalised
output (``_through_normalisation``): the backward pass of a normalisation cancels terms of that
size, which the per-entry |t_e| do not see. Controls must exceed CONTROL = 1e-3.

Laws:
    DU-4 / DU-2 generalised: rescaling weight layer h (kernel and bias) by c > 0 and layer h + 1 by
        1/c leaves the net unchanged through degree-1 activations and avg / max pooling, so
        ||theta_h||^2 + ||b_h||^2 - ||theta_{h+1}||^2 is conserved (Du, Hu & Lee 2018, Thm 2.3
        and Cor 2.1, with the conv kernel as the shared vector v).
    DU-1 / DU-2 inside residual blocks: x + U phi(V x + c) is invariant under (V, c, U) ->
        (cV, cc, U/c) per hidden unit, so per-neuron and per-block balance hold inside the block
        (not across the skip: the control).
    NM-1 (registry extension, not in the catalog): a layer feeding l2 / layer normalisation is invariant
        under (W1, b1) -> c (W1, b1), so ||W1||^2 + ||b1||^2 is conserved; a weight-normalised row
        ||W1[i,:]||^2 likewise.
    Attention (beyond the catalog, the DU-3 / JT-1 algebra): softmax(X Wq Wk^T X^T) is invariant
        under Wq -> Wq A, Wk -> Wk A^{-T}, so the k x k matrix Wq^T Wq - Wk^T Wk is conserved.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, find, given, settings
from hypothesis import strategies as st

from verify.testing import strategies as vs
from verify.errors import VerifyError
from verify.model import Dense, Model, Normalize, NormalizedDense, Param, Pool, Residual
from verify.interpret.numeric import forward, loss_and_grad

RTOL = 1e-12
CONTROL = 1e-3
MIN_MAGNITUDE = 1e-6
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
#: Negative controls: the first violating draw is enough (no shrinking, no example database).
FIND = settings(max_examples=200, database=None, phases=[Phase.generate], **SETTINGS)


@st.composite
def problems(draw, nets):
    """(model, P, G, per, X, T, loss): a drawn net at a drawn point, its batch gradient G and the
    gradient of every single data point (for the tolerance scale), and the data."""
    model = draw(nets)
    P = draw(vs.parameters(model, min_magnitude=MIN_MAGNITUDE))
    X = draw(vs.data(model, points=(1, 3), min_magnitude=MIN_MAGNITUDE))
    loss = draw(vs.losses(output_dim=model.output_dim))
    T = draw(vs.targets(model, loss, points=X.shape[0]))
    with np.errstate(over="ignore", invalid="ignore"):
        _, G = loss_and_grad(model, P, X, T, loss)
        per = [loss_and_grad(model, P, X[p:p + 1], T[p:p + 1], loss)[1] for p in range(X.shape[0])]
    assume(all(np.all(np.isfinite(g)) for d in [G, *per] for g in d.values()))
    assume(any(np.any(g != 0) for g in G.values()))  # a zero gradient satisfies every law trivially
    return model, P, G, per, X, T, loss


def balance_rate(P, G, per, parts, floor: float = 0.0):
    """Relative violation |v| / S of dQ/dt = 0 for Q = sum of sign * ||P[name][index]||^2.

    ``parts`` is a list of (sign, name, index); dQ/dt = -2 sum sign <P[name][index], G[name][index]>.
    ``floor`` is added to S (the normalisation tests' gradient arriving at the normalised output).
    """
    value = sum(sign * np.sum(P[n][i] * G[n][i]) for sign, n, i in parts)
    scale = floor + sum(np.sum(np.abs(P[n][i] * g[n][i])) for g in per for _, n, i in parts)
    # Every term exactly 0 (a dead unit, a zero row): the rate is exactly 0, nothing to measure.
    return None if scale == 0 and value == 0 else abs(value) / scale


ALL = np.s_[...]


def _weights(model):
    """(kernel or matrix, bias) of every top-level dense layer, in order."""
    return [(layer.weight, layer.bias) for layer in model.layers if isinstance(layer, Dense)]


def _pairs(model):
    """The balance quantity of each consecutive pair of weight layers: ||theta_h||^2 + ||b_h||^2 -
    ||theta_{h+1}||^2."""
    ws = _weights(model)
    out = []
    for (w, b), (w2, _) in zip(ws, ws[1:]):
        out.append([(1, w, ALL)] + ([(1, b, ALL)] if b else []) + [(-1, w2, ALL)])
    return out


def _worst(problem, quantities, floor: float = 0.0):
    model, P, G, per = problem[:4]
    rates = [r for q in quantities(model, P) if (r := balance_rate(P, G, per, q, floor)) is not None]
    assume(rates)  # at least one law with a nonzero term: otherwise the draw tests nothing
    return max(rates)


# ---------------------------------------------------------------------------------------------
# DU-4 / DU-2: layer balance through 2-D convolutions and pooling


@settings(max_examples=60, **SETTINGS)
@given(problems(vs.conv_networks(activations=vs.DEGREE_ONE)))
def test_du_4_layer_balance_holds_through_conv2d_and_avg_max_pooling(problem):
    assert _worst(problem, lambda m, P: _pairs(m)) <= RTOL


def test_du_4_layer_balance_control_degree_two_activation_or_dropped_bias():
    # relu2 (degree 2) breaks the 1/c rescaling; so does leaving the conv bias out of Q.
    relu2 = problems(vs.conv_networks(activations=("relu2",), convs=(1, 1)))
    find(relu2, lambda pr: _worst(pr, lambda m, P: _pairs(m)) > CONTROL, settings=FIND)
    biased = problems(vs.conv_networks(bias=True, convs=(1, 1), activations=("relu",)))
    no_bias = lambda m, P: [[(s, n, i) for s, n, i in q if not n.startswith("b")] for q in _pairs(m)]  # noqa: E731
    find(biased, lambda pr: _worst(pr, no_bias) > CONTROL, settings=FIND)


# ---------------------------------------------------------------------------------------------
# DU-1 / DU-2 inside residual blocks


def _blocks(model):
    return [layer.block for layer in model.layers if isinstance(layer, Residual)]


def _block_laws(model, P):
    """Per block: the block balance, and every hidden unit's per-neuron balance."""
    laws = []
    for block in _blocks(model):
        (v, c), u = (block[0].weight, block[0].bias), block[2].weight
        laws.append([(1, v, ALL)] + ([(1, c, ALL)] if c else []) + [(-1, u, ALL)])
        for i in range(P[v].shape[0]):
            laws.append([(1, v, np.s_[i, :])] + ([(1, c, np.s_[i])] if c else []) + [(-1, u, np.s_[:, i])])
    return laws


@settings(max_examples=60, **SETTINGS)
@given(problems(vs.residual_networks()))
def test_du_1_du_2_balance_holds_inside_residual_blocks(problem):
    assert _worst(problem, _block_laws) <= RTOL


def test_du_2_balance_across_a_skip_connection_is_refuted():
    # W0 feeds both the block and the skip: rescaling W0 by c and V1 by 1/c changes the net.
    across = lambda m, P: [[(1, "W0", ALL), (-1, "V1", ALL)]]  # noqa: E731
    find(problems(vs.residual_networks(activations=("relu",))), lambda pr: _worst(pr, across) > CONTROL,
         settings=FIND)


# ---------------------------------------------------------------------------------------------
# NM-1: scale invariance before a normalisation (registry extension, not in the catalog)


def _scale_invariant(model, P):
    if model.name.startswith("weight-norm"):
        return [[(1, "W1", np.s_[i, :])] for i in range(P["W1"].shape[0])]
    return [[(1, "W1", ALL)] + ([(1, "b1", ALL)] if "b1" in P else [])]


def _through_normalisation(problem) -> float:
    """Rounding floor of the scale-invariance rates: sum over points of ||dy|| (||y|| + ||x||), dy the
    gradient arriving at the normalised output y. The backward pass of a normalisation projects dy
    (dz = (dy - y <y, dy>) / ||z|| for l2), so <z, dz> cancels terms of size ||dy||: when dy is
    nearly parallel to y (always, for layer norm on 2 units) dz is pure round-off, and the per-point
    |theta_e G_e| alone would not bound it. dy is read off an identity layer E inserted after the
    normalisation: dL/dE = dy y^T, so ||dL/dE||_F = ||dy|| ||y||."""
    model, P, _, _, X, T, loss = problem
    cut = 1 if model.name.startswith("weight-norm") else 2
    n = P["W1"].shape[0]
    head = Model("head", model.input_dim, model.params, model.layers[:cut])
    probe = Model(model.name + "+E", model.input_dim, model.params + (Param("E", (n, n)),),
                  model.layers[:cut] + (Dense("E"),) + model.layers[cut:])
    PE = {**P, "E": np.eye(n)}
    floor = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for p in range(X.shape[0]):
            dy_y = np.linalg.norm(loss_and_grad(probe, PE, X[p:p + 1], T[p:p + 1], loss)[1]["E"])
            y = np.linalg.norm(forward(head, P, X[p:p + 1]))
            floor += dy_y + (dy_y / y * np.linalg.norm(X[p]) if y > 0 else 0.0)
    assume(np.isfinite(floor))
    return floor


@settings(max_examples=60, **SETTINGS)
@given(problems(vs.normalized_networks()))
def test_nm_1_norm_of_a_layer_feeding_a_normalisation_is_conserved(problem):
    assert _worst(problem, _scale_invariant, _through_normalisation(problem)) <= RTOL


def test_nm_1_control_norm_of_the_layer_after_a_normalisation_is_not_conserved():
    after = lambda m, P: [[(1, "W2", ALL)]]  # noqa: E731
    find(problems(vs.normalized_networks()), lambda pr: _worst(pr, after, _through_normalisation(pr)) > CONTROL,
         settings=FIND)
    # ... nor is ||W1||^2 without the bias it is rescaled with.
    no_bias = lambda m, P: [[(1, "W1", ALL)]]  # noqa: E731
    find(problems(vs.normalized_networks(kind="layer", bias=True)),
         lambda pr: _worst(pr, no_bias, _through_normalisation(pr)) > CONTROL, settings=FIND)


# ---------------------------------------------------------------------------------------------
# Attention: Wq^T Wq - Wk^T Wk (beyond the catalog)


def gram_rate(P, G, per, a: str, b: str, transpose: bool):
    """Largest relative violation over the entries of d/dt (A^T A - B^T B) (or A A^T - B B^T when
    ``transpose``): entry (r, s) of d/dt A^T A is -(G^T A + A^T G)[r, s]."""
    def rate(g, x):
        x, g = (x.T, g.T) if transpose else (x, g)
        return g.T @ x + x.T @ g, np.abs(g).T @ np.abs(x) + np.abs(x).T @ np.abs(g)

    (va, _), (vb, _) = rate(G[a], P[a]), rate(G[b], P[b])
    scale = sum(rate(g[a], P[a])[1] + rate(g[b], P[b])[1] for g in per)
    measured = scale > 0  # an entry whose terms are all exactly 0 has rate exactly 0
    assert np.all(va[~measured] == vb[~measured])
    assume(np.any(measured))
    return float(np.max(np.abs(va - vb)[measured] / scale[measured]))


@settings(max_examples=60, **SETTINGS)
@given(problems(vs.attention_networks()))
def test_attention_query_key_gram_difference_is_conserved(problem):
    _, P, G, per = problem[:4]
    assert gram_rate(P, G, per, "Wq", "Wk", transpose=False) <= RTOL


def test_attention_control_the_other_gram_difference_is_not_conserved():
    # Wq Wq^T - Wk Wk^T (d x d) is not invariant under Wq -> Wq A, Wk -> Wk A^{-T}.
    find(problems(vs.attention_networks(width=(2, 3), key_width=(2, 3))),
         lambda pr: gram_rate(pr[1], pr[2], pr[3], "Wq", "Wk", transpose=True) > CONTROL,
         settings=FIND)


# ---------------------------------------------------------------------------------------------
# The strategies themselves: they reach every layer kind, and reject bad bounds on entry


@pytest.mark.parametrize("strategy, has", [
    (vs.conv_networks(), lambda m: any(isinstance(x, Pool) and x.kind == "max" for x in m.layers)),
    (vs.conv_networks(), lambda m: any(isinstance(x, Pool) and x.kind == "avg" for x in m.layers)),
    (vs.conv_networks(), lambda m: sum(isinstance(x, Dense) and x.pattern is not None for x in m.layers) == 2),
    (vs.residual_networks(), lambda m: len(_blocks(m)) == 3),
    (vs.normalized_networks(), lambda m: any(isinstance(x, NormalizedDense) for x in m.layers)),
    (vs.normalized_networks(), lambda m: any(isinstance(x, Normalize) and x.kind == "layer" for x in m.layers)),
    (vs.normalized_networks(), lambda m: any(isinstance(x, Normalize) and x.kind == "l2" for x in m.layers)),
    (vs.attention_networks(), lambda m: m.layers[0].value is not None and m.layers[0].tokens == 3),
])
def test_layer_strategies_reach_every_layer_kind(strategy, has):
    find(strategy, has, settings=FIND)


@pytest.mark.parametrize("make, needle", [
    (lambda: vs.conv_networks(image=(0, 3)), "image"),
    (lambda: vs.conv_networks(kernel=(4, 4), image=(2, 5)), "kernel"),
    (lambda: vs.conv_networks(pooling="median"), "pooling"),
    (lambda: vs.conv_networks(image=(1, 3), kernel=(2, 2)), "kernel"),
    (lambda: vs.residual_networks(blocks=(2, 1)), "blocks"),
    (lambda: vs.residual_networks(activations=("rleu",)), "rleu"),
    (lambda: vs.normalized_networks(kind="batch"), "kind"),
    (lambda: vs.normalized_networks(bias="yes"), "bias"),
    (lambda: vs.attention_networks(value=1), "value"),
])
def test_layer_strategies_reject_bad_bounds_on_entry(make, needle):
    with pytest.raises(VerifyError, match=needle):
        make()


@settings(max_examples=60, **SETTINGS)
@given(vs.conv_networks(image=(2, 3), kernel=(2, 3), convs=(2, 2)))
def test_conv_networks_cap_the_kernel_by_a_map_that_earlier_layers_shrank(model):
    # A 2x2 kernel on a 2x2 image leaves a 1x1 map: the second conv gets a 1x1 kernel, not an error.
    assert sum(isinstance(x, Dense) and x.pattern is not None for x in model.layers) == 2



# ---------------------------------------------------------------------------------------------
# The README's use: the symbolic engine's certificate on drawn nets (exact, not float64)


@settings(max_examples=8, **SETTINGS)
@given(vs.conv_networks(image=(2, 3), convs=(2, 2), bias=False, activations=("relu",)))
def test_du_4_conv_balance_is_proven_symbolically_on_drawn_conv_nets(model):
    from verify.testing.assertions import assert_conserved
    assert assert_conserved(model, "norm(v1)**2 - norm(v2)**2").verdict == "proven"


def test_du_4_conv_balance_with_relu2_is_refuted_with_an_exact_witness():
    from verify.certificates import Refuted
    from verify.testing.assertions import NotConserved, assert_conserved

    def refuted(model):
        try:
            assert_conserved(model, "norm(v1)**2 - norm(v2)**2")
        except NotConserved as exc:
            return isinstance(exc.verdict, Refuted) and exc.verdict.witness is not None
        return False

    find(vs.conv_networks(image=(2, 3), convs=(2, 2), bias=False, activations=("relu2",), pooling="none"),
         refuted, settings=settings(max_examples=20, database=None, phases=[Phase.generate], **SETTINGS))
