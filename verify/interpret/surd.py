"""Square roots in the prime field: the ring GF(p)[t_1..t_m] / (t_i**2 - beta_i).

A normalisation divides by t = sqrt(B). The symbolic engine keeps t as a symbol with the relation
t**2 = B and reduces every power of t to degree <= 1 before its zero test
(``verify.interpret.auxiliary.reduce_residual``): it decides whether the residual is 0 in the ring
Q(x)[t_1..t_m] / (t_i**2 - B_i). This module is that ring at a point: beta_i = B_i(x) in GF(p), an
element is sum_S c_S t^S over subsets S of the generators (at most degree 1 in each t_i), and
t_i * t_i = beta_i. An element is 0 exactly when every c_S is 0, i.e. when every coefficient of
the symbolic engine's reduced form vanishes at x (nothing is lost when beta_i is not a square mod p,
and both signs of t_i are kept when it is). Inverses use conjugates (t_i -> -t_i), one generator at
a time; an element whose norm is 0 at the point has none (the point is redrawn).

Only B_i that are plain field elements are supported (no normalisation of values that already
hold an earlier square root): ``NestedRoot`` is raised otherwise.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SurdContext", "Surd"]


class SurdContext:
    """The generators of one evaluation: beta_i mod p, and constants' roots shared across points."""

    def __init__(self, p: int):
        self.p = p
        self.betas: list[int] = []
        self._const: dict[int, Surd] = {}
        self._prod: dict[int, int] = {0: 1}

    def new(self, beta: int, constant: bool = False) -> "Surd":
        if constant and beta in self._const:
            return self._const[beta]  # sqrt(n) of a layer norm: one generator for every point (as SymPy's sqrt(n))
        self.betas.append(beta % self.p)
        root = Surd({1 << (len(self.betas) - 1): 1}, self)
        if constant:
            self._const[beta] = root
        return root

    def beta_product(self, mask: int) -> int:
        """prod_{i in mask} beta_i mod p."""
        got = self._prod.get(mask)
        if got is None:
            low = mask & -mask
            got = self.beta_product(mask ^ low) * self.betas[low.bit_length() - 1] % self.p
            self._prod[mask] = got
        return got


class Surd:
    """sum_S c_S t^S (dict mask -> coefficient mod p, no zero entries)."""

    __slots__ = ("c", "ctx")

    def __init__(self, c: dict[int, int], ctx: SurdContext):
        self.c, self.ctx = c, ctx

    def _lift(self, o: Any) -> "Surd | None":
        if isinstance(o, Surd):
            return o
        if isinstance(o, int):
            v = o % self.ctx.p
            return Surd({0: v} if v else {}, self.ctx)
        return None

    def __add__(self, o: Any) -> "Surd":
        q = self._lift(o)
        if q is None:
            return NotImplemented
        p, out = self.ctx.p, dict(self.c)
        for m, v in q.c.items():
            s = (out.get(m, 0) + v) % p
            if s:
                out[m] = s
            else:
                out.pop(m, None)
        return Surd(out, self.ctx)

    __radd__ = __add__

    def __neg__(self) -> "Surd":
        p = self.ctx.p
        return Surd({m: (-v) % p for m, v in self.c.items()}, self.ctx)

    def __sub__(self, o: Any) -> "Surd":
        q = self._lift(o)
        return NotImplemented if q is None else self + (-q)

    def __rsub__(self, o: Any) -> "Surd":
        q = self._lift(o)
        return NotImplemented if q is None else q + (-self)

    def __mul__(self, o: Any) -> "Surd":
        q = self._lift(o)
        if q is None:
            return NotImplemented
        p, ctx = self.ctx.p, self.ctx
        out: dict[int, int] = {}
        for s, a in self.c.items():
            for t, b in q.c.items():
                m = s ^ t
                v = a * b % p
                if s & t:
                    v = v * ctx.beta_product(s & t) % p
                out[m] = (out.get(m, 0) + v) % p
        return Surd({m: v for m, v in out.items() if v}, ctx)

    __rmul__ = __mul__

    def __pow__(self, k: int) -> "Surd":
        out, base = Surd({0: 1}, self.ctx), self
        while k:
            if k & 1:
                out = out * base
            k >>= 1
            if k:
                base = base * base
        return out

    def __mod__(self, p: int) -> "Surd":
        return self  # always reduced

    def __bool__(self) -> bool:
        return bool(self.c)

    def __eq__(self, o: object) -> bool:
        q = self._lift(o)
        return q is not None and q.c == self.c

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.c.items())))

    def scalar(self) -> int | None:
        """The element as a field element, if it has no generator."""
        return self.c.get(0, 0) if set(self.c) <= {0} else None

    def conjugate(self, i: int) -> "Surd":
        bit, p = 1 << i, self.ctx.p
        return Surd({m: (-v) % p if m & bit else v for m, v in self.c.items()}, self.ctx)

    def inverse(self) -> "Surd":
        """1/self by conjugates; ``ZeroDivisionError`` when self is not a unit at this point."""
        num, y = Surd({0: 1}, self.ctx), self
        for i in range(len(self.ctx.betas)):
            if any(m >> i & 1 for m in y.c):
                c = y.conjugate(i)
                num, y = num * c, y * c  # y * conj_i(y) is free of t_i
        norm = y.scalar()
        if not norm:
            raise ZeroDivisionError("not a unit")
        return num * pow(norm, -1, self.ctx.p)

    def __repr__(self) -> str:
        return " + ".join(f"{v}*t{m:b}" for m, v in sorted(self.c.items())) or "0"
