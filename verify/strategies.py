"""Hypothesis strategies: random networks, parameter points and data, losses.

Every strategy takes keyword-only bounds and rejects invalid bounds on entry (``BadInput``), so a
typo in a user's test fails loudly instead of generating nothing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .activations import homogeneous, leaky_relu, relu_power  # noqa: F401  (documented families)
from .errors import BadInput
from .model import Model, mlp, shared_mlp

__all__ = ["networks", "parameters", "data", "losses", "HOMOGENEOUS", "NON_HOMOGENEOUS", "LOSSES"]

HOMOGENEOUS = ("identity", "relu", "leaky_relu", "relu2")
NON_HOMOGENEOUS = ("tanh", "sigmoid", "softplus")
LOSSES = ("square", "logistic", "exponential", "cross_entropy")


def _bounds(name, lo, hi, floor):
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < floor or hi < lo:
        raise BadInput(f"Got {name}=({lo}, {hi}); need integers with {floor} <= min <= max.")


@st.composite
def _net(draw, depth, widths, activations, bias, sharing):
    n_layers = draw(st.integers(*depth))
    ws = draw(st.lists(st.integers(*widths), min_size=n_layers + 1, max_size=n_layers + 1))
    acts = draw(st.lists(st.sampled_from(activations), min_size=n_layers - 1, max_size=n_layers - 1))
    if sharing and draw(st.booleans()):
        patterns = []
        for h in range(n_layers):
            n_free = draw(st.integers(1, 3))
            rows = draw(st.lists(st.lists(st.integers(0, n_free), min_size=ws[h], max_size=ws[h]),
                                 min_size=ws[h + 1], max_size=ws[h + 1]))
            rows[0][0] = n_free  # every free parameter index up to n_free is declared
            patterns.append(tuple(tuple(r) for r in rows))
        act = acts[0] if acts else "relu"
        return shared_mlp(patterns, act)
    return mlp(ws, acts, bias=draw(st.booleans()) if bias is None else bias)


def networks(*, depth=(2, 5), widths=(1, 8), activations=HOMOGENEOUS, bias=None, sharing=False) -> st.SearchStrategy[Model]:
    """Random MLPs (or shared-weight nets when ``sharing``): depth = number of weight layers.

    ``bias=None`` draws it; ``True``/``False`` fixes it.
    """
    _bounds("depth", *depth, floor=1)
    _bounds("widths", *widths, floor=1)
    if not activations:
        raise BadInput("activations is empty; give at least one activation name.")
    return _net(tuple(depth), tuple(widths), tuple(activations), bias, sharing)


def parameters(model: Model, *, scale: float = 1.0) -> st.SearchStrategy[dict]:
    """A float64 parameter point {name: array}, entries in [-scale, scale] (no NaN/inf)."""
    if not scale > 0:
        raise BadInput(f"Got scale={scale}; it must be > 0.")
    elems = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=64)
    return st.fixed_dictionaries({
        p.name: st.lists(elems, min_size=int(np.prod(p.shape)), max_size=int(np.prod(p.shape))).map(
            lambda xs, s=p.shape: np.asarray(xs, dtype=float).reshape(s)) for p in model.params})


def data(model: Model, *, points=(1, 4), scale: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    """A batch X of shape (m, input_dim)."""
    _bounds("points", *points, floor=1)
    if not scale > 0:
        raise BadInput(f"Got scale={scale}; it must be > 0.")
    elems = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=64)
    return st.integers(*points).flatmap(lambda m: st.lists(
        elems, min_size=m * model.input_dim, max_size=m * model.input_dim).map(
        lambda xs: np.asarray(xs, dtype=float).reshape(m, model.input_dim)))


def losses(*, names=LOSSES) -> st.SearchStrategy[str]:
    """Names of concrete losses (see ``verify.losses``)."""
    bad = [n for n in names if n not in LOSSES]
    if bad or not names:
        raise BadInput(f"Got losses {list(names)}; choose from {', '.join(LOSSES)}.")
    return st.sampled_from(tuple(names))
