"""The one model definition: parameters, layer kinds (one module each in ``verify.model.layers``),
builders, sharing patterns, activations and losses. Every job reads a :class:`Model`."""

from verify.model.activations import Activation, get_activation
from verify.model.builders import diagonal_net, mlp, normalized_mlp, shared_mlp
from verify.model.core import Model, block_dims, layer_dims, walk
from verify.model.layers import (LAYER_TYPES, NORM_KINDS, POOL_KINDS, Act, Attention, Dense, DiagonalLinear, Layer,
                                 LayerBase, Normalize, NormalizedDense, Pool, Residual)
from verify.model.param import Param
from verify.model.patterns import conv1d_pattern, conv2d_pattern, pool2d_windows

__all__ = [
    "Param", "Model", "Layer", "LayerBase", "LAYER_TYPES",
    "Dense", "Act", "DiagonalLinear", "Pool", "Residual", "Normalize", "NormalizedDense", "Attention",
    "POOL_KINDS", "NORM_KINDS",
    "mlp", "shared_mlp", "normalized_mlp", "diagonal_net", "conv1d_pattern", "conv2d_pattern", "pool2d_windows",
    "layer_dims", "block_dims", "walk", "Activation", "get_activation",
]
