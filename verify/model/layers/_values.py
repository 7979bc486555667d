"""Checked values of spec tables: every problem is a one-line ``SpecError`` naming file:line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verify.errors import SpecError

__all__ = ["spec_int", "spec_choice", "spec_kernel", "spec_image", "spec_flag"]


def spec_int(d: Mapping[str, Any], key: str, where: str, default: int | None = None, low: int = 1) -> int:
    v = d.get(key, default)
    if v is None:
        raise SpecError(f"{where}: missing '{key}'; add e.g. {key} = {max(low, 1)}.")
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise SpecError(f"{where}: '{key}' = {v!r}; it must be an integer >= {low}.")
    return v


def spec_choice(d: Mapping[str, Any], key: str, allowed: Sequence[str], where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if v not in allowed:
        raise SpecError(f"{where}: {key} = {v!r}; use one of {', '.join(map(repr, allowed))}.")
    return v


def spec_flag(d: Mapping[str, Any], key: str, where: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise SpecError(f"{where}: {key} = {v!r}; use true or false.")
    return v


def spec_kernel(d: Mapping[str, Any], key: str, where: str, default: Any = None) -> int | tuple[int, int]:
    """An int or a [rows, cols] pair of ints >= 1."""
    v = d.get(key, default)
    if isinstance(v, list) and len(v) == 2 and all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in v):
        return (v[0], v[1])
    return spec_int({key: v}, key, where)


def spec_image(d: Mapping[str, Any], dim: int, where: str, kind: str) -> tuple[int, int, int]:
    """(channels, height, width) of the flat input of a 2-D layer (channel-major)."""
    h, w = spec_int(d, "height", where), spec_int(d, "width", where)
    if dim % (h * w):
        raise SpecError(f"{where}: the input width {dim} is not channels x {h} x {w}; give the {kind} the "
                        f"height and width of the image the previous layer produces.")
    return dim // (h * w), h, w
