"""What each supported PyTorch op becomes in the model definition: activations, convolution
sharing patterns and pooling windows (channel-major flattening, as ``verify.model`` uses).

Index map of a convolution weight (out, in, k1[, k2]): its row-major flattening is the free-parameter
vector of ``Dense(pattern=...)``, so ``conv.weight[o,c,i,j]`` is free parameter number
1 + ((o*C + c)*kh + i)*kw + j, exactly ``verify.model.conv2d_pattern``'s numbering.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from ._bridge import Activation, custom, get_activation, leaky_relu, relu_power

__all__ = ["module_activation", "function_activation", "conv_pattern", "pool_windows", "exact_constant",
           "scale_activation", "tuple_of"]

_GELU_TANH = "0.5*z*(1 + tanh(sqrt(2/pi)*(z + 0.044715*z**3)))"


def tuple_of(v, n: int) -> tuple[int, ...]:
    return tuple(int(e) for e in v) if isinstance(v, (tuple, list)) else (int(v),) * n


def exact_constant(c: float) -> sp.Expr:
    """The exact number a float64 constant stands for: sqrt(n) when c is the float of one (scores
    divided by math.sqrt(d)), else the float's own exact binary value."""
    if c != 0:
        n, m = round(c * c), round(1 / (c * c))
        if n > 0 and math.sqrt(n) == abs(c) and math.isqrt(n) ** 2 != n:
            return sp.sign(c) * sp.sqrt(n)
        if m > 0 and 1 / math.sqrt(m) == abs(c) and math.isqrt(m) ** 2 != m:
            return sp.sign(c) / sp.sqrt(m)
    f = Fraction(c)
    return sp.Rational(f.numerator, f.denominator)


def scale_activation(c: sp.Expr) -> Activation:
    """phi(z) = c*z as an activation (no homogeneity declared: the closed form is used as is)."""
    return custom(f"z*({sp.sstr(c)})", f"scale({sp.sstr(c)})")


def _softplus(beta, threshold) -> tuple[Activation | None, str]:
    if beta != 1:
        return None, f"Softplus with beta={beta} (only beta=1 is in the model definition)"
    return get_activation("softplus"), ""


def module_activation(m: nn.Module) -> tuple[Activation | None, str]:
    """(activation or None for the identity, '') or (None, reason) when the module is not a supported
    activation. Raises KeyError when ``m`` is not an activation module at all."""
    if isinstance(m, (nn.Identity,)):
        return None, ""
    if isinstance(m, nn.Dropout):
        return (None, "") if (not m.training or m.p == 0) else (None, f"Dropout(p={m.p}) in training mode is random")
    if isinstance(m, nn.ReLU):
        return get_activation("relu"), ""
    if isinstance(m, nn.LeakyReLU):
        return leaky_relu(str(m.negative_slope)), ""
    if isinstance(m, nn.Tanh):
        return get_activation("tanh"), ""
    if isinstance(m, nn.Sigmoid):
        return get_activation("sigmoid"), ""
    if isinstance(m, nn.Softplus):
        return _softplus(m.beta, m.threshold)
    if isinstance(m, nn.GELU):
        return (get_activation("gelu"), "") if m.approximate == "none" else (custom(_GELU_TANH, "gelu_tanh"), "")
    if isinstance(m, nn.SiLU):
        return custom("z*sigmoid(z)", "swish"), ""
    raise KeyError(type(m).__name__)


_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", "relu": "relu",
    torch.tanh: "tanh", F.tanh: "tanh", "tanh": "tanh",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", "sigmoid": "sigmoid",
    F.gelu: "gelu", F.silu: "silu", F.softplus: "softplus", F.leaky_relu: "leaky_relu",
    torch.abs: "abs", "abs": "abs",
}


def function_activation(target, args, kwargs) -> tuple[Activation | None, str]:
    """Like ``module_activation`` for call_function / call_method targets (KeyError if not one)."""
    kind = _FUNCTIONS[target]
    if kind in ("relu", "tanh", "sigmoid"):
        return get_activation(kind), ""
    if kind == "silu":
        return custom("z*sigmoid(z)", "swish"), ""
    if kind == "abs":  # homogeneity derived by SymPy (verify.model.homogeneity), as for a spec's formula
        return custom("abs(z)", "abs"), ""
    if kind == "gelu":
        approx = kwargs.get("approximate", args[1] if len(args) > 1 else "none")
        return (get_activation("gelu"), "") if approx == "none" else (custom(_GELU_TANH, "gelu_tanh"), "")
    if kind == "softplus":
        return _softplus(kwargs.get("beta", args[1] if len(args) > 1 else 1),
                         kwargs.get("threshold", args[2] if len(args) > 2 else 20))
    slope = kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)
    return leaky_relu(str(slope)), ""


def relu_squared(act: Activation, exponent) -> Activation | None:
    """relu(z)**k is relu_power(k) (homogeneous of degree k)."""
    if act.name == "relu" and isinstance(exponent, int) and exponent >= 1:
        return relu_power(exponent)
    return None


def conv_pattern(channels: int, spatial: tuple[int, ...], out_channels: int, kernel: tuple[int, ...],
                 stride: tuple[int, ...], padding: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Sharing pattern of an N-d convolution (cross-correlation, zero padding, groups = 1).

    Input (c, y1, ..., yN) -> flat c*prod(spatial) + row-major position; output likewise; weight
    entry (o, c, i1, ..., iN) -> 1 + its row-major index in (out_channels, channels, *kernel).
    Equals ``conv1d_pattern`` (one channel) and ``conv2d_pattern`` (tests check both).
    """
    out_sp = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(spatial, kernel, stride, padding))
    size_in = math.prod(spatial)
    ksize = math.prod(kernel)
    rows = []
    for o in range(out_channels):
        for pos in itertools.product(*(range(n) for n in out_sp)):
            row = [0] * (channels * size_in)
            for c in range(channels):
                for t, tap in enumerate(itertools.product(*(range(k) for k in kernel))):
                    src = [q * s + i - p for q, s, i, p in zip(pos, stride, tap, padding)]
                    if all(0 <= y < n for y, n in zip(src, spatial)):
                        flat = 0
                        for y, n in zip(src, spatial):
                            flat = flat * n + y
                        row[c * size_in + flat] = 1 + (o * channels + c) * ksize + t
            rows.append(tuple(row))
    return tuple(rows)


def pool_windows(channels: int, spatial: tuple[int, ...], kernel: tuple[int, ...],
                 stride: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Windows of an N-d pooling without padding, channel-major (``pool2d_windows`` for N = 2)."""
    out_sp = tuple((n - k) // s + 1 for n, k, s in zip(spatial, kernel, stride))
    size_in = math.prod(spatial)
    wins = []
    for c in range(channels):
        for pos in itertools.product(*(range(n) for n in out_sp)):
            win = []
            for tap in itertools.product(*(range(k) for k in kernel)):
                flat = 0
                for q, s, i, n in zip(pos, stride, tap, spatial):
                    flat = flat * n + q * s + i
                win.append(c * size_in + flat)
            wins.append(tuple(win))
    return tuple(wins)
