"""The quantity language evaluated on PyTorch tensors, with its derivative and the size of its terms.

The same safe AST as ``verify.lang.quantity`` (never Python's evaluator) is walked once per call, with the
free index variables as leading batch axes (``W1[i,:]`` for every i at once). Each value carries:

* ``t``: the value;
* ``d``: its directional derivative along the leaf tangents (forward mode by hand, so dQ/dt along a
  flow is one pass: dQ/dt = <grad Q, theta'>);
* ``m``: the size of the terms of that derivative, the same recursion with every term replaced by its
  absolute value (|a' b| + |a b'| for a product). m >= |d|, and a float64 d that is round-off of
  cancelling terms is ~1e-16 * m; this is "the scale of its terms" a residual is compared with.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from ._bridge import (BadInput, BinOp, Call, Index, MatMul, Name, Neg, Number, Pow, Quantity, Slice, Transpose,
                      parse_quantity, quantity_shape)

__all__ = ["Program", "compile_quantity", "evaluate"]


@dataclass(frozen=True)
class Program:
    text: str
    quantity: Quantity
    letters: tuple[str, ...]
    labels: tuple[str, ...]  # one per scalar entry, in ``instantiate``'s order


def compile_quantity(text: str, shapes: dict[str, tuple[int, ...]]) -> Program:
    """Parse and shape-check ``text`` against PyTorch parameter shapes (errors name the closest names)."""
    q = parse_quantity(text)
    summary = quantity_shape(q, shapes)
    letters = tuple(v for v, _ in summary.index_ranges)
    labels = []
    for assign in itertools.product(*(range(n) for _, n in summary.index_ranges)):
        for pos in itertools.product(*(range(n) for n in summary.shape)):
            names = ("entry",) if len(pos) == 1 else ("row", "col")
            key = [f"{v}={a}" for v, a in zip(letters, assign)] + [f"{n}={p}" for n, p in zip(names, pos)]
            labels.append("[" + ",".join(key) + "]" if key else "")
    return Program(text, q, letters, tuple(labels))


@dataclass(frozen=True)
class _V:
    t: torch.Tensor
    d: torch.Tensor
    m: torch.Tensor
    letters: tuple[str, ...]

    def map(self, f, letters=None) -> "_V":
        return _V(f(self.t), f(self.d), f(self.m), self.letters if letters is None else letters)


def _align(v: _V, letters: tuple[str, ...], vdims: int) -> _V:
    """Insert size-1 axes for missing letters (sorted order) and trailing value axes up to ``vdims``."""
    out = v
    for pos, letter in enumerate(letters):
        if letter not in out.letters:
            out = out.map(lambda x, p=pos: x.unsqueeze(p), letters=letters)
    own = v.t.dim() - len(v.letters)
    for _ in range(vdims - own):
        out = out.map(lambda x: x.unsqueeze(-1))
    return _V(out.t, out.d, out.m, letters)


def _pair(a: _V, b: _V):
    letters = tuple(sorted(set(a.letters) | set(b.letters)))
    va, vb = a.t.dim() - len(a.letters), b.t.dim() - len(b.letters)
    return _align(a, letters, 0 if va == 0 else va), _align(b, letters, 0 if vb == 0 else vb), letters, va, vb


def _scalarwise(a: _V, b: _V):
    """Operands for elementwise ops: a scalar operand gets trailing axes to broadcast."""
    letters = tuple(sorted(set(a.letters) | set(b.letters)))
    vd = max(a.t.dim() - len(a.letters), b.t.dim() - len(b.letters))
    return _align(a, letters, vd), _align(b, letters, vd), letters


def _mm(x, y, va, vb):
    if va == 1 and vb == 1:
        return (x * y).sum(-1)
    if va == 2 and vb == 1:
        return (x @ y.unsqueeze(-1)).squeeze(-1)
    if va == 1 and vb == 2:
        return (x.unsqueeze(-2) @ y).squeeze(-2)
    return x @ y


_FUNCS = {
    "sqrt": (torch.sqrt, lambda x, fx: 0.5 / fx),
    "abs": (torch.abs, lambda x, fx: torch.sign(x)),
    "exp": (torch.exp, lambda x, fx: fx),
    "log": (torch.log, lambda x, fx: 1.0 / x),
    "tanh": (torch.tanh, lambda x, fx: 1.0 - fx * fx),
}


class _Eval:
    def __init__(self, leaves):
        self.leaves = leaves  # name -> (value, tangent)

    def value_dims(self, v: _V) -> int:
        return v.t.dim() - len(v.letters)

    def run(self, node) -> _V:
        if isinstance(node, Number):
            z = torch.tensor(float(node.value), dtype=torch.float64)
            return _V(z, torch.zeros_like(z), torch.zeros_like(z), ())
        if isinstance(node, Name):
            t, d = self.leaves[node.id]
            return _V(t, d, d.abs(), ())
        if isinstance(node, Neg):
            v = self.run(node.operand)
            return _V(-v.t, -v.d, v.m, v.letters)
        if isinstance(node, Transpose):
            v = self.run(node.operand)
            return v.map(lambda x: x.transpose(-2, -1)) if self.value_dims(v) == 2 else v
        if isinstance(node, BinOp):
            a, b, letters = _scalarwise(self.run(node.left), self.run(node.right))
            if node.op == "+":
                return _V(a.t + b.t, a.d + b.d, a.m + b.m, letters)
            if node.op == "-":
                return _V(a.t - b.t, a.d - b.d, a.m + b.m, letters)
            if node.op == "*":
                return _V(a.t * b.t, a.d * b.t + a.t * b.d, a.m * b.t.abs() + a.t.abs() * b.m, letters)
            inv = 1.0 / b.t
            return _V(a.t * inv, a.d * inv - a.t * b.d * inv * inv,
                      a.m * inv.abs() + (a.t * inv * inv).abs() * b.m, letters)
        if isinstance(node, Pow):
            a, e = self.run(node.base), self.run(node.exponent)
            if e.letters or float(e.m.abs().sum()) != 0 or float(e.d.abs().sum()) != 0 or e.t.dim():
                raise BadInput(f"quantity {node!r}: the numeric route needs a constant exponent.")
            k = float(e.t)
            fp = k * a.t ** (k - 1) if k != 0 else torch.zeros_like(a.t)
            return _V(a.t ** k, fp * a.d, fp.abs() * a.m, a.letters)
        if isinstance(node, MatMul):
            a, b, letters, va, vb = _pair(self.run(node.left), self.run(node.right))
            return _V(_mm(a.t, b.t, va, vb), _mm(a.d, b.t, va, vb) + _mm(a.t, b.d, va, vb),
                      _mm(a.m, b.t.abs(), va, vb) + _mm(a.t.abs(), b.m, va, vb), letters)
        if isinstance(node, Call):
            return self.call(node.func, self.run(node.args[0]))
        return self.index(node)

    def call(self, func: str, v: _V) -> _V:
        k = self.value_dims(v)
        axes = tuple(range(v.t.dim() - k, v.t.dim()))
        if func == "sum":
            return v.map(lambda x: x.sum(dim=axes) if axes else x)
        if func == "norm":
            n = torch.sqrt((v.t * v.t).sum(dim=axes) if axes else v.t * v.t)
            inv = 1.0 / n
            dot = (v.t * v.d).sum(dim=axes) if axes else v.t * v.d
            mag = (v.t.abs() * v.m).sum(dim=axes) if axes else v.t.abs() * v.m
            return _V(n, dot * inv, mag * inv.abs(), v.letters)
        if func == "trace":
            return v.map(lambda x: torch.diagonal(x, dim1=-2, dim2=-1).sum(-1))
        f, df = _FUNCS[func]
        ft = f(v.t)
        g = df(v.t, ft)
        return _V(ft, g * v.d, g.abs() * v.m, v.letters)

    def index(self, node: Index) -> _V:
        v = self.run(node.base)
        letters = list(v.letters)
        ts = [v.t, v.d, v.m]
        dim = len(letters)
        for item in node.items:
            if isinstance(item, Number):
                ts = [x.select(dim, int(item.value)) for x in ts]
            elif isinstance(item, Slice):
                lo = item.lower or 0
                hi = ts[0].shape[dim] if item.upper is None else item.upper
                ts = [x.narrow(dim, lo, hi - lo) for x in ts]
                dim += 1
            elif item.id in letters:  # a letter used twice: the diagonal
                pos = letters.index(item.id)
                ts = [torch.diagonal(x, dim1=pos, dim2=dim).movedim(-1, pos) for x in ts]
            else:
                ts = [x.movedim(dim, len(letters)) for x in ts]
                letters.append(item.id)
                dim += 1
        order = sorted(range(len(letters)), key=lambda i: letters[i])
        perm = order + list(range(len(letters), ts[0].dim()))
        ts = [x.permute(perm) for x in ts]
        return _V(ts[0], ts[1], ts[2], tuple(letters[i] for i in order))


def evaluate(program: Program, leaves) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Q, dQ along the tangents, size of dQ's terms), each flat with one entry per label.

    ``leaves`` maps every name the quantity uses to (value, tangent), both float64 tensors in
    PyTorch's layout.
    """
    v = _Eval(leaves).run(program.quantity.ast)
    v = _align(v, program.letters, v.t.dim() - len(v.letters))
    return v.t.reshape(-1), v.d.reshape(-1), v.m.reshape(-1)
