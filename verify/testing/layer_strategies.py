"""Hypothesis strategies for networks with the layers beyond dense and 1-D sharing.

* :func:`conv_networks`: 2-D convolutions (shared kernels), 2-D average / max pooling, a dense
  read-out;
* :func:`residual_networks`: a dense stem, residual blocks x + U phi(V x + c), a dense read-out;
* :func:`normalized_networks`: a dense layer followed by l2 / layer normalisation, or a
  weight-normalised dense layer, then an activation and a dense read-out;
* :func:`attention_networks`: one softmax attention layer (query, key, optional value) and a dense
  read-out.

Parameter names are fixed so that a test can name the quantity it checks: conv layers ``v1, v2,
...`` with biases ``b1, ...`` and read-out ``W``; residual stem ``W0``, blocks ``V1, c1, U1, ...``,
read-out ``W``; normalised ``W1, b1`` then ``W2``; attention ``Wq, Wk, Wv`` then ``W``. They are
re-exported by :mod:`verify.testing.strategies`.

References:
    Du, Hu & Lee (2018) Sec 2.2 (sharing patterns: convolutions), Thm 2.3; He et al. (2016)
    (residual blocks); Ba et al. (2016) (layer normalisation); Salimans & Kingma (2016) (weight
    normalisation); Vaswani et al. (2017) eq. (1) (attention).
"""

from __future__ import annotations

from hypothesis import strategies as st

from verify.model.activations import get_activation
from verify.testing._args import activation_names, flag, pair
from verify.errors import BadInput
from verify.model import (Act, Attention, Dense, Model, Param, Pool, Residual, conv2d_pattern, normalized_mlp,
                    pool2d_windows)

__all__ = ["conv_networks", "residual_networks", "normalized_networks", "attention_networks", "DEGREE_ONE"]

#: Positively 1-homogeneous activations: rescaling a layer by c > 0 and the next by 1/c leaves the
#: net unchanged through them (and through avg / max pooling), the premise of layer balance.
DEGREE_ONE = ("identity", "relu", "leaky_relu")


def _choice(name, value, allowed):
    """``None`` draws from ``allowed``; a member of ``allowed`` fixes it."""
    if value is not None and value not in allowed:
        raise BadInput(f"Got {name}={value!r}; use one of {', '.join(map(repr, allowed))} or None (None draws it).")
    return st.sampled_from(allowed) if value is None else st.just(value)


def _bias(bias):
    flag("bias", bias)
    return st.booleans() if bias is None else st.just(bias)


@st.composite
def _conv(draw, image, channels, kernel, convs, pooling, activations, bias, outputs):
    h = w = draw(st.integers(*image))
    c = draw(st.integers(*channels))
    d0, params, layers, kinds = c * h * w, [], [], []
    n_conv = draw(st.integers(*convs))
    for k in range(1, n_conv + 1):
        # Both kernel bounds are capped by the current side: an earlier conv or pooling may have
        # shrunk the map below the smallest kernel (a 1x1 map then gets a 1x1 kernel).
        kh = draw(st.integers(min(kernel[0], h), min(kernel[1], h)))
        kw = draw(st.integers(min(kernel[0], w), min(kernel[1], w)))
        oc = draw(st.integers(*channels))
        pat = conv2d_pattern(h, w, (kh, kw), channels=c, out_channels=oc)
        h, w, c = h - kh + 1, w - kw + 1, oc
        params.append(Param(f"v{k}", (max(max(r) for r in pat),)))
        with_bias = draw(bias)
        if with_bias:
            params.append(Param(f"b{k}", (len(pat),)))
        layers += [Dense(f"v{k}", f"b{k}" if with_bias else None, pat),
                   Act(get_activation(draw(st.sampled_from(activations))))]
        kind = draw(pooling)
        if kind != "none" and min(h, w) >= 2:
            layers.append(Pool(kind, pool2d_windows(h, w, 2, channels=c)))
            h, w = h // 2, w // 2
            kinds.append(kind)
    n_out = draw(st.integers(*outputs))
    params.append(Param("W", (n_out, c * h * w)))
    layers.append(Dense("W"))
    label = f"cnn{n_conv}({d0}->{n_out}, pool {'/'.join(kinds) or 'none'})"
    return Model(label, d0, tuple(params), tuple(layers))


def conv_networks(*, image=(2, 5), channels=(1, 2), kernel=(1, 3), convs=(1, 2), pooling=None,
                  activations=DEGREE_ONE, bias=None, outputs=(1, 3)) -> st.SearchStrategy[Model]:
    """CNNs on square images: ``convs`` x [conv2d (kernel vector ``v{k}``, optional per-unit bias
    ``b{k}``), activation, optional 2x2 pooling], then a dense read-out ``W``.

    Args:
        image: (min, max) side of the square input image.
        channels: (min, max) input and output channels of every convolution.
        kernel: (min, max) kernel side; both are capped by the current feature-map side (a
            map shrunk by earlier layers gets a smaller kernel). Stride 1, no padding.
        convs: (min, max) number of convolution layers.
        pooling: ``"avg"``, ``"max"``, ``"none"`` fix it; ``None`` draws it per convolution.
            Pooling is added only where the feature map is at least 2x2.
        activations: names drawn per convolution.
        bias: ``True``/``False`` fixes the conv biases, ``None`` draws each.
        outputs: (min, max) output width.
    """
    image, channels = pair("image", image, 1), pair("channels", channels, 1)
    kernel, convs, outputs = pair("kernel", kernel, 1), pair("convs", convs, 1), pair("outputs", outputs, 1)
    if kernel[0] > image[0]:
        raise BadInput(f"Got kernel={kernel} with image={image}; the smallest kernel must fit the smallest image.")
    return _conv(image, channels, kernel, convs, _choice("pooling", pooling, ("avg", "max", "none")),
                 activation_names(activations), _bias(bias), outputs)


@st.composite
def _residual(draw, inputs, width, hidden, blocks, activations, bias, outputs):
    d0, n = draw(st.integers(*inputs)), draw(st.integers(*width))
    params, layers = [Param("W0", (n, d0))], [Dense("W0")]
    n_blocks = draw(st.integers(*blocks))
    for k in range(1, n_blocks + 1):
        m = draw(st.integers(*hidden))
        with_bias = draw(bias)
        params += [Param(f"V{k}", (m, n))] + ([Param(f"c{k}", (m,))] if with_bias else []) + [Param(f"U{k}", (n, m))]
        layers.append(Residual((Dense(f"V{k}", f"c{k}" if with_bias else None),
                                Act(get_activation(draw(st.sampled_from(activations)))), Dense(f"U{k}"))))
    n_out = draw(st.integers(*outputs))
    params.append(Param("W", (n_out, n)))
    layers.append(Dense("W"))
    return Model(f"resnet({d0}->{n}x{n_blocks} blocks->{n_out})", d0, tuple(params), tuple(layers))


def residual_networks(*, inputs=(1, 4), width=(1, 4), hidden=(1, 4), blocks=(1, 3), activations=DEGREE_ONE,
                      bias=None, outputs=(1, 3)) -> st.SearchStrategy[Model]:
    """x -> W0 x, then ``blocks`` x [x + U_k phi(V_k x (+ c_k))], then a dense read-out ``W``.

    Args:
        inputs: (min, max) input width.
        width: (min, max) width of the residual stream.
        hidden: (min, max) hidden width of each block.
        outputs: (min, max) output width.
        blocks: (min, max) number of residual blocks.
        activations: names drawn per block.
        bias: ``True``/``False`` fixes the block biases ``c_k``, ``None`` draws each.
    """
    return _residual(pair("inputs", inputs, 1), pair("width", width, 1), pair("hidden", hidden, 1),
                     pair("blocks", blocks, 1), activation_names(activations), _bias(bias), pair("outputs", outputs, 1))


@st.composite
def _normalized(draw, inputs, width, kind, activations, bias, outputs):
    d0, kind = draw(st.integers(*inputs)), draw(kind)
    least = 3 if kind == "layer" else 1  # layer norm on 2 units is the constant +-(1, -1): nothing to test
    n = draw(st.integers(max(width[0], least), max(width[1], least)))
    with_bias, n_out = draw(bias), draw(st.integers(*outputs))
    act = get_activation(draw(st.sampled_from(activations)))
    return normalized_mlp((d0, n, n_out), kind, act, with_bias, name=f"{kind}-norm({d0}->{n}->{n_out}, {act.name})")


def normalized_networks(*, inputs=(1, 4), width=(1, 5), kind=None, activations=DEGREE_ONE + ("tanh",),
                        bias=None, outputs=(1, 3)) -> st.SearchStrategy[Model]:
    """x -> normalise(W1 x (+ b1)) -> phi -> W2, with ``kind`` ``"l2"`` or ``"layer"`` normalisation
    of the whole layer, or ``"weight"`` (each row of W1 divided by its norm; the bias is added after).

    Args:
        kind: ``"l2"``, ``"layer"``, ``"weight"`` fix it, ``None`` draws it. For layer norm the
            drawn width is raised to 3: on one unit it is identically 0 and on two it is the
            constant +-(1, -1), so no gradient reaches the layer before it.
        activations: any activations (nothing here needs homogeneity).
        bias: ``True``/``False`` fixes ``b1``, ``None`` draws it.
    """
    return _normalized(pair("inputs", inputs, 1), pair("width", width, 1),
                       _choice("kind", kind, ("l2", "layer", "weight")), activation_names(activations), _bias(bias),
                       pair("outputs", outputs, 1))


@st.composite
def _attention(draw, tokens, width, key_width, value, outputs):
    t, d, k = draw(st.integers(*tokens)), draw(st.integers(*width)), draw(st.integers(*key_width))
    with_value = draw(value)
    params = [Param("Wq", (d, k)), Param("Wk", (d, k))]
    m = d
    if with_value:
        m = draw(st.integers(*width))
        params.append(Param("Wv", (d, m)))
    n_out = draw(st.integers(*outputs))
    params.append(Param("W", (n_out, t * m)))
    layers = (Attention("Wq", "Wk", t, "Wv" if with_value else None), Dense("W"))
    return Model(f"attention({t} tokens x {d}, key {k}{', value' if with_value else ''} -> {n_out})", t * d,
                 tuple(params), layers)


def attention_networks(*, tokens=(1, 3), width=(1, 3), key_width=(1, 3), value=None,
                       outputs=(1, 3)) -> st.SearchStrategy[Model]:
    """One single-head softmax attention layer on ``tokens`` tokens of width ``width`` (query and key
    ``(width, key_width)``, optional value ``Wv``), then a dense read-out ``W``.

    Args:
        value: ``True``/``False`` fixes whether there is a value matrix, ``None`` draws it.
    """
    flag("value", value)
    return _attention(pair("tokens", tokens, 1), pair("width", width, 1), pair("key_width", key_width, 1),
                      st.booleans() if value is None else st.just(value), pair("outputs", outputs, 1))
