"""Every import of the verify core used by ``verify.torch``, in one place.

Why one module: the core is being reorganised into subpackages; only these lines then change.
Everything here is the public model definition and the engine entry points.
"""

from __future__ import annotations

from verify.certificates import exit_code
from verify.lang.formula import custom
from verify.laws.law_algebra import rref
from verify.model.activations import Activation, get_activation, leaky_relu, relu_power
from verify.certificates import Proven, ProvenRandomized, Refuted, Step, Undecided, Verdict, Witness, render, to_json
from verify.errors import BadInput, ShapeMismatch, UnknownName, VerifyError, closest
from verify.model import (Act, Attention, Dense, DiagonalLinear, Model, Normalize, NormalizedDense, Param, Pool,
                     Residual, conv1d_pattern, conv2d_pattern, pool2d_windows, walk)
from verify.prove.concrete import DEFAULT_BUDGET_OPS, QuantityFn as EngineQuantity, prove_conserved
from verify.lang.quantity_exact import exact_builder
from verify.model.layout import layout
from verify.testing.checking import AUTO_SYMBOLIC_MAX_ENTRIES, check as engine_check, choose_method
from verify.lang.quantity import (BinOp, Call, Index, MatMul, Name, Neg, Number, Pow, Quantity, Slice, Transpose,
                                  instantiate, parse_quantity, quantity_shape)


def engine_discover(model: Model, *, degree: int, seed: int):
    """``verify.laws.discovery.discover`` without the count (``verify.torch`` counts with torch.func)."""
    from verify.laws.discovery import discover
    return discover(model, degree=degree, count=False, seed=seed)


def engine_discover_supported(model: Model) -> str:
    """'' when the engine's law search handles ``model``, else its one-line reason."""
    from verify.laws.lie_rank import check_supported
    try:
        check_supported(model)
    except BadInput as exc:
        return str(exc).splitlines()[0]
    return ""


def numeric_forward(model: Model, params, X):
    """The core's own float64 NumPy interpretation of ``model`` (used to cross-check a mapping)."""
    from verify.interpret.numeric import forward
    return forward(model, params, X)


__all__ = [
    "rref", "exit_code",
    "Activation", "custom", "get_activation", "leaky_relu", "relu_power",
    "Proven", "ProvenRandomized", "Refuted", "Step", "Undecided", "Verdict", "Witness", "render", "to_json",
    "BadInput", "ShapeMismatch", "UnknownName", "VerifyError", "closest",
    "Act", "Attention", "Dense", "DiagonalLinear", "Model", "Normalize", "NormalizedDense", "Param", "Pool",
    "Residual", "conv1d_pattern", "conv2d_pattern", "pool2d_windows", "walk",
    "DEFAULT_BUDGET_OPS", "EngineQuantity", "prove_conserved", "exact_builder", "layout",
    "AUTO_SYMBOLIC_MAX_ENTRIES", "engine_check", "choose_method",
    "BinOp", "Call", "Index", "MatMul", "Name", "Neg", "Number", "Pow", "Quantity", "Slice", "Transpose", "instantiate",
    "parse_quantity", "quantity_shape",
    "engine_discover", "engine_discover_supported", "numeric_forward",
]
