"""Hypothesis strategies for a user's own pytest suite on an ``nn.Module``.

    from hypothesis import given
    from verify.torch import strategies as vts

    @given(vts.parameters(net), vts.inputs(torch.randn(4, 3)))
    def test_something(params, x): ...

``draws`` is the strategy the numeric route itself uses (parameters, data, output gradient, step sizes).
"""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from ._bridge import BadInput
from ._numeric import Draw, draws as _draws, setup as _setup

__all__ = ["parameters", "inputs", "draws"]


def _bound(scale):
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise BadInput(f"Got scale={scale!r}; it must be a finite number > 0.")
    return float(scale)


def _tensor(shape, scale):
    n = math.prod(shape)
    elems = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=64)
    return st.lists(elems, min_size=n, max_size=n).map(lambda xs: torch.tensor(xs, dtype=torch.float64).reshape(shape))


def parameters(module: torch.nn.Module, *, scale: float = 1.0) -> st.SearchStrategy[dict]:
    """{name: float64 tensor} with every entry in [-scale, scale], PyTorch's names and shapes."""
    scale = _bound(scale)
    if not isinstance(module, torch.nn.Module):
        raise BadInput(f"Got {type(module).__name__}; pass a torch.nn.Module instance.")
    return st.fixed_dictionaries({n: _tensor(tuple(p.shape), scale) for n, p in module.named_parameters()})


def inputs(example_input: torch.Tensor, *, scale: float = 1.0) -> st.SearchStrategy[torch.Tensor]:
    """float64 batches shaped like ``example_input``, entries in [-scale, scale]."""
    scale = _bound(scale)
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 1:
        raise BadInput("example_input must be a tensor with a leading batch dimension.")
    return _tensor(tuple(example_input.shape), scale)


def draws(module: torch.nn.Module, example_input: torch.Tensor, *, dynamics: str = "flow", weight_decay=None,
          loss: str | None = None) -> st.SearchStrategy[Draw]:
    """The numeric route's draws: dict with ``params``, ``X``, ``C`` (output gradient) or ``T``, ..."""
    from .api import validate_input
    x = validate_input(module, example_input)
    return _draws(_setup(module, x, dynamics=dynamics, weight_decay=weight_decay, loss=loss))
