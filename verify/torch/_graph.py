"""The mapping's data types (``Layout``, ``Mapping``) and the op tables the fx walk reads
(``verify.torch._trace``); split from it so that both stay short."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

from ._bridge import Attention, Dense, Model, numeric_forward, walk

__all__ = ["Layout", "Mapping", "MAP_TOL"]

#: Largest relative difference between module and mapped Model on random float64 inputs accepted as
#: round-off (both are float64 evaluations of the same function; measured differences are ~1e-16).
MAP_TOL = 1e-9


@dataclass(frozen=True)
class Layout:
    name: str
    torch_shape: tuple[int, ...]
    kind: str  # "same" | "flat" | "transpose"

    @property
    def model_shape(self) -> tuple[int, ...]:
        if self.kind == "flat":
            return (math.prod(self.torch_shape),)
        return self.torch_shape[::-1] if self.kind == "transpose" else self.torch_shape

    def to_model(self, t) -> np.ndarray:
        a = np.asarray(t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else t, dtype=float)
        return a.reshape(-1) if self.kind == "flat" else a.T if self.kind == "transpose" else a


@dataclass(frozen=True)
class Mapping:
    """The module as a Model (``model``), or why not (``unsupported``, one line per op)."""

    module: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    model: Model | None
    layouts: tuple[Layout, ...]
    unsupported: tuple[str, ...]
    max_difference: float | None = None

    @property
    def mapped(self) -> bool:
        return self.model is not None

    def layout(self, name: str) -> Layout:
        return {lay.name: lay for lay in self.layouts}[name]

    def model_params(self, named) -> dict[str, np.ndarray]:
        return {lay.name: lay.to_model(named[lay.name]) for lay in self.layouts}


class _Unsupported(Exception):
    pass


@dataclass(frozen=True)
class _Chain:
    """A tensor computed from the input by ``layers``; ``proj`` = (base layers, base shape, weight) when
    it is a bias-free Linear of a token sequence (a candidate attention projection)."""

    layers: tuple
    shape: tuple[int, ...]
    proj: tuple | None = None


@dataclass(frozen=True)
class _KT:
    proj: tuple


@dataclass(frozen=True)
class _Scores:
    q: tuple
    k: tuple
    scale: sp.Expr


@dataclass(frozen=True)
class _Attn:
    scores: _Scores


@dataclass(frozen=True)
class _Param:
    name: str


@dataclass(frozen=True)
class _Other:
    """A non-tensor value (sizes, constants) or a buffer; not part of the data path."""

    value: object = None


_BAD = object()
_LAYOUT_OPS = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", torch.flatten, torch.reshape,
               torch.squeeze, torch.unsqueeze}
_ADD = {operator.add, torch.add, "add", operator.iadd}
_MUL = {operator.mul, torch.mul, "mul"}
_DIV = {operator.truediv, torch.div, "div"}
_MATMUL = {operator.matmul, torch.matmul, torch.bmm, "matmul", "bmm"}
_TRANSPOSE = {"transpose", torch.transpose, "permute", torch.permute}
_SOFTMAX = {F.softmax, torch.softmax, "softmax"}
_POW = {operator.pow, torch.pow, "pow", torch.square, "square"}


def _unmapped(name, in_shape, out_shape, reasons, layouts=()) -> Mapping:
    return Mapping(name, in_shape, out_shape, None, tuple(layouts), tuple(reasons))


def _layouts(named, layers) -> dict[str, set[str]]:
    """parameter name -> the layouts its uses in ``layers`` ask for ("same", "flat", "transpose")."""
    kinds: dict[str, set[str]] = {}
    for layer in walk(layers):
        if isinstance(layer, Dense):
            flat = layer.pattern is not None and named[layer.weight].dim() != 1
            kinds.setdefault(layer.weight, set()).add("flat" if flat else "same")
        elif isinstance(layer, Attention):
            for w in (layer.query, layer.key, layer.value):
                if w is not None:
                    kinds.setdefault(w, set()).add("transpose")
    return kinds


def _self_check(module, model: Model, mapping: Mapping, named, x) -> float:
    """max |module(X) - model(X)| / (1 + max |module(X)|) over random points (as many as the example)."""
    g = torch.Generator().manual_seed(1234)
    # Random points only: an example input of zeros is a kink or a 0/0 of a normalisation.
    X = torch.randn((max(3, x.shape[0]),) + tuple(x.shape[1:]), generator=g, dtype=torch.float64)
    with torch.no_grad():
        ref = module(X).reshape(X.shape[0], -1).numpy()
    with np.errstate(all="ignore"):
        got = numeric_forward(model, mapping.model_params(named), X.reshape(X.shape[0], -1).numpy())
    return float(np.max(np.abs(got - ref)) / (1.0 + np.max(np.abs(ref))))
