"""Checked values of spec tables: every problem is a one-line ``SpecError`` naming file:line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verify.errors import SpecError

__all__ = ["spec_int", "spec_choice", "spec_kernel", "spec_image", "spec_flag", "CAPS", "MAX_PATTERN_ENTRIES"]

#: Largest value of each integer spec key. A value above its cap is refused in one line before any
#: work, instead of hanging or exhausting memory (issue 15: padding = 10**9 took 5.4 GiB). The caps
#: are far above what an exact proof can handle and what the numeric routes need; the spec reference
#: lists them.
CAPS = {"input": 65_536, "out": 65_536, "key_dim": 65_536, "value_dim": 65_536, "tokens": 4_096,
        "height": 4_096, "width": 4_096, "out_channels": 4_096, "kernel": 1_024, "stride": 1_024,
        "padding": 1_024, "size": 1_024, "depth": 64, "k": 16}
#: Largest sharing-pattern table (out x in entries) a spec may build (a 1000 x 1000 table is 10^6).
MAX_PATTERN_ENTRIES = 4_000_000


def spec_int(d: Mapping[str, Any], key: str, where: str, default: int | None = None, low: int = 1) -> int:
    v = d.get(key, default)
    if v is None:
        raise SpecError(f"{where}: missing '{key}'; add e.g. {key} = {max(low, 1)}.")
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise SpecError(f"{where}: '{key}' = {str(v)[:40]!r}; it must be an integer >= {low}.")
    high = CAPS.get(key, 1_000_000)
    if v > high:
        raise SpecError(f"{where}: '{key}' = {v} is above the cap {high}; use a smaller value (caps: README, "
                        "'Writing a spec').")
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
