"""Layer kinds: one module each, registered here by one line (see ``_base`` for what a kind declares).

``LAYER_TYPES`` lists the classes; ``SPEC_RULES`` maps every spec ``type`` name to its keys and parser.
"""

from __future__ import annotations

from importlib import import_module
from types import MappingProxyType

from verify.model.layers._base import LayerBase, NumericState, SpecContext, SpecRule, SymbolicState
from verify.model.layers.activation import Act
from verify.model.layers.attention import Attention
from verify.model.layers.dense import Dense
from verify.model.layers.diagonal import DiagonalLinear
from verify.model.layers.normalize import NORM_KINDS, Normalize
from verify.model.layers.pool import POOL_KINDS, Pool
from verify.model.layers.residual import Residual
from verify.model.layers.weight_norm import NormalizedDense

__all__ = ["LayerBase", "Layer", "LAYER_TYPES", "SPEC_RULES", "SymbolicState", "NumericState", "SpecContext",
           "SpecRule", "Dense", "Act", "DiagonalLinear", "Pool", "Residual", "Normalize", "NormalizedDense",
           "Attention", "POOL_KINDS", "NORM_KINDS"]

#: The registration: one entry per layer kind module (order = the order of spec types in messages).
_KINDS = tuple(import_module(f"verify.model.layers.{name}") for name in (
    "dense",
    "activation",
    "pool",
    "residual",
    "normalize",
    "attention",
    "diagonal",
    "weight_norm",
    "scale",
))

#: Every layer class (for messages and for jobs that accept a subset).
LAYER_TYPES: tuple[type[LayerBase], ...] = tuple(
    cls for m in _KINDS for cls in vars(m).values()
    if isinstance(cls, type) and issubclass(cls, LayerBase) and cls is not LayerBase and cls.__module__ == m.__name__)

#: spec ``type`` name -> (allowed keys, parser).
SPEC_RULES: MappingProxyType = MappingProxyType({k: r for m in _KINDS for k, r in getattr(m, "SPEC", {}).items()})

#: A layer is any registered kind (typing alias kept for readers of the old union).
Layer = LayerBase
