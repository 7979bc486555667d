"""``discover``'s one interpreter of a model: forward and reverse pass, batched, on jets, over a ring.

Everything ``verify.laws.lie_rank`` and ``verify.laws.search`` evaluate (outputs f, gradients
grad_theta f, grad_x f, and their exact directional derivatives) goes through ``forward_backward``.
It knows three layer types (Dense with optional sharing pattern, Act with a homogeneous activation,
DiagonalLinear); a per-layer registry can later replace the two loops below.

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

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from verify.model import Act, DiagonalLinear, Dense, Model

__all__ = ["PRIME", "Ring", "FLOAT", "MODP", "Jets", "jets", "param_layout", "forward_backward", "to_ring"]

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
    """name -> (offset, shape) of each parameter in the flat theta (row-major, declaration order,
    the same order as ``symbolic_net(model).theta``)."""
    out, k = {}, 0
    for p in model.params:
        size = int(np.prod(p.shape)) if p.shape else 1
        out[p.name] = (k, p.shape)
        k += size
    return out


def _unpack(model: Model, Theta: np.ndarray) -> dict[str, np.ndarray]:
    n = Theta.shape[0]
    return {name: Theta[:, k:k + (int(np.prod(s)) if s else 1)].reshape((n,) + s)
            for name, (k, s) in param_layout(model).items()}


def _weight(layer: Dense, P, n):
    if layer.pattern is None:
        return P[layer.weight]
    pat = np.asarray(layer.pattern)
    v = np.concatenate([np.zeros((n, 1)), P[layer.weight]], axis=1)  # index 0 = missing entry
    return v[:, pat]


def forward_backward(model: Model, Theta: np.ndarray, X: np.ndarray, cot: np.ndarray | None = None,
                     slopes: list[np.ndarray] | None = None, want_x: bool = False, jets: Jets | None = None):
    """Batched forward pass and (optionally) reverse pass.

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
    jets = jets or _PLAIN
    ring = jets.ring
    n = Theta.shape[0]
    P = _unpack(model, Theta)
    mul = lambda x, xc, y, yc: jets.prod(ring.multiply, x, xc, y, yc)  # noqa: E731
    mm = lambda x, xc, y, yc: jets.prod(ring.matmul, x, xc, y, yc)  # noqa: E731
    a, ac = np.asarray(X, float), True  # (value, is free of theta)
    # The tape holds three record shapes ("dense", "act", "diag"), told apart by item[0] below.
    tape: list[tuple[Any, ...]] = []
    used: list = []
    act_i = 0
    for layer in model.layers:
        if isinstance(layer, Dense):
            W = _weight(layer, P, n)
            tape.append(("dense", layer, W, a, ac))
            a, ac = mm(a, ac, W.transpose(0, 2, 1), False)  # batched matmul (BLAS), faster than einsum
            if layer.bias is not None:
                a = ring.reduce(a + P[layer.bias][:, None, :])
        elif isinstance(layer, Act):
            act = layer.activation
            k_act = act.degree
            assert k_act is not None, "jets evaluate homogeneous activations only (phi(z) = s z**k)"
            if slopes is None:
                if ring.modulus is not None:
                    raise ValueError("modular evaluation needs the region constants (slopes)")
                assert act.slopes is not None, "a float pass without region constants needs the activation's slopes"
                pos, neg = (float(s) for s in act.slopes)
                s = np.where(a > 0, pos, neg)
            else:
                s = slopes[act_i]
            act_i += 1
            used.append(s)
            tape.append(("act", k_act, s, a, ac))
            ak, akc = a, ac
            for _ in range(k_act - 1):
                ak, akc = mul(ak, akc, a, ac)
            a, ac = mul(ak, akc, s, True)
        elif isinstance(layer, DiagonalLinear):
            us = [P[f] for f in layer.factors]
            w = us[0]
            for u in us[1:]:
                w, _ = mul(w, False, u, False)
            tape.append(("diag", layer, us, w, a, ac))
            a, ac = mm(a, ac, w[:, :, None], False)
    if cot is None:
        return a, None, None, used
    G = np.zeros_like(Theta)
    lay = param_layout(model)

    def put(name, g, gc):
        k, s = lay[name]
        size = int(np.prod(s)) if s else 1
        g = jets.as_jet(g, gc, n)
        G[:, k:k + size] += np.broadcast_to(g, (n,) + g.shape[1:]).reshape(n, size)

    d, dc = np.asarray(cot, float), True
    for item in reversed(tape):
        if item[0] == "dense":
            _, layer, W, a_in, c_in = item
            dW, dWc = mm(d.transpose(0, 2, 1), dc, a_in, c_in)
            if layer.bias is not None:
                put(layer.bias, ring.reduce(d.sum(axis=1)), dc)
            if layer.pattern is None:
                put(layer.weight, dW, dWc)
            else:
                pat = np.asarray(layer.pattern).ravel()
                nv = lay[layer.weight][1][0]
                onehot = np.zeros((pat.size, nv + 1))
                onehot[np.arange(pat.size), pat] = 1.0
                flat = ring.matmul(dW.reshape(dW.shape[0], -1), onehot)  # constant matrix: coefficient-wise
                put(layer.weight, flat[:, 1:], dWc)
            d, dc = mm(d, dc, W, False)
        elif item[0] == "act":
            _, k, s, z, c_in = item
            fac, facc = ring.reduce(k * s), True  # phi'(z) = k s z^(k-1)
            for _ in range(k - 1):
                fac, facc = mul(fac, facc, z, c_in)
            d, dc = mul(d, dc, fac, facc)
        else:
            _, layer, us, w, a_in, c_in = item
            g = d[..., 0]
            dw, dwc = mm(g[:, None, :], dc, a_in, c_in)
            dw = dw[:, 0, :]
            for i, f in enumerate(layer.factors):
                gi, gic = dw, dwc
                for j, u in enumerate(us):
                    if j != i:
                        gi, gic = mul(gi, gic, u, False)
                put(f, gi, gic)
            d, dc = mul(g[..., None], dc, w[:, None, :], False)
    if want_x:
        d = jets.as_jet(d, dc, n)
    return a, ring.reduce(G), (d if want_x else None), used


_PLAIN = Jets(0)
