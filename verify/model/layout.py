"""The one flat parameter layout: every job that needs a parameter vector theta uses it.

Order: the model's parameters in declaration order, each row-major. Entry names are ``W1[0,1]``
(matrix), ``u1[2]`` (vector) or the bare name (scalar); the symbolic interpreter names its symbols
the same way, so theta symbols, float vectors and law printouts line up.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from verify.model.core import Model

__all__ = ["Slot", "layout", "entries", "flatten", "unflatten", "entry_name"]


@dataclass(frozen=True)
class Slot:
    """Where parameter ``name`` (of ``shape``) lives in theta: ``theta[offset:offset + size]``."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int


def layout(model: Model) -> tuple[Slot, ...]:
    slots, k = [], 0
    for p in model.params:
        size = int(np.prod(p.shape)) if p.shape else 1
        slots.append(Slot(p.name, p.shape, k, size))
        k += size
    return tuple(slots)


def entry_name(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{','.join(map(str, index))}]" if index else name


def entries(model: Model) -> list[tuple[str, tuple[int, ...], str]]:
    """(parameter name, index, display name) for each entry of theta, in theta's order."""
    return [(p.name, idx, entry_name(p.name, idx))
            for p in model.params for idx in itertools.product(*[range(s) for s in p.shape])]


def flatten(model: Model, P: Mapping[str, np.ndarray]) -> np.ndarray:
    """theta from named arrays (the model's parameter order)."""
    return np.concatenate([np.ravel(P[p.name]) for p in model.params])


def unflatten(model: Model, theta: np.ndarray) -> dict[str, np.ndarray]:
    """Named arrays from theta (shape (D,)), or batched from Theta (shape (n, D)) -> (n, *shape)."""
    lead = theta.shape[:-1]
    return {s.name: theta[..., s.offset:s.offset + s.size].reshape(lead + s.shape) for s in layout(model)}
