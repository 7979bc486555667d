"""Hypothesis strategies: random networks, parameter points and data, targets, losses.

Every strategy takes keyword-only bounds and rejects invalid bounds on entry (``BadInput``), so a
typo in a user's test fails loudly instead of generating nothing.

References:
    Du, Hu & Lee (2018), Sec 2.1 (fully connected nets), Sec 2.2 (sharing patterns g_h), Sec 3
    (matrix factorisation); catalog section "Identities that hold for related models" (diagonal nets).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from verify.model.activations import Activation, get_activation, homogeneous, leaky_relu, relu_power  # noqa: F401
from verify.testing._args import activation_names, flag, pair
from verify.errors import BadInput
from verify.model import Act, Dense, LayerBase, Model, Param, diagonal_net, mlp

__all__ = [
    "layer_stacks",
    "networks", "diagonal_networks", "parameters", "data", "targets", "losses", "factorizations",
    "conv_networks", "residual_networks", "normalized_networks", "attention_networks",
    "HOMOGENEOUS", "NON_HOMOGENEOUS", "LOSSES", "DEGREE_ONE",
]

HOMOGENEOUS = ("identity", "relu", "leaky_relu", "relu2")
NON_HOMOGENEOUS = ("tanh", "sigmoid", "softplus", "gelu")
LOSSES = ("square", "logistic", "exponential", "cross_entropy")


def _magnitudes(scale, min_magnitude):
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise BadInput(f"Got scale={scale!r}; it must be a finite number > 0.")
    if not (isinstance(min_magnitude, (int, float)) and 0 <= min_magnitude < scale):
        raise BadInput(f"Got min_magnitude={min_magnitude!r}; need 0 <= min_magnitude < scale={scale}.")


def _entries(scale, min_magnitude):
    """float64 entries in [-scale, scale]; nonzero entries below ``min_magnitude`` become exactly 0.

    Flushing (rather than filtering) keeps exact zeros, the kinks of ReLU-like activations, in
    the search space while keeping products of a few entries out of the subnormal range.
    """
    elems = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=64)
    if min_magnitude > 0:
        elems = elems.map(lambda x: 0.0 if abs(x) < min_magnitude else x)
    return elems


def _array(shape, elems):
    size = int(np.prod(shape)) if shape else 1
    return st.lists(elems, min_size=size, max_size=size).map(
        lambda xs: np.asarray(xs, dtype=float).reshape(shape))


@st.composite
def _pattern(draw, n_out, n_in, free):
    """A sharing pattern g (Du, Hu & Lee Sec 2.2): entries 0 (missing) or 1..n_free (shared v)."""
    n_free = draw(st.integers(*free))
    rows = draw(st.lists(st.lists(st.integers(0, n_free), min_size=n_in, max_size=n_in),
                         min_size=n_out, max_size=n_out))
    rows[0][0] = n_free  # the largest index occurs, so v has exactly n_free entries
    return tuple(tuple(r) for r in rows)


@st.composite
def _net(draw, depth, widths, activations, bias, sharing, linear_layer, free, outputs):
    n_layers = draw(st.integers(*depth))
    ws = draw(st.lists(st.integers(*widths), min_size=n_layers, max_size=n_layers))
    ws.append(draw(st.integers(*outputs)))
    acts = draw(st.lists(st.sampled_from(activations), min_size=n_layers - 1, max_size=n_layers - 1))
    if linear_layer:
        acts[draw(st.integers(0, n_layers - 2))] = "identity"
    with_bias = draw(st.booleans()) if bias is None else bias
    shared = draw(st.booleans()) if sharing is None else sharing
    if not shared:
        return mlp(ws, acts, bias=with_bias)
    params, layers = [], []
    for h in range(1, n_layers + 1):
        pat = draw(_pattern(ws[h], ws[h - 1], free))
        params.append(Param(f"v{h}", (max(max(r) for r in pat),)))
        if with_bias:
            params.append(Param(f"b{h}", (ws[h],)))
        layers.append(Dense(f"v{h}", f"b{h}" if with_bias else None, pat))
        if h < n_layers:
            layers.append(Act(get_activation(acts[h - 1])))
    label = f"shared{tuple(ws)}-{'/'.join(get_activation(a).name for a in acts) or 'linear'}" + (
        "+bias" if with_bias else "")
    return Model(label, ws[0], tuple(params), tuple(layers))


def networks(*, depth=(2, 5), widths=(1, 8), activations=HOMOGENEOUS, bias=None, sharing=False,
             linear_layer=False, free=(1, 3), outputs=None) -> st.SearchStrategy[Model]:
    """Random fully connected or shared-weight nets; depth = number of weight layers.

    Args:
        depth: (min, max) number of weight layers, >= 1.
        widths: (min, max) width of every layer including input and output, >= 1.
        activations: names (or ``Activation`` objects) drawn independently per hidden layer.
        bias: ``True``/``False`` fixes it, ``None`` draws it.
        sharing: ``True`` gives shared-weight layers (weight of layer h is the vector ``v{h}``
            spread by a random sharing pattern), ``False`` dense layers ``W{h}``, ``None`` draws.
        linear_layer: when ``True``, one random hidden layer has the identity activation (the
            setting of Du, Hu & Lee Thm 2.2); needs depth >= 2.
        free: (min, max) number of free parameters per shared layer, >= 1.
        outputs: (min, max) output width, >= 1; ``None`` uses ``widths``. ``outputs=(1, 1)``
            gives scalar nets (logistic / exponential losses), ``(2, 8)`` nets for cross_entropy.
    """
    depth = pair("depth", depth, floor=1)
    widths = pair("widths", widths, floor=1)
    free = pair("free", free, floor=1)
    outputs = widths if outputs is None else pair("outputs", outputs, floor=1)
    flag("bias", bias)
    flag("sharing", sharing)
    activations = activation_names(activations)
    if linear_layer and depth[0] < 2:
        raise BadInput(f"Got linear_layer=True with depth={depth}; a hidden layer needs depth >= 2.")
    return _net(depth, widths, tuple(activations), bias, sharing, bool(linear_layer), free, outputs)


@st.composite
def _stack(draw, kinds, depth, inputs):
    d0 = d = draw(st.integers(*inputs))
    params, layers, n = [], [], 1
    first, ps, d = Dense.draw(draw, d, n)
    params += ps
    layers.append(first)
    for _ in range(draw(st.integers(*depth))):
        n += 1
        layer, ps, d = draw(st.sampled_from(kinds)).draw(draw, d, n)
        params += ps
        layers.append(layer)
    n += 1
    out, ps, _ = Dense.draw(draw, d, n)
    label = "stack(" + ", ".join(type(layer).__name__ for layer in layers) + ", Dense)"
    return Model(label, d0, tuple(params + ps), tuple(layers) + (out,))


def layer_stacks(*, kinds: Sequence[type[LayerBase]], depth=(1, 3), inputs=(1, 3)) -> st.SearchStrategy[Model]:
    """A dense layer, ``depth`` layers drawn from ``kinds`` (each kind draws itself through its
    ``draw`` hook, ``verify.model.layers``), and a dense read-out. Parameter names follow the spec
    convention: the k-th parameter-carrying position is number k (``W1``, ``a2``, ``W3``, ...)."""
    pair("depth", depth, floor=0)
    pair("inputs", inputs, floor=1)
    if not kinds or not all(isinstance(k, type) and issubclass(k, LayerBase) for k in kinds):
        raise BadInput(f"Got kinds={kinds!r}; give layer classes from verify.model.layers, e.g. (Act, Scale).")
    return _stack(tuple(kinds), depth, inputs)


def diagonal_networks(*, n=(1, 8), depth=(2, 5)) -> st.SearchStrategy[Model]:
    """Diagonal (Hadamard) linear nets f(x) = <u1 * ... * uL, x> with n inputs and L factors."""
    n = pair("n", n, floor=1)
    depth = pair("depth", depth, floor=1)
    return st.builds(lambda k, L: diagonal_net(k, L), st.integers(*n), st.integers(*depth))


def parameters(model: Model, *, scale: float = 1.0, min_magnitude: float = 0.0) -> st.SearchStrategy[dict]:
    """A float64 parameter point {name: array}, entries in [-scale, scale] (no NaN/inf).

    Nonzero entries smaller than ``min_magnitude`` in absolute value are drawn as exactly 0.
    """
    _magnitudes(scale, min_magnitude)
    elems = _entries(scale, min_magnitude)
    return st.fixed_dictionaries({p.name: _array(p.shape, elems) for p in model.params})


def data(model: Model, *, points=(1, 4), scale: float = 1.0,
         min_magnitude: float = 0.0) -> st.SearchStrategy[np.ndarray]:
    """A batch X of shape (m, input_dim), m in ``points``."""
    points = pair("points", points, floor=1)
    _magnitudes(scale, min_magnitude)
    elems = _entries(scale, min_magnitude)
    return st.integers(*points).flatmap(lambda m: _array((m, model.input_dim), elems))


def targets(model: Model, loss: str, *, points: int, scale: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    """Targets for ``points`` data points in the form ``verify.model.losses`` expects for ``loss``.

    square: reals in [-scale, scale], shape (m, output_dim); logistic / exponential: labels
    +-1, shape (m, 1); cross_entropy: class indices, shape (m, 1).
    """
    from verify.model.losses import check_loss
    check_loss(loss, model.output_dim)  # unknown loss or wrong output width: BadInput
    if not (isinstance(points, int) and points >= 1):
        raise BadInput(f"Got points={points!r}; it must be an integer >= 1.")
    _magnitudes(scale, 0.0)
    if loss == "square":
        return _array((points, model.output_dim), _entries(scale, 0.0))
    if loss == "cross_entropy":
        return _array((points, 1), st.integers(0, model.output_dim - 1).map(float))
    return _array((points, 1), st.sampled_from((-1.0, 1.0)))


def losses(*, names=LOSSES, output_dim: int | None = None) -> st.SearchStrategy[str]:
    """Names of concrete losses (see ``verify.model.losses``).

    With ``output_dim``, only the losses that fit a network with that many outputs are drawn
    (logistic / exponential need one output, cross_entropy at least two; square fits all).
    """
    names = tuple(names)
    bad = [n for n in names if n not in LOSSES]
    if bad or not names:
        raise BadInput(f"Got losses {list(names)}; choose from {', '.join(LOSSES)}.")
    if output_dim is not None:
        if not (isinstance(output_dim, int) and output_dim >= 1):
            raise BadInput(f"Got output_dim={output_dim!r}; it must be an integer >= 1.")
        fit = tuple(n for n in names if n == "square" or (
            output_dim == 1 if n in ("logistic", "exponential") else output_dim >= 2))
        if not fit:
            raise BadInput(f"None of the losses {list(names)} fits output_dim={output_dim}; add 'square'.")
        names = fit
    return st.sampled_from(names)


def factorizations(*, rows=(1, 6), cols=(1, 6), rank=(1, 4), scale: float = 1.0,
                   min_magnitude: float = 0.0) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Matrix factorisation instances (U, V, M*) with U (d1 x r), V (d2 x r), M* (d1 x d2).

    M* is an arbitrary matrix: the GD identities of Du, Hu & Lee Sec 3 (DU-6) do not use its rank.
    """
    rows = pair("rows", rows, floor=1)
    cols = pair("cols", cols, floor=1)
    rank = pair("rank", rank, floor=1)
    _magnitudes(scale, min_magnitude)
    elems = _entries(scale, min_magnitude)
    return st.tuples(st.integers(*rows), st.integers(*cols), st.integers(*rank)).flatmap(
        lambda s: st.tuples(_array((s[0], s[2]), elems), _array((s[1], s[2]), elems), _array((s[0], s[1]), elems)))


# Conv2d / pooling, residual, normalised and attention nets live in their own module; re-exported
# here so that ``verify.testing.strategies`` stays the one import for users' tests.
from verify.testing.layer_strategies import (DEGREE_ONE, attention_networks, conv_networks,  # noqa: E402
                               normalized_networks, residual_networks)
