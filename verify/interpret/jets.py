"""``discover``'s one interpreter of a model: forward and reverse pass, batched, on jets, over a ring.

Everything ``verify.laws.lie_rank`` and ``verify.laws.search`` evaluate (outputs f, gradients
grad_theta f, grad_x f, and their exact directional derivatives) goes through ``forward_backward``.
Each layer kind evaluates itself through its jet hooks (``jet_forward``/``jet_backward`` in
``verify.model.layers``); today Dense (with optional sharing pattern), Act with a homogeneous
activation and DiagonalLinear have them, and ``jet_support`` says why any other kind has none.

Two number systems, chosen by ``ring``:

* ``FLOAT``: float64 (the law search, the activation patterns at a real theta0);
* ``MODP``: integers modulo the prime ``PRIME``, stored exactly in float64. Every product is
  reduced before it is summed, and matrix products are split along the summed axis so that no
  partial sum exceeds 2^53. The fields are polynomials with rational coefficients, so their values
  at an integer point reduce mod p exactly: a rank computed mod p is a rank of exact integer vectors
  (``verify.laws.modp``), with no singular-value threshold.

Jets (truncated Taylor arithmetic in k nilpotent directions, eps_i^2 = 0) give exact directional
derivatives: X(P + eps V) = X(P) + eps DX(P).V with no step size, so Lie brackets are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from verify.model import Model
from verify.model.layout import layout, unflatten

__all__ = ["PRIME", "Ring", "FLOAT", "MODP", "Jets", "jets", "param_layout", "unpack", "forward_backward", "to_ring"]

#: The prime of modular evaluation: the largest below 2^20, so a product of two residues is
#: below 2^40 and up to 2^13 of them sum exactly in float64.
PRIME = 1048573

#: Longest sum of reduced products taken at once (2^53 / (PRIME - 1)^2 = 8192, with a margin).
_CHUNK = 8000


@dataclass(frozen=True)
class Ring:
    """float64 (``modulus`` None) or the integers modulo a prime, stored in float64."""

    modulus: int | None = None

    def reduce(self, x):
        """x mod p for integers |x| < 2^53, as a float in (-4, p + 4): floor(x / p) computed in float64
        is off by one only when x is within 4 of a multiple of p (relative error 2^-51 of x / p <
        2^33), which leaves every residue below 2^20 + 4 in size, so sums of 8000 products stay
        exact. ``canonical`` gives the representative in [0, p)."""
        if self.modulus is None:
            return x
        if np.ndim(x) == 0:
            return float(x - self.modulus * np.floor(x / self.modulus))
        q = np.multiply(x, 1.0 / self.modulus)
        np.floor(q, out=q)
        q *= self.modulus
        return np.subtract(x, q, out=q)

    def canonical(self, x):
        """The representative in [0, p) of reduced values."""
        if self.modulus is None:
            return x
        x = self.reduce(x)
        x[x < 0] += self.modulus
        x[x >= self.modulus] -= self.modulus
        return x

    def matmul(self, a, b):
        if self.modulus is None:
            return np.matmul(a, b)
        n = a.shape[-1]
        if n <= _CHUNK:
            return self.reduce(np.matmul(a, b))
        out = 0
        for s in range(0, n, _CHUNK):
            out = self.reduce(out + self.reduce(np.matmul(a[..., s:s + _CHUNK], b[..., s:s + _CHUNK, :])))
        return out

    def multiply(self, a, b):
        return self.reduce(np.multiply(a, b))


FLOAT = Ring(None)
MODP = Ring(PRIME)


def to_ring(values, ring: Ring) -> np.ndarray:
    """Exact rationals (ints, Fractions, SymPy Rationals) as ring elements (p-adic inverse mod p)."""
    if ring.modulus is None:
        return np.asarray([float(v) for v in np.ravel(values)]).reshape(np.shape(values))
    out = []
    for v in np.ravel(values):
        num, den = (int(v.p), int(v.q)) if hasattr(v, "q") else (v.numerator, v.denominator)
        out.append(num % ring.modulus * pow(den, -1, ring.modulus) % ring.modulus)
    return np.asarray(out, dtype=float).reshape(np.shape(values))


class Jets:
    """Truncated Taylor arithmetic in k nilpotent directions (eps_i^2 = 0), batched NumPy.

    A jet is stored jet-major in the batch axis: row ``S * n + i`` is the coefficient of the
    monomial prod_{b in S} eps_b (S a bitmask) for sample i. The product of two jets is the subset
    convolution C_T = sum_{S subset T} A_S B_{T minus S} (3^k products).
    """

    def __init__(self, k: int, ring: Ring = FLOAT):
        self.k, self.J, self.ring = k, 1 << k, ring
        pairs = [(S, T ^ S, T) for T in range(self.J) for S in range(self.J) if S & T == S]
        self.left = np.array([p[0] for p in pairs])
        self.right = np.array([p[1] for p in pairs])
        T = np.array([p[2] for p in pairs])
        self.starts = np.flatnonzero(np.r_[True, T[1:] != T[:-1]])

    def prod(self, op, x, xc: bool, y, yc: bool):
        """op(x, y) for op bilinear (a ring's multiply or matmul); xc / yc say that an operand is a
        constant (free of theta, stored plainly with n or 1 rows). Returns (value, is_constant)."""
        if xc and yc:
            return op(x, y), True
        if self.J == 1:
            return op(x, y), False
        if xc or yc:  # constant times jet acts on every coefficient
            Y = (y if xc else x).reshape((self.J, -1) + (y if xc else x).shape[1:])
            out = op(x[None], Y) if xc else op(Y, y[None])
            return out.reshape((-1,) + out.shape[2:]), False
        A = x.reshape((self.J, -1) + x.shape[1:])
        B = y.reshape((self.J, -1) + y.shape[1:])
        out = self.ring.reduce(np.add.reduceat(op(A[self.left], B[self.right]), self.starts, axis=0))
        return out.reshape((-1,) + out.shape[2:]), False

    def as_jet(self, x, xc: bool, n: int):
        """A value as jet coefficients with n rows (a constant has only the eps^0 coefficient)."""
        if not xc or self.J == 1:
            return x
        out = np.zeros((n,) + x.shape[1:])
        out[:n // self.J] = x
        return out


@lru_cache(maxsize=None)
def jets(k: int, ring: Ring = FLOAT) -> Jets:
    """The (read-only) product tables for k directions over ``ring``, built once per (k, ring)."""
    return Jets(k, ring)


def param_layout(model: Model) -> dict[str, tuple[int, tuple[int, ...]]]:
    """name -> (offset, shape) of each parameter in the flat theta: the model's one layout
    (``verify.model.layout``, the same order as ``symbolic_net(model).theta``)."""
    return {s.name: (s.offset, s.shape) for s in layout(model)}


def unpack(model: Model, Theta: np.ndarray) -> dict[str, np.ndarray]:
    """Named ``(n, *shape)`` arrays of the n parameter points (or jet coefficients) in ``Theta``."""
    return unflatten(model, Theta)


@dataclass
class _JetPass:
    """The :class:`verify.model.layers.JetState` of one ``forward_backward`` call."""

    jets: Jets
    n: int
    slope_list: list[np.ndarray] | None
    lay: dict[str, tuple[int, tuple[int, ...]]]
    G: np.ndarray | None = None
    used: list = field(default_factory=list)

    @property
    def ring(self) -> Ring:
        return self.jets.ring

    def mul(self, x, xc, y, yc):
        return self.jets.prod(self.ring.multiply, x, xc, y, yc)

    def mm(self, x, xc, y, yc):
        return self.jets.prod(self.ring.matmul, x, xc, y, yc)

    def slopes(self, act, z):
        if self.slope_list is None:
            if self.ring.modulus is not None:
                raise ValueError("modular evaluation needs the region constants (slopes)")
            assert act.slopes is not None, "a float pass without region constants needs the activation's slopes"
            pos, neg = (float(v) for v in act.slopes)
            s = np.where(z > 0, pos, neg)
        else:
            s = self.slope_list[len(self.used)]
        self.used.append(s)
        return s

    def put(self, name, g, gc):
        assert self.G is not None
        k, shape = self.lay[name]
        size = int(np.prod(shape)) if shape else 1
        g = self.jets.as_jet(g, gc, self.n)
        self.G[:, k:k + size] += np.broadcast_to(g, (self.n,) + g.shape[1:]).reshape(self.n, size)


def forward_backward(model: Model, Theta: np.ndarray, X: np.ndarray, cot: np.ndarray | None = None,
                     slopes: list[np.ndarray] | None = None, want_x: bool = False, jets: Jets | None = None):
    """Batched forward pass and (optionally) reverse pass, through each layer's jet hooks.

    Args:
        Theta: (n, D) parameter points (with ``jets``: (2^k n, D) jet coefficients).
        X: (n or 1, m, input_dim) data, m points per parameter point.
        cot: (n or 1, m, output_dim) cotangents; returns grad_theta of sum(cot * f) when given.
        slopes: one (n or 1, m, width) array per activation layer with the region constants s
            (phi(z) = s z**k); ``None`` takes them from the sign of z (float ring only).
        want_x: also return grad_x of sum(cot * f), shape (n, m, input_dim).
        jets: evaluate on jets over their ring (default: plain float64); X, cot and slopes are then
            constants (free of theta) with the samples' row count (or 1), already in the ring.

    Returns:
        (F, grad_theta, grad_x, slopes_used); absent parts are None.
    """
    js = _JetPass(jets or _PLAIN, Theta.shape[0], slopes, param_layout(model))
    P = unpack(model, Theta)
    a, ac = np.asarray(X, float), True  # (value, is free of theta)
    tape = []
    for layer in model.layers:
        a, ac, record = layer.jet_forward(P, a, ac, js)
        tape.append((layer, record))
    if cot is None:
        return a, None, None, js.used
    js.G = np.zeros_like(Theta)
    d, dc = np.asarray(cot, float), True
    for layer, record in reversed(tape):
        d, dc = layer.jet_backward(P, record, d, dc, js)
    if want_x:
        d = js.jets.as_jet(d, dc, js.n)
    return a, js.ring.reduce(js.G), (d if want_x else None), js.used


_PLAIN = Jets(0)
