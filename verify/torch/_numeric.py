"""The numeric route: property-test a quantity on any module in float64 with torch.func.

One draw (Hypothesis) = parameters, data, the loss gradient at the outputs (drawn directly when the
loss is left arbitrary: every gradient vector is the gradient of some loss), and the step size /
weight decay / friction / velocities the dynamics needs. The residual of each entry of Q:

* flow: dQ/dt = <grad Q, -(grad L + lambda theta)>, one forward-mode pass through Q (``_qeval``);
* momentum: dQ/dt = <d_theta Q, p> + <d_p Q, -gamma p - grad L - lambda theta> (velocities ``<name>_dot``);
* gd: Q(theta - eta (grad L + lambda theta)) - Q(theta).

It is compared with the size of its terms (``_qeval``: the same sums with absolute values): a
conserved quantity leaves round-off, ~1e-16 of that size. The largest relative residual over all draws
is reported; a draw above ``NUMERIC_TOL`` is shrunk by Hypothesis and returned as the witness.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from typing import TypedDict

import hypothesis
import torch
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.errors import NoSuchExample

from ._bridge import BadInput
from ._qeval import Program, evaluate
from .verdicts import NumericallyConserved, NumericViolation, NumericWitness

__all__ = ["NUMERIC_TOL", "SMALL", "Setup", "Draw", "setup", "draws", "residual", "numeric_check", "LOSSES"]

#: Largest relative residual called round-off. Conserved quantities measured <= 1e-13 (the examples,
#: twins and benchmarks); violations measured >= 1e-4. 1e-8 sits between with margin both ways.
NUMERIC_TOL = 1e-8
#: Modules with at most this many parameter entries get every entry drawn by Hypothesis (shrinkable,
#: printable witnesses); larger ones draw a seed and a scale per draw.
SMALL = 256
LOSSES = ("square", "logistic", "exponential", "cross_entropy")


@dataclass(frozen=True)
class Setup:
    module: torch.nn.Module  # a float64 copy
    names: tuple[str, ...]
    shapes: dict
    scales: dict  # name -> std of the user's own tensor (the scale large draws use)
    batch: int
    in_shape: tuple[int, ...]
    out_dim: int
    dynamics: str
    decay: bool | float | None  # None, True (drawn), or a number
    loss: str | None

    @property
    def size(self) -> int:
        return sum(math.prod(s) for s in self.shapes.values())


def setup(module, example_input, *, dynamics: str, weight_decay, loss) -> Setup:
    m = copy.deepcopy(module).double()
    x = example_input.detach().double()
    with torch.no_grad():
        out = m(x).reshape(x.shape[0], -1)
    named = dict(m.named_parameters())
    scales = {n: (float(p.detach().std()) if p.numel() > 1 and float(p.detach().std()) > 0 else 1.0)
              for n, p in named.items()}
    return Setup(m, tuple(named), {n: tuple(p.shape) for n, p in named.items()}, scales, x.shape[0],
                 tuple(x.shape[1:]), out.shape[1], dynamics, weight_decay, loss)


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


class Draw(TypedDict, total=False):
    """One draw of ``draws``; which keys it has depends on the dynamics and the loss."""

    desc: str  # how to regenerate a large draw ("" when every entry was drawn)
    params: dict[str, torch.Tensor]
    X: torch.Tensor
    V: dict[str, torch.Tensor]  # momentum: the velocities
    gamma: float  # momentum: the friction
    eta: float  # gd: the step
    lam: float  # the weight decay (0.0 without)
    C: torch.Tensor  # no loss given: the output gradient dL/dy
    T: torch.Tensor  # a loss given: the targets


#: Drawn entries below this magnitude become exactly 0: zeros (kinks, dead units) stay in the search
#: space, while products of a few entries stay far from the subnormal range, where a "residual" of
#: 5e-324 against terms of 5e-324 is underflow, not a violation (seen before this flush).
MIN_MAGNITUDE = 1e-3


def _tensor_entries(shape, bound):
    n = math.prod(shape)
    elem = _floats(-bound, bound).map(lambda v: 0.0 if abs(v) < MIN_MAGNITUDE else v)
    return st.lists(elem, min_size=n, max_size=n).map(
        lambda xs: torch.tensor(xs, dtype=torch.float64).reshape(shape))


@st.composite
def draws(draw, s: Setup) -> Draw:
    """One draw: dict with params, velocities, X, the output gradient C or targets T, eta, lam, gamma."""
    small = s.size <= SMALL and s.batch * math.prod(s.in_shape) <= 4 * SMALL
    out: Draw = {"desc": ""}
    if small:
        out["params"] = {n: draw(_tensor_entries(sh, 2.0)) for n, sh in s.shapes.items()}
        out["X"] = draw(_tensor_entries((s.batch,) + s.in_shape, 2.0))
        rnd = None
    else:
        seed = draw(st.integers(0, 2**31 - 1))
        pscale = draw(st.sampled_from((0.5, 1.0, 2.0)))
        out["desc"] = f"torch.Generator seed {seed}: normal entries times {pscale} x the std of each tensor"
        rnd = torch.Generator().manual_seed(seed)
        out["params"] = {n: torch.randn(sh, generator=rnd, dtype=torch.float64) * (pscale * s.scales[n])
                         for n, sh in s.shapes.items()}
        out["X"] = torch.randn((s.batch,) + s.in_shape, generator=rnd, dtype=torch.float64)
    if s.dynamics == "momentum":
        out["V"] = ({n: draw(_tensor_entries(sh, 2.0)) for n, sh in s.shapes.items()} if rnd is None else
                    {n: torch.randn(sh, generator=rnd, dtype=torch.float64) * s.scales[n] for n, sh in s.shapes.items()})
        out["gamma"] = draw(_floats(0.0, 2.0))
    if s.dynamics == "gd":
        out["eta"] = draw(_floats(1e-3, 1.0))
    out["lam"] = draw(_floats(1e-3, 1.0)) if s.decay is True else float(s.decay or 0.0)
    shape = (s.batch, s.out_dim)
    if s.loss is None:
        out["C"] = draw(_tensor_entries(shape, 2.0)) if rnd is None else torch.randn(shape, generator=rnd,
                                                                                     dtype=torch.float64)
    elif s.loss == "square":
        out["T"] = draw(_tensor_entries(shape, 2.0)) if rnd is None else torch.randn(shape, generator=rnd,
                                                                                     dtype=torch.float64)
    elif s.loss in ("logistic", "exponential"):
        out["T"] = torch.tensor(draw(st.lists(st.sampled_from((-1.0, 1.0)), min_size=s.batch, max_size=s.batch)),
                                dtype=torch.float64).reshape(s.batch, 1)
    else:
        out["T"] = torch.tensor(draw(st.lists(st.integers(0, s.out_dim - 1), min_size=s.batch, max_size=s.batch)))
    return out


def _loss(name: str, Y, T):
    if name == "square":
        return 0.5 * ((Y - T) ** 2).sum()
    if name == "logistic":
        return torch.nn.functional.softplus(-T * Y).sum()
    if name == "exponential":
        return torch.exp(-T * Y).sum()
    return torch.nn.functional.cross_entropy(Y, T.reshape(-1).long(), reduction="sum")


def gradient(s: Setup, P: dict, d: Draw) -> dict:
    """grad_theta L at the draw (autograd through torch.func.functional_call on the float64 copy)."""
    leaves = {n: p.detach().requires_grad_(True) for n, p in P.items()}
    Y = torch.func.functional_call(s.module, leaves, (d["X"],)).reshape(s.batch, -1)
    if s.loss is None:
        grads = torch.autograd.grad(Y, list(leaves.values()), grad_outputs=d["C"], allow_unused=True)
    else:
        grads = torch.autograd.grad(_loss(s.loss, Y, d["T"]), list(leaves.values()), allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(P[n])) for n, g in zip(leaves, grads)}


def residual(s: Setup, program: Program, d: Draw):
    """(residual, size of its terms) per entry of Q at the draw ``d``."""
    P = d["params"]
    g = gradient(s, P, d)
    if d["lam"]:
        g = {n: g[n] + d["lam"] * P[n] for n in g}
    if s.dynamics == "flow":
        _, dq, m = evaluate(program, {n: (P[n], -g[n]) for n in P})
        return dq, m
    if s.dynamics == "momentum":
        V = d["V"]
        leaves = {n: (P[n], V[n]) for n in P}
        leaves.update({f"{n}_dot": (V[n], -d["gamma"] * V[n] - g[n]) for n in P})
        _, dq, m = evaluate(program, leaves)
        return dq, m
    P1 = {n: P[n] - d["eta"] * g[n] for n in P}
    q0, _, m0 = evaluate(program, {n: (P[n], P[n]) for n in P})
    q1, _, m1 = evaluate(program, {n: (P1[n], P1[n]) for n in P})
    return q1 - q0, m0 + m1 + q0.abs() + q1.abs()


def relative(res: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """|res| / scale, with 0/0 = 0 (an entry with no terms at this draw) and x/0 = inf."""
    r = res.abs() / scale
    r = torch.where(scale > 0, r, torch.where(res == 0, torch.zeros_like(r), torch.full_like(r, math.inf)))
    return torch.nan_to_num(r, nan=math.inf, posinf=math.inf)


def _nested(t: torch.Tensor):
    return t.tolist()


@dataclass
class _Seen:
    """What the draws of one ``numeric_check`` saw (mutated by Hypothesis's predicate)."""

    n: int = 0  # draws with a finite residual
    max: float = 0.0  # largest relative residual over them
    first: int | None = None  # 1-based index (among the n) of the first violating draw
    skipped: int = 0  # draws where the module's output or gradient was not finite


def numeric_check(s: Setup, program: Program, *, n_draws: int, seed: int, title: str, statement: str,
                  notes=()) -> NumericallyConserved | NumericViolation:
    t0 = time.perf_counter()
    seen = _Seen()

    def violated(d: Draw) -> bool:
        res, scale = residual(s, program, d)
        if not (bool(torch.isfinite(res).all()) and bool(torch.isfinite(scale).all())):
            # The module is undefined at this draw (a norm of 0: NaN); not evidence either way.
            seen.skipped += 1
            return False
        r = float(relative(res, scale).max())
        seen.n += 1
        seen.max = max(seen.max, r)
        if r > NUMERIC_TOL and seen.first is None:
            seen.first = seen.n
        return r > NUMERIC_TOL

    cfg = settings(max_examples=n_draws, database=None, deadline=None, derandomize=False,
                   suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink])
    notes = tuple(notes)
    try:
        d = hypothesis.find(draws(s), violated, settings=cfg, random=random.Random(seed))
    except NoSuchExample:
        if seen.skipped:
            notes += (f"{seen.skipped} draw(s) skipped: the module's output or gradient was not "
                      "finite there (e.g. a norm of 0)",)
        if seen.n == 0:
            raise BadInput("every numeric draw gave a non-finite output or gradient; the module is undefined "
                           "on the drawn points (check its normalisations).") from None
        return NumericallyConserved(claim_id="check", title=title, dynamics=s.dynamics, statement=statement,
                                    tolerance=NUMERIC_TOL, notes=notes, seconds=time.perf_counter() - t0,
                                    draws=seen.n, max_relative_residual=seen.max)
    # find() returned a draw, so the predicate said True at least once and recorded it
    assert seen.first is not None
    res, scale = residual(s, program, d)
    rel = relative(res, scale)
    k = int(torch.argmax(rel))
    big = s.size > 10_000
    params = ({n: f"{s.shapes[n]} tensor (regenerate it from the draw line)" for n in s.shapes} if big else
              {n: _nested(p) for n, p in d["params"].items()})
    if "V" in d and not big:
        params.update({f"{n}_dot": _nested(v) for n, v in d["V"].items()})
    extra: dict[str, float] = {}
    if "eta" in d:
        extra["eta"] = d["eta"]
    if "gamma" in d:
        extra["gamma"] = d["gamma"]
    if d["lam"]:
        extra["lambda"] = d["lam"]
    loss = (f"arbitrary loss with output gradient dL/dy = {_nested(d['C']) if not big else 'drawn'}"
            if s.loss is None else f"{s.loss} loss with targets {_nested(d['T'])}")
    witness = NumericWitness(params=params, data=_nested(d["X"]) if not big else [], loss=loss
                             + (f"; {extra}" if extra else ""), entry=f"entry {program.labels[k] or '(scalar)'}",
                             residual=float(res[k]), scale=float(scale[k]), relative=float(rel[k]), draw=d["desc"])
    return NumericViolation(claim_id="check", title=title, dynamics=s.dynamics, statement=statement,
                            tolerance=NUMERIC_TOL, notes=notes, seconds=time.perf_counter() - t0, draws=seen.first,
                            max_relative_residual=seen.max, witness=witness)
