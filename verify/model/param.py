"""A named trainable parameter."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Param"]


@dataclass(frozen=True)
class Param:
    """A named trainable parameter; ``shape`` is () scalar, (n,) vector or (m, n) matrix."""

    name: str
    shape: tuple[int, ...]
