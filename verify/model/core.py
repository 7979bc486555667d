"""The one model definition: named parameters with shapes and a forward graph of layers.

A ``Model`` is interpreted twice: symbolically (``verify.interpret.symbolic``) and numerically
(``verify.interpret.numeric``). Both read the same layers, so there is one source of truth.

Layers: dense (optionally with a sharing pattern: 1-D/2-D convolution or any table), weight-normalised
dense, pointwise activation, diagonal/Hadamard parametrisations, avg/max pooling, residual blocks
x + block(x), l2/layer normalisation and single-head softmax attention. Any composition is accepted
as long as the widths agree (``layer_dims`` says where they do not and what to do).

References:
    Du, Hu & Lee (2018), Sec 2.1 (fully connected), Sec 2.2 (sparse/shared weights, g_h).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from verify.model.activations import Activation, get_activation
from verify.errors import BadInput, ShapeMismatch

__all__ = [
    "Param", "Dense", "Act", "DiagonalLinear", "Pool", "Residual", "Normalize", "NormalizedDense",
    "Attention", "Model", "Layer",
    "mlp", "shared_mlp", "normalized_mlp", "conv1d_pattern", "conv2d_pattern", "pool2d_windows", "diagonal_net",
    "layer_dims",
    "walk", "require_layers",
]


@dataclass(frozen=True)
class Param:
    """A named trainable parameter; ``shape`` is () scalar, (n,) vector or (m, n) matrix."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Dense:
    """z = W a (+ b).

    Attributes:
        weight: name of a matrix parameter, or (with ``pattern``) of the free-parameter vector v.
        bias: name of a vector parameter, or None.
        pattern: the sharing pattern g of Du, Hu & Lee Sec 2.2 as an (out x in) table of ints:
            0 means the entry is missing (always 0), p >= 1 means W[i, j] = v[p - 1].
    """

    weight: str
    bias: str | None = None
    pattern: tuple[tuple[int, ...], ...] | None = None


@dataclass(frozen=True)
class Act:
    """Pointwise activation."""

    activation: Activation


@dataclass(frozen=True)
class DiagonalLinear:
    """Diagonal (Hadamard) linear model x -> <w, x>, one output, with the parametrisation
    w = u1 o ... o uL - m1 o ... o mK (``factors`` u, ``minus`` m; a name may repeat, so
    ``factors=("u", "u"), minus=("v", "v")`` is w = u o u - v o v).

    References:
        Woodworth et al. (2020), "Kernel and rich regimes in overparametrized models" (w = u^2 - v^2).
    """

    factors: tuple[str, ...]
    minus: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pool:
    """Pooling: output k is the mean (``kind="avg"``) or the max (``kind="max"``) of the inputs
    ``windows[k]`` (0-based indices). Average pooling is a fixed linear map; max pooling is piecewise
    linear and handled exactly by selection region symbols (``verify.interpret.symbolic``)."""

    kind: str
    windows: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Residual:
    """x + block(x); the block is a sequence of layers mapping width d back to width d."""

    block: tuple  # tuple[Layer, ...]


@dataclass(frozen=True)
class Normalize:
    """Scale-invariant normalisation of the activations (no epsilon: it would break the exact
    invariance a(c z) = a(z), c > 0, that the conservation laws rest on).

    ``kind="l2"``: a -> a / ||a||. ``kind="layer"``: centring then scaling,
    a -> (a - mean(a)) / std(a) = sqrt(n) (a - mean a) / ||a - mean a|| (layer norm without gain).
    """

    kind: str


@dataclass(frozen=True)
class NormalizedDense:
    """Weight-normalised dense layer: z_i = <W[i,:], a> / ||W[i,:]|| (+ b_i); every row of W is a
    scale-invariant unit.

    References:
        Salimans & Kingma (2016), "Weight normalization", eq. (2) (with the gain g fixed to 1).
    """

    weight: str
    bias: str | None = None


@dataclass(frozen=True)
class Attention:
    """Single-head bilinear attention on ``tokens`` tokens of width d (input = tokens*d, token-major).

    X is the (tokens x d) input, scores S = X Wq Wk^T X^T (Wq, Wk of shape (d, k)), A = softmax of
    each row of S, output A X Wv (or A X without ``value``), flattened token-major.

    References:
        Vaswani et al. (2017), eq. (1) (without the 1/sqrt(k) scale, which only rescales Wq).
    """

    query: str
    key: str
    tokens: int
    value: str | None = None


Layer = Dense | Act | DiagonalLinear | Pool | Residual | Normalize | NormalizedDense | Attention

POOL_KINDS = ("avg", "max")
NORM_KINDS = ("l2", "layer")


def require_layers(model: "Model", allowed: tuple[type, ...], job: str) -> None:
    """Raise a one-line ``BadInput`` if ``model`` has a layer (residual blocks included) whose type a
    job does not handle, e.g. ``require_layers(model, (Dense, Act, DiagonalLinear), "discover")``."""
    for layer in walk(model.layers):
        if not isinstance(layer, allowed):
            raise BadInput(f"{job} does not handle {type(layer).__name__} layers (in {model.name!r}); it supports "
                           f"{', '.join(t.__name__ for t in allowed)}. Use `verify check` with a quantity for this "
                           "model, or remove the layer.")


def walk(layers):
    """Every layer, residual blocks included (pre-order)."""
    for layer in layers:
        yield layer
        if isinstance(layer, Residual):
            yield from walk(layer.block)


@dataclass(frozen=True)
class Model:
    """A network: input dimension, parameters and layers (validated on construction).

    ``loss`` is a chosen loss of the outputs (a name in ``verify.model.losses.LOSS_NAMES``), or None for
    an arbitrary (undefined) differentiable loss, the default and the stronger statement.
    """

    name: str
    input_dim: int
    params: tuple[Param, ...]
    layers: tuple[Layer, ...]
    loss: str | None = None

    def __post_init__(self):
        dims = layer_dims(self)  # raises on any inconsistency
        if self.loss is not None:
            from verify.model.losses import check_loss
            check_loss(self.loss, dims[-1])

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        from verify.errors import UnknownName
        raise UnknownName("parameter", name, [p.name for p in self.params], hint=f"in model {self.name!r}.")

    @property
    def output_dim(self) -> int:
        return layer_dims(self)[-1]


def layer_dims(model: Model) -> list[int]:
    """Dimension after each layer (first entry = input); raises ShapeMismatch on inconsistency."""
    if model.input_dim < 1:
        raise BadInput(f"Got input_dim={model.input_dim} for model {model.name!r}; it must be >= 1.")
    names = [p.name for p in model.params]
    if len(set(names)) != len(names):
        raise BadInput(f"Model {model.name!r} has duplicate parameter names {names}; make them unique.")
    shapes = {p.name: p.shape for p in model.params}
    return _dims(model.layers, model.input_dim, shapes, "")


def _dims(layers, d0: int, shapes, prefix: str) -> list[int]:
    dims = [d0]
    for k, layer in enumerate(layers, 1):
        n = f"{prefix}{k}"
        d = dims[-1]
        if isinstance(layer, Dense):
            if layer.pattern is not None:
                rows = layer.pattern
                if not rows or any(len(r) != len(rows[0]) for r in rows):
                    raise ShapeMismatch(f"Layer {n}: sharing pattern must be a non-empty rectangular table.")
                out, inn = len(rows), len(rows[0])
                nv = _shape(shapes, layer.weight, n)
                if len(nv) != 1 or max(max(r) for r in rows) > nv[0] or min(min(r) for r in rows) < 0:
                    raise ShapeMismatch(
                        f"Layer {n}: pattern entries must lie in 0..{nv[0] if nv else '?'} for vector "
                        f"{layer.weight!r} of shape {nv}.")
            else:
                ws = _shape(shapes, layer.weight, n)
                if len(ws) != 2:
                    raise ShapeMismatch(f"Layer {n}: weight {layer.weight!r} has shape {ws}; Dense needs a matrix.")
                out, inn = ws
            if inn != d:
                raise ShapeMismatch(f"Layer {n}: weight {layer.weight!r} expects input width {inn}, "
                                    f"but the previous layer gives {d}.")
            _check_bias(shapes, layer.bias, out, n)
            dims.append(out)
        elif isinstance(layer, NormalizedDense):
            ws = _shape(shapes, layer.weight, n)
            if len(ws) != 2 or ws[1] != d:
                raise ShapeMismatch(f"Layer {n}: weight-normalised {layer.weight!r} has shape {ws}; it needs "
                                    f"a matrix with {d} columns (the previous width).")
            _check_bias(shapes, layer.bias, ws[0], n)
            dims.append(ws[0])
        elif isinstance(layer, Act):
            dims.append(d)
        elif isinstance(layer, DiagonalLinear):
            if not layer.factors:
                raise BadInput(f"Layer {n}: a diagonal layer needs at least one factor.")
            for f in layer.factors + layer.minus:
                if _shape(shapes, f, n) != (d,):
                    raise ShapeMismatch(f"Layer {n}: factor {f!r} must have shape ({d},), got {_shape(shapes, f, n)}.")
            dims.append(1)
        elif isinstance(layer, Pool):
            if layer.kind not in POOL_KINDS:
                raise BadInput(f"Layer {n}: pooling kind {layer.kind!r}; use one of {', '.join(POOL_KINDS)}.")
            if not layer.windows or any(not w for w in layer.windows):
                raise ShapeMismatch(f"Layer {n}: pooling needs at least one non-empty window.")
            bad = [i for w in layer.windows for i in w if not 0 <= i < d]
            if bad or any(len(set(w)) != len(w) for w in layer.windows):
                raise ShapeMismatch(f"Layer {n}: pooling windows must hold distinct indices in 0..{d - 1} "
                                    f"(the previous width is {d}); got {bad or 'a repeated index'}.")
            dims.append(len(layer.windows))
        elif isinstance(layer, Residual):
            if not layer.block:
                raise BadInput(f"Layer {n}: the residual block is empty; give it at least one layer.")
            inner = _dims(layer.block, d, shapes, f"{n}.")
            if inner[-1] != d:
                raise ShapeMismatch(f"Layer {n}: the residual block maps width {d} to {inner[-1]}; x + block(x) "
                                    f"needs equal widths, so make the block's last layer output {d}.")
            dims.append(d)
        elif isinstance(layer, Normalize):
            if layer.kind not in NORM_KINDS:
                raise BadInput(f"Layer {n}: normalisation kind {layer.kind!r}; use one of {', '.join(NORM_KINDS)}.")
            if layer.kind == "layer" and d < 2:
                raise ShapeMismatch(f"Layer {n}: layer norm of width {d} is identically 0; it needs width >= 2.")
            dims.append(d)
        elif isinstance(layer, Attention):
            if layer.tokens < 1 or d % layer.tokens:
                raise ShapeMismatch(f"Layer {n}: attention over {layer.tokens} tokens needs an input width that "
                                    f"is a multiple of {layer.tokens}; the previous width is {d}.")
            width = d // layer.tokens
            qs, ks = _shape(shapes, layer.query, n), _shape(shapes, layer.key, n)
            if len(qs) != 2 or qs != ks or qs[0] != width:
                raise ShapeMismatch(f"Layer {n}: query {layer.query!r} {qs} and key {layer.key!r} {ks} must both "
                                    f"have shape ({width}, k) (token width {width}).")
            out = width
            if layer.value is not None:
                vs = _shape(shapes, layer.value, n)
                if len(vs) != 2 or vs[0] != width:
                    raise ShapeMismatch(f"Layer {n}: value {layer.value!r} has shape {vs}; it needs ({width}, m).")
                out = vs[1]
            dims.append(layer.tokens * out)
        else:
            raise BadInput(f"Layer {n}: unknown layer type {type(layer).__name__}.")
    return dims


def _check_bias(shapes, bias, out, n):
    if bias is not None and _shape(shapes, bias, n) != (out,):
        raise ShapeMismatch(f"Layer {n}: bias {bias!r} must have shape ({out},), got {_shape(shapes, bias, n)}.")


def _shape(shapes, name, n):
    if name not in shapes:
        from verify.errors import UnknownName
        raise UnknownName("parameter", name, shapes, hint=f"(used by layer {n}); declare it in params.")
    return shapes[name]


def mlp(widths: Sequence[int], activation: str | Activation | Sequence, bias: bool = False,
        name: str | None = None) -> Model:
    """Fully connected net n0 -> n1 -> ... -> nN with weights W1..WN (and biases b1..bN).

    ``activation`` is one activation for every hidden layer or a list of N-1 of them.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2:
        raise BadInput(f"Got widths={widths}; an MLP needs at least input and output widths.")
    for h, w in enumerate(widths):
        if w < 1:
            raise BadInput(f"Got width={w} for layer {h}; widths must be >= 1.")
    depth = len(widths) - 1
    acts = list(activation) if isinstance(activation, (list, tuple)) else [activation] * (depth - 1)
    if len(acts) != depth - 1:
        raise BadInput(f"Got {len(acts)} activations for {depth - 1} hidden layers; give one per hidden layer.")
    params, layers = [], []
    for h in range(1, depth + 1):
        params.append(Param(f"W{h}", (widths[h], widths[h - 1])))
        if bias:
            params.append(Param(f"b{h}", (widths[h],)))
        layers.append(Dense(f"W{h}", f"b{h}" if bias else None))
        if h < depth:
            layers.append(Act(get_activation(acts[h - 1])))
    label = name or f"mlp{tuple(widths)}-{'/'.join(get_activation(a).name for a in acts) or 'linear'}" + (
        "+bias" if bias else "")
    return Model(label, widths[0], tuple(params), tuple(layers))


def conv1d_pattern(n_in: int, kernel: int, stride: int = 1, padding: int = 0) -> tuple[tuple[int, ...], ...]:
    """Sharing pattern g of a single-channel 1-D convolution (entries 1..kernel, 0 = no connection)."""
    if kernel < 1 or stride < 1 or padding < 0 or n_in < 1:
        raise BadInput(f"Got conv1d(n_in={n_in}, kernel={kernel}, stride={stride}, padding={padding}); "
                       "need n_in, kernel, stride >= 1 and padding >= 0.")
    n_out = (n_in + 2 * padding - kernel) // stride + 1
    if n_out < 1:
        raise BadInput(f"conv1d with n_in={n_in}, kernel={kernel} has no output; lower kernel or add padding.")
    rows = []
    for o in range(n_out):
        row = [0] * n_in
        for t in range(kernel):
            j = o * stride + t - padding
            if 0 <= j < n_in:
                row[j] = t + 1
        rows.append(tuple(row))
    return tuple(rows)


def shared_mlp(patterns: Sequence[tuple[tuple[int, ...], ...]], activation, name: str | None = None) -> Model:
    """Net whose layer h has weight matrix filled from vector v{h} by sharing pattern ``patterns[h-1]``."""
    params, layers = [], []
    depth = len(patterns)
    for h, pat in enumerate(patterns, 1):
        pat = tuple(tuple(int(e) for e in row) for row in pat)
        params.append(Param(f"v{h}", (max(max(r) for r in pat),)))
        layers.append(Dense(f"v{h}", None, pat))
        if h < depth:
            layers.append(Act(get_activation(activation)))
    return Model(name or f"shared-{depth}-layer-{get_activation(activation).name}",
                 len(patterns[0][0]), tuple(params), tuple(layers))


def normalized_mlp(widths: Sequence[int], kind: str, activation, bias: bool = False,
                   name: str | None = None) -> Model:
    """x -> normalise(W1 x (+ b1)) -> activation -> W2 with widths (d0, n, out).

    ``kind`` is ``"l2"`` or ``"layer"`` (a ``Normalize`` after the dense layer) or ``"weight"``
    (a weight-normalised dense layer, each row of W1 divided by its norm, bias added after).
    """
    d0, n, out = widths
    params = (Param("W1", (n, d0)),) + ((Param("b1", (n,)),) if bias else ()) + (Param("W2", (out, n)),)
    b1 = "b1" if bias else None
    first = (NormalizedDense("W1", b1),) if kind == "weight" else (Dense("W1", b1), Normalize(kind))
    act = get_activation(activation)
    return Model(name or f"{kind}-norm {d0}-{n}-{out} {act.name}" + (" +bias" if bias else ""), d0, params,
                 first + (Act(act), Dense("W2")))


def diagonal_net(n: int, depth: int = 2, name: str | None = None) -> Model:
    """Depth-L diagonal linear net f(x) = <u1 * ... * uL, x> (Hadamard product), factors u1..uL."""
    if n < 1 or depth < 1:
        raise BadInput(f"Got diagonal_net(n={n}, depth={depth}); both must be >= 1.")
    factors = tuple(f"u{k}" for k in range(1, depth + 1))
    return Model(name or f"diagonal(n={n}, L={depth})", n, tuple(Param(f, (n,)) for f in factors),
                 (DiagonalLinear(factors),))


def conv2d_pattern(height: int, width: int, kernel: int | tuple[int, int], stride: int = 1, padding: int = 0,
                   channels: int = 1, out_channels: int = 1) -> tuple[tuple[int, ...], ...]:
    """Sharing pattern g of a 2-D convolution (cross-correlation), channel-major flattening.

    Input index (c, r, q) -> c*height*width + r*width + q; output likewise with the output size
    (height + 2*padding - kh) // stride + 1 (and the same for width). Kernel entry (o, c, i, j)
    is the free parameter number 1 + ((o*channels + c)*kh + i)*kw + j. Zero padding: taps that fall
    outside the image have no connection (0).
    """
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if min(height, width, kh, kw, stride, channels, out_channels) < 1 or padding < 0:
        raise BadInput(f"Got conv2d(height={height}, width={width}, kernel={(kh, kw)}, stride={stride}, "
                       f"padding={padding}, channels={channels}, out_channels={out_channels}); every size and "
                       "the stride must be >= 1 and padding >= 0.")
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise BadInput(f"conv2d with a {kh}x{kw} kernel on a {height}x{width} image has no output; "
                       "lower the kernel or add padding.")
    rows = []
    for o in range(out_channels):
        for r in range(oh):
            for q in range(ow):
                row = [0] * (channels * height * width)
                for c in range(channels):
                    for i in range(kh):
                        for j in range(kw):
                            y, x = r * stride + i - padding, q * stride + j - padding
                            if 0 <= y < height and 0 <= x < width:
                                row[c * height * width + y * width + x] = 1 + ((o * channels + c) * kh + i) * kw + j
                rows.append(tuple(row))
    return tuple(rows)


def pool2d_windows(height: int, width: int, size: int | tuple[int, int], stride: int | None = None,
                   channels: int = 1) -> tuple[tuple[int, ...], ...]:
    """Windows of a 2-D pooling (per channel, channel-major flattening, no padding); the stride
    defaults to the window size (non-overlapping windows, the usual choice)."""
    ph, pw = (size, size) if isinstance(size, int) else tuple(size)
    stride = stride if stride is not None else ph
    if min(height, width, ph, pw, stride, channels) < 1:
        raise BadInput(f"Got pool2d(height={height}, width={width}, size={(ph, pw)}, stride={stride}, "
                       f"channels={channels}); every value must be >= 1.")
    oh, ow = (height - ph) // stride + 1, (width - pw) // stride + 1
    if oh < 1 or ow < 1:
        raise BadInput(f"A {ph}x{pw} pooling window does not fit a {height}x{width} image; lower the size.")
    return tuple(tuple(c * height * width + (r * stride + i) * width + q * stride + j
                       for i in range(ph) for j in range(pw))
                 for c in range(channels) for r in range(oh) for q in range(ow))
