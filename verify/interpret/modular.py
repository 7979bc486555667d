"""Exact interpretation of a ``Model``: forward and reverse mode, one data point at a time, in an
exact arithmetic (``verify.interpret.exact_arith``): a prime field, exact rationals or degree bounds.

The interpreter only chains the layers' own ``exact_forward`` / ``exact_backward`` hooks (like
``verify.interpret.numeric`` chains ``forward`` / ``backward``). It mirrors the symbolic
interpreter (``verify.interpret.symbolic``) symbol for symbol: a region symbol s per unit and data
point (named s{layer}_{unit}, m{pool}_{window}_{j}, with ^point for points after the first), an
auxiliary e per softmax exponential, and loss derivatives dl{p}_{j} at the outputs (the loss is
left undefined, so they are free; a chosen cross-entropy loss makes the last one minus the sum of
the others, as ``verify.model.chosen_loss.constraint`` does). In the field every such symbol is a
free variable drawn uniformly; in the rational arithmetic a region symbol takes its real value from
the sign of its pre-activation, so a witness's regions are real by construction.

``gradient`` returns dL/dtheta = sum_p sum_j dl{p}_{j} d f_j(x_p)/dtheta, the same function of the
free variables as the symbolic engine's chain-rule gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from verify.interpret.degree import Deg
from verify.model import Model
from verify.model.layers import LayerBase

__all__ = ["RegionRecord", "ExactNet", "exact_net", "draw_params", "layer_label"]


@dataclass(frozen=True)
class RegionRecord:
    """A region or auxiliary symbol's value at the point (``name`` as in the symbolic net)."""

    name: str
    preactivation: Any
    value: Any
    point: int


@dataclass(frozen=True)
class ExactNet:
    """Every value of one exact evaluation.

    Attributes:
        params: name -> object array of the parameter's shape.
        inputs / outputs / loss_derivatives: one 1-D object array per data point.
        grads: name -> dL/d(param) with the parameter's shape.
        regions: region and auxiliary values, in creation order.
        trace: (layer label, max degree bound of its forward output, of the gradient it passes
            back): filled in the degree arithmetic only (the derivation of the degree bound).
    """

    params: Mapping[str, np.ndarray]
    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    loss_derivatives: tuple[np.ndarray, ...]
    grads: Mapping[str, np.ndarray]
    regions: tuple[RegionRecord, ...]
    trace: tuple[tuple[str, str, str], ...] = ()


def layer_label(prefix: str, k: int, layer: LayerBase) -> str:
    names = ",".join(layer.param_names())
    return f"layer {prefix}{k} {type(layer).__name__}" + (f"({names})" if names else "")


def _bound(x: Any) -> str:
    """'n' or 'n/d' (numerator / denominator degree), the largest over the entries of x."""
    vals = [v for v in np.ravel(x) if isinstance(v, Deg) and not v.is_zero]
    if not vals:
        return "0"
    n, d = max(v.n for v in vals), max(v.den_degree for v in vals)
    return f"{n}" if d == 0 else f"{n} over a denominator of degree {d}"


class _State:
    """``ExactState`` of ``verify.model.layers``: the arithmetic, the point's symbol counters and records."""

    def __init__(self, arith: Any, point: int, regions: list, trace: list | None, aux: list):
        self.arith, self.point, self.regions, self.trace = arith, point, regions, trace
        self.suffix = f"^{point}" if point else ""
        self._index = {"hidden": 0, "aux": 0}
        self._aux = aux  # [count]: t/e numbers run on across points, as in the symbolic net

    # arithmetic (delegated)
    def mod(self, x):
        return self.arith.mod(x)

    def matmul(self, A, B):
        return self.arith.matmul(A, B)

    def const(self, r):
        return self.arith.const(r)

    def inv(self, x):
        return self.arith.inv(x)

    def zeros(self, shape):
        return self.arith.zeros(shape)

    # symbols
    def next_index(self, family: str) -> int:
        self._index[family] += 1
        return self._index[family]

    def region(self, name: str, z, rule):
        value = self.arith.region_value(z, rule)
        self.regions.append(RegionRecord(f"{name}{self.suffix}", z, value, self.point))
        return value

    def atom(self, name: str, z):
        value = self.arith.atom_value(z, name)
        self.regions.append(RegionRecord(f"{name}{self.suffix}", z, value, self.point))
        return value

    def exp(self, S):
        E = self.arith.exp_value(S)
        for z, e in zip(np.ravel(S), np.ravel(E)):
            self._aux[0] += 1
            self.regions.append(RegionRecord(f"e{self._aux[0]}{self.suffix}", z, e, self.point))
        return E

    def sqrt(self, base, label: str, constant: bool = False):
        t = self.arith.sqrt_value(base, label, constant)
        if not constant:  # t{k} as in the symbolic net (sqrt(n) of a layer norm is a number there)
            self._aux[0] += 1
            self.regions.append(RegionRecord(f"t{self._aux[0]}{self.suffix}", base, t, self.point))
        return t

    # chaining
    def run(self, layers: Sequence[LayerBase], P, a, prefix: str = ""):
        caches = []
        for k, layer in enumerate(layers, 1):
            out, cache = layer.exact_forward(P, a, self)
            caches.append((a, cache))
            if self.trace is not None:
                self.trace.append((layer_label(prefix, k, layer), "forward", _bound(out)))
            a = out
        return a, caches

    def back(self, layers: Sequence[LayerBase], P, caches, d, grads, prefix: str = ""):
        for k, (layer, (a_in, cache)) in reversed(list(enumerate(zip(layers, caches), 1))):
            d = layer.exact_backward(P, a_in, cache, d, grads, self)
            if self.trace is not None:
                self.trace.append((layer_label(prefix, k, layer), "backward", _bound(d)))
        return d


def draw_params(model: Model, draw: Callable[[tuple[int, ...]], np.ndarray]) -> dict[str, np.ndarray]:
    """Each parameter as an object array of its shape, entries from ``draw(shape)``."""
    return {p.name: np.asarray(draw(p.shape), dtype=object).reshape(p.shape) for p in model.params}


def exact_net(model: Model, arith: Any, params: Mapping[str, np.ndarray], inputs: Sequence[np.ndarray],
              loss_derivatives: Callable[[int, np.ndarray], np.ndarray], *, trace: bool = False) -> ExactNet:
    """Forward pass at every data point, the loss derivatives at the outputs, reverse mode.

    ``loss_derivatives(p, output)`` gives dl at point p: free draws (undefined loss) or the chosen
    loss's exact derivative at a witness. With ``trace`` (degree arithmetic), each layer's degree
    bound is recorded for the derivation.
    """
    regions: list[RegionRecord] = []
    log: list | None = [] if trace else None
    grads = {p.name: arith.zeros(p.shape) for p in model.params}
    outputs, dls = [], []
    aux = [0]
    for point, x in enumerate(inputs):
        st = _State(arith, point, regions, log if point == 0 else None, aux)
        out, caches = st.run(model.layers, params, x)
        dl = loss_derivatives(point, out)
        st.back(model.layers, params, caches, dl, grads)
        outputs.append(out)
        dls.append(dl)
    return ExactNet(dict(params), tuple(inputs), tuple(outputs), tuple(dls), grads, tuple(regions),
                    tuple(log or ()))
