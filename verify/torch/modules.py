"""Three small ``nn.Module`` layers for structures plain PyTorch has no layer for.

``from_module`` treats them as leaves and maps each onto one layer of the model definition:

* ``SharedLinear(pattern)``: a weight matrix filled from a free vector ``v`` by a sharing pattern
  (0 = no connection, p >= 1 = v[p-1]; Du, Hu & Lee 2018, Sec 2.2) -> ``Dense(pattern=...)``;
* ``Hadamard(n, factors, minus)``: the diagonal model x -> <u1 o ... o uL - m1 o ... o mK, x>, one
  output (Woodworth et al. 2020) -> ``DiagonalLinear``; a name may repeat (``("u", "u")`` is u o u);
* ``WeightNormLinear(n_in, n_out, bias)``: rows of W divided by their norms, gain fixed to 1
  (Salimans & Kingma 2016, eq. 2) -> ``NormalizedDense``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SharedLinear", "Hadamard", "WeightNormLinear"]


class SharedLinear(nn.Module):
    """x -> x @ W.T with W[i, j] = v[pattern[i][j] - 1] (0 where pattern[i][j] == 0)."""

    def __init__(self, pattern):
        super().__init__()
        rows = [[int(e) for e in r] for r in pattern]
        if not rows or any(len(r) != len(rows[0]) for r in rows) or min(min(r) for r in rows) < 0:
            raise ValueError(f"pattern must be a non-empty rectangular table of integers >= 0, got {pattern!r}")
        n_free = max(max(r) for r in rows)
        if n_free < 1:
            raise ValueError("pattern has no free parameter; use entries >= 1")
        self.pattern = tuple(tuple(r) for r in rows)
        self.register_buffer("index", torch.tensor(rows, dtype=torch.long), persistent=False)
        self.v = nn.Parameter(torch.randn(n_free))

    def forward(self, x):
        padded = torch.cat([torch.zeros(1, dtype=self.v.dtype, device=self.v.device), self.v])
        return x @ padded[self.index].T


class Hadamard(nn.Module):
    """x -> <u1 o ... o uL - m1 o ... o mK, x> (shape (batch, 1)); parameters named by ``factors``."""

    def __init__(self, n: int, factors=("u1", "u2"), minus=()):
        super().__init__()
        self.factors, self.minus = tuple(factors), tuple(minus)
        if not self.factors:
            raise ValueError("Hadamard needs at least one factor")
        for name in dict.fromkeys(self.factors + self.minus):
            self.register_parameter(name, nn.Parameter(torch.randn(n)))

    def _product(self, names):
        w = getattr(self, names[0])
        for name in names[1:]:
            w = w * getattr(self, name)
        return w

    def forward(self, x):
        w = self._product(self.factors)
        if self.minus:
            w = w - self._product(self.minus)
        return (x @ w)[:, None]


class WeightNormLinear(nn.Module):
    """x -> x @ (W / ||W[i,:]||).T (+ b): weight normalisation with the gain fixed to 1."""

    def __init__(self, n_in: int, n_out: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.randn(n_out)) if bias else None

    def forward(self, x):
        V = self.weight / self.weight.norm(dim=1, keepdim=True)
        out = x @ V.T
        return out + self.bias if self.bias is not None else out
