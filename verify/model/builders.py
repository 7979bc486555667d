"""Python builders of common models: MLPs, shared-weight nets, normalised nets, diagonal nets."""

from __future__ import annotations

from collections.abc import Sequence

from verify.errors import BadInput
from verify.model.activations import Activation, get_activation
from verify.model.core import Model
from verify.model.layers import Act, Dense, DiagonalLinear, LayerBase, Normalize, NormalizedDense
from verify.model.param import Param

__all__ = ["mlp", "shared_mlp", "normalized_mlp", "diagonal_net"]


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
    acts: list = list(activation) if isinstance(activation, (list, tuple)) else [activation] * (depth - 1)
    if len(acts) != depth - 1:
        raise BadInput(f"Got {len(acts)} activations for {depth - 1} hidden layers; give one per hidden layer.")
    params: list[Param] = []
    layers: list[LayerBase] = []
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


def shared_mlp(patterns: Sequence[tuple[tuple[int, ...], ...]], activation, name: str | None = None) -> Model:
    """Net whose layer h has weight matrix filled from vector v{h} by sharing pattern ``patterns[h-1]``."""
    params: list[Param] = []
    layers: list[LayerBase] = []
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
