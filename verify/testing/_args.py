"""Entry checks shared by the Hypothesis strategies (``verify.testing.strategies``,
``verify.testing.layer_strategies``): every strategy rejects bad bounds when it is built, with one line
that says what to give, so a typo in a user's test fails loudly instead of generating nothing."""

from __future__ import annotations

from verify.model.activations import get_activation
from verify.errors import BadInput


def pair(name: str, value, floor: int) -> tuple[int, int]:
    """``value`` as a (min, max) pair of integers with ``floor <= min <= max``."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise BadInput(f"Got {name}={value!r}; give a pair (min, max) of integers >= {floor}.") from None
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < floor or hi < lo:
        raise BadInput(f"Got {name}=({lo}, {hi}); need integers with {floor} <= min <= max.")
    return int(lo), int(hi)


def flag(name: str, value) -> None:
    """``True``/``False`` fix a choice, ``None`` draws it; anything else is an error."""
    if value is not None and not isinstance(value, bool):
        raise BadInput(f"Got {name}={value!r}; use True, False or None (None draws it).")


def activation_names(activations) -> tuple:
    """A non-empty list of known activation names (or ``Activation`` objects)."""
    if not isinstance(activations, (tuple, list)) or not activations:
        raise BadInput(f"Got activations={activations!r}; give a non-empty list of activation names.")
    for a in activations:
        get_activation(a)  # unknown names raise UnknownName with the closest names
    return tuple(activations)
