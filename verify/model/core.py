"""The model: input width, named parameters and a sequence of layers (``verify.model.layers``).

A ``Model`` is read by every job: the symbolic and numeric interpreters (``verify.interpret``), the
proofs, the law counts and the strategies. Each layer kind declares its own shapes, forward
passes and hypotheses, so this module only walks the layers.

References:
    Du, Hu & Lee (2018), Sec 2.1 (fully connected), Sec 2.2 (sparse/shared weights, g_h).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from verify.errors import BadInput, UnknownName
from verify.model.layers import LayerBase
from verify.model.layers._base import Shapes
from verify.model.param import Param

__all__ = ["Model", "layer_dims", "block_dims", "walk"]


def walk(layers: Iterable[LayerBase]) -> Iterator[LayerBase]:
    """Every layer, sub-layers (residual blocks) included, in pre-order."""
    for layer in layers:
        yield layer
        yield from walk(layer.sublayers())


@dataclass(frozen=True)
class Model:
    """A network: input dimension, parameters and layers (validated on construction).

    ``loss`` is a chosen loss of the outputs (a name in ``verify.model.losses.LOSS_NAMES``), or None
    for an arbitrary (undefined) differentiable loss, the default and the stronger statement.
    """

    name: str
    input_dim: int
    params: tuple[Param, ...]
    layers: tuple[LayerBase, ...]
    loss: str | None = None

    def __post_init__(self) -> None:
        dims = layer_dims(self)  # raises on any inconsistency
        if self.loss is not None:
            from verify.model.losses import check_loss
            check_loss(self.loss, dims[-1])

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
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
    return block_dims(model.layers, model.input_dim, {p.name: p.shape for p in model.params}, "")


def block_dims(layers: Sequence[LayerBase], d0: int, shapes: Shapes, prefix: str) -> list[int]:
    """Widths after each of ``layers`` from input width ``d0`` (labels ``prefix``1, 2, ... in errors)."""
    dims = [d0]
    for k, layer in enumerate(layers, 1):
        if not isinstance(layer, LayerBase):
            raise BadInput(f"Layer {prefix}{k}: unknown layer type {type(layer).__name__}; use a layer kind "
                           "from verify.model.layers.")
        dims.append(layer.out_dim(dims[-1], shapes, f"{prefix}{k}"))
    return dims
