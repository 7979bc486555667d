"""The one tolerance helper: explicit rtol/atol, no silent defaults.

Float identities are compared relative to the scale of their terms, because a difference of
O(1e-16 * scale) is round-off, not a violation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["close", "scaled_error"]


def scaled_error(value, reference, scale) -> float:
    """max |value - reference| / max(scale, tiny)."""
    diff = np.max(np.abs(np.asarray(value, float) - np.asarray(reference, float)))
    return float(diff / max(float(np.max(np.abs(scale))), np.finfo(float).tiny))


def close(value, reference, *, rtol: float, atol: float) -> bool:
    """|value - reference| <= atol + rtol * |reference| elementwise (both tolerances required)."""
    return bool(np.allclose(np.asarray(value, float), np.asarray(reference, float), rtol=rtol, atol=atol))
