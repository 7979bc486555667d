"""The one model definition: named parameters with shapes and a forward graph of layers.

A ``Model`` is interpreted twice: symbolically (``verify.symbolic``) and numerically
(``verify.numeric``). Both read the same layers, so there is one source of truth.

References:
    Du, Hu & Lee (2018), Sec 2.1 (fully connected), Sec 2.2 (sparse/shared weights, g_h).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .activations import Activation, get_activation
from .errors import BadInput, ShapeMismatch

__all__ = [
    "Param", "Dense", "Act", "DiagonalLinear", "Model", "Layer",
    "mlp", "shared_mlp", "conv1d_pattern", "diagonal_net", "layer_dims",
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
    """Diagonal (Hadamard) linear model: x -> sum_i (u1[i] * ... * uL[i]) * x[i], one output."""

    factors: tuple[str, ...]


Layer = Dense | Act | DiagonalLinear


@dataclass(frozen=True)
class Model:
    """A network: input dimension, parameters and layers (validated on construction).

    ``loss`` is a chosen loss of the outputs (a name in ``verify.losses.LOSS_NAMES``), or None for
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
            from .losses import check_loss
            check_loss(self.loss, dims[-1])

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        from .errors import UnknownName
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
    dims = [model.input_dim]
    for n, layer in enumerate(model.layers, 1):
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
            if layer.bias is not None and _shape(shapes, layer.bias, n) != (out,):
                raise ShapeMismatch(f"Layer {n}: bias {layer.bias!r} must have shape ({out},), "
                                    f"got {_shape(shapes, layer.bias, n)}.")
            dims.append(out)
        elif isinstance(layer, Act):
            dims.append(d)
        elif isinstance(layer, DiagonalLinear):
            for f in layer.factors:
                if _shape(shapes, f, n) != (d,):
                    raise ShapeMismatch(f"Layer {n}: factor {f!r} must have shape ({d},), got {_shape(shapes, f, n)}.")
            dims.append(1)
        else:
            raise BadInput(f"Layer {n}: unknown layer type {type(layer).__name__}.")
    return dims


def _shape(shapes, name, n):
    if name not in shapes:
        from .errors import UnknownName
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


def diagonal_net(n: int, depth: int = 2, name: str | None = None) -> Model:
    """Depth-L diagonal linear net f(x) = <u1 * ... * uL, x> (Hadamard product), factors u1..uL."""
    if n < 1 or depth < 1:
        raise BadInput(f"Got diagonal_net(n={n}, depth={depth}); both must be >= 1.")
    factors = tuple(f"u{k}" for k in range(1, depth + 1))
    return Model(name or f"diagonal(n={n}, L={depth})", n, tuple(Param(f, (n,)) for f in factors),
                 (DiagonalLinear(factors),))
