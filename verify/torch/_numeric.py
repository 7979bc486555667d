"""The numeric route: property-test a quantity on any module in float64 with torch.func.

One draw (Hypothesis) = parameters, data, the loss gradient at the outputs (drawn directly when the
loss is left arbitrary: every gradient vector is the gradient of some loss), and the step size /
weight decay / friction / velocities the dynamics needs. The residual of each entry of Q:

* flow: dQ/dt = <grad Q, -(grad L + lambda theta)>, one forward-mode pass through Q (``_qeval``);
* momentum: dQ/dt = <d_theta Q, p> + <d_p Q, -gamma p - grad L - lambda theta> (velocities ``<name>_dot``);
* gd: Q(theta - eta (grad L + lambda theta)) - Q(theta).

The rule (``judge``): an entry is violated iff |residual| > RTOL * m + atol, with m the size of its
terms (``_qeval``: the same sums with absolute values) and atol the round-off the computed gradient
itself carries (``_roundoff``: measured only for a draw that fails RTOL alone). The relative residual
reported is |residual| / (m + atol / RTOL), so "relative > RTOL" is the same rule. A draw that is
violated is shrunk by Hypothesis and returned as the witness.
"""

from __future__ import annotations

from typing import Any

import copy
import math
import random
import time
from dataclasses import dataclass

import hypothesis
import numpy as np
import torch
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.errors import NoSuchExample

from ._bridge import BadInput
from ._qeval import Program, evaluate
from ._roundoff import KAPPA, gradient_spread
from .verdicts import NumericallyConserved, NumericViolation, NumericWitness

__all__ = ["NUMERIC_TOL", "RTOL", "SMALL", "Setup", "Draw", "setup", "draws", "residual", "roundoff", "judge", "Judged",
           "numeric_check", "LOSSES"]

#: One numeric draw: params, velocities, X, the output gradient C or targets T, eta, lam, gamma, desc.
Draw = dict[str, Any]

#: rtol: the round-off of evaluating <grad Q, theta'> for a *given* theta'. Every entry of dQ/dt is a
#: sum of n products computed in float64 (the quantity's own derivative, then the dot product), so its
#: error is <= gamma_n * m, gamma_n = n u / (1 - n u), u = 2^-53 (Higham, Thm 3.1; m = the sum of the
#: |products|). n <= 1e7 entries gives gamma_n <= 1.2e-9 < 1e-8. Conserved quantities measured <= 1e-13
#: (examples, twins, benchmarks) and violations >= 1e-4, so 1e-8 has margin both ways. The round-off
#: *inside* theta' (the module's gradient) is not relative to theta': it is the separate atol.
NUMERIC_TOL = 1e-8
RTOL = NUMERIC_TOL
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


#: Drawn entries below this magnitude become exactly 0: zeros (kinks, dead units) stay in the search
#: space, while products of a few entries stay far from the subnormal range, where a "residual" of
#: 5e-324 against terms of 5e-324 is underflow, not a violation (seen before this flush).
MIN_MAGNITUDE = 1e-3


def _tensor_entries(shape, bound):
    n = math.prod(shape)
    elem = _floats(-bound, bound).map(lambda v: 0.0 if abs(v) < MIN_MAGNITUDE else v)
    return st.lists(elem, min_size=n, max_size=n).map(
        lambda xs: torch.tensor(xs, dtype=torch.float64).reshape(shape))


def _uniform(rnd: np.random.Generator, shape, std: float) -> torch.Tensor:
    """float64 entries uniform on [-sqrt(3) std, sqrt(3) std] (standard deviation ``std``)."""
    b = math.sqrt(3.0) * std
    a = rnd.random(math.prod(shape))
    a *= 2.0 * b
    a -= b
    return torch.from_numpy(a).reshape(shape)


@st.composite
def draws(draw, s: Setup):
    """One draw: dict with params, velocities, X, the output gradient C or targets T, eta, lam, gamma."""
    small = s.size <= SMALL and s.batch * math.prod(s.in_shape) <= 4 * SMALL
    out: Draw = {"desc": ""}
    if small:
        out["params"] = {n: draw(_tensor_entries(sh, 2.0)) for n, sh in s.shapes.items()}
        out["X"] = draw(_tensor_entries((s.batch,) + s.in_shape, 2.0))
        rnd = None
    else:
        # Large modules: Hypothesis draws a seed and a scale, NumPy fills the tensors (Hypothesis drawing
        # 1M floats one by one took longer than the check itself). Uniform entries with the tensor's std:
        # any distribution with full support on a box serves a property test, and uniform is the cheapest
        # to generate (SFC64: ~2 ns an entry, 40% less than NumPy's default PCG64, measured).
        seed = draw(st.integers(0, 2**31 - 1))
        pscale = draw(st.sampled_from((0.5, 1.0, 2.0)))
        out["desc"] = (f"numpy.random.Generator(numpy.random.SFC64({seed})).random, in order params, x, "
                       f"velocities, dL/dy or targets: uniform entries of std {pscale} x the std of each "
                       "parameter tensor, 1 otherwise")
        rnd = np.random.Generator(np.random.SFC64(seed))
        out["params"] = {n: _uniform(rnd, sh, pscale * s.scales[n]) for n, sh in s.shapes.items()}
        out["X"] = _uniform(rnd, (s.batch,) + s.in_shape, 1.0)
    if s.dynamics == "momentum":
        out["V"] = ({n: draw(_tensor_entries(sh, 2.0)) for n, sh in s.shapes.items()} if rnd is None else
                    {n: _uniform(rnd, sh, s.scales[n]) for n, sh in s.shapes.items()})
        out["gamma"] = draw(_floats(0.0, 2.0))
    if s.dynamics == "gd":
        out["eta"] = draw(_floats(1e-3, 1.0))
    out["lam"] = draw(_floats(1e-3, 1.0)) if s.decay is True else float(s.decay or 0.0)
    shape = (s.batch, s.out_dim)
    if s.loss is None:
        out["C"] = draw(_tensor_entries(shape, 2.0)) if rnd is None else _uniform(rnd, shape, 1.0)
    elif s.loss == "square":
        out["T"] = draw(_tensor_entries(shape, 2.0)) if rnd is None else _uniform(rnd, shape, 1.0)
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


def used_names(s: Setup, program: Program) -> tuple[str, ...]:
    """The parameters the quantity reads (``W_dot`` counts as W): the only gradient entries dQ/dt needs."""
    out = []
    for name in getattr(program.quantity, "names"):  # Program.quantity: verify.lang.quantity.Quantity
        base = name[:-4] if name.endswith("_dot") and name[:-4] in s.shapes else name
        if base not in out:
            out.append(base)
    return tuple(n for n in s.names if n in out)


def gradient(s: Setup, P: dict, d: dict, names: tuple[str, ...] | None = None) -> dict:
    """grad_theta L at the draw for the parameters ``names`` (default all): autograd through
    torch.func.functional_call on the float64 copy; the other parameters enter as constants."""
    names = s.names if names is None else names
    if not names:
        return {}
    leaves = {n: (p.detach().requires_grad_(True) if n in names else p) for n, p in P.items()}
    wrt = [leaves[n] for n in names]
    Y = torch.func.functional_call(s.module, leaves, (d["X"],)).reshape(s.batch, -1)
    if s.loss is None:
        grads = torch.autograd.grad(Y, wrt, grad_outputs=d["C"], allow_unused=True)
    else:
        grads = torch.autograd.grad(_loss(s.loss, Y, d["T"]), wrt, allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(P[n])) for n, g in zip(names, grads)}


def _step(s: Setup, P: dict, d: dict, g: dict) -> dict:
    """What the dynamics subtracts: grad L + lambda theta (for the entries of ``g``)."""
    return {n: g[n] + d["lam"] * P[n] for n in g} if d["lam"] else g


def residual(s: Setup, program: Program, d: dict, g: dict | None = None):
    """(residual, size of its terms) per entry of Q at the draw ``d`` (``g``: grad L there, if known)."""
    P = d["params"]
    g = _step(s, P, d, gradient(s, P, d, used_names(s, program)) if g is None else g)
    if s.dynamics == "flow":  # dQ/dt = -<grad Q, g>: evaluated along +g, negated (no pass over -g)
        _, dq, m = evaluate(program, {n: (P[n], g[n]) for n in g})
        return -dq, m
    if s.dynamics == "momentum":
        V = d["V"]
        leaves = {n: (P[n], V[n]) for n in g}
        leaves.update({f"{n}_dot": (V[n], -d["gamma"] * V[n] - g[n]) for n in g})
        _, dq, m = evaluate(program, leaves)
        return dq, m
    P1 = {n: P[n] - d["eta"] * g[n] for n in g}
    q0, _, m0 = evaluate(program, {n: (P[n], P[n]) for n in g})
    q1, _, m1 = evaluate(program, {n: (P1[n], P1[n]) for n in g})
    return q1 - q0, m0 + m1 + q0.abs() + q1.abs()


#: A residual this many times above one Monte Carlo run's allowance is a violation without the other
#: runs: the largest of RUNS runs exceeds the first by this factor with probability ~1e-6 (Gaussian
#: spreads). Speed only: it spares the shrinker RUNS - 1 gradients per clear violation.
CLEAR = 1e6


def roundoff(s: Setup, program: Program, d: dict, g: dict, res: torch.Tensor | None = None,
             scale: torch.Tensor | None = None) -> torch.Tensor:
    """atol per entry of Q: KAPPA * sum_k |dQ/dtheta_k| e_k, e the measured round-off of grad L
    (``_roundoff``). The m-recursion of ``_qeval`` with tangent e is >= that sum (triangle inequality).
    Where theta' enters: the flow's tangent, the momentum's velocity derivative, the GD step eta * g.
    With ``res`` and ``scale`` given, one run decides an entry set that is violated by a factor CLEAR."""
    P = d["params"]

    def atol(e):
        if s.dynamics == "flow":
            m = evaluate(program, {n: (P[n], e[n]) for n in g})[2]
        elif s.dynamics == "momentum":
            leaves = {n: (P[n], torch.zeros_like(P[n])) for n in g}
            leaves.update({f"{n}_dot": (d["V"][n], e[n]) for n in g})
            m = evaluate(program, leaves)[2]
        else:
            gl = _step(s, P, d, g)
            m = evaluate(program, {n: (P[n] - d["eta"] * gl[n], d["eta"] * e[n]) for n in g})[2]
        return KAPPA * m

    def decided(e) -> bool:
        if res is None or scale is None:
            return False
        return bool((res.abs() > RTOL * scale + CLEAR * atol(e)).any())

    return atol(gradient_spread(lambda: gradient(s, P, d, tuple(g)), g, decided=decided))


@dataclass(frozen=True)
class Judged:
    """One draw: residual, size of its terms, round-off allowance (0 when not needed), relative."""
    residual: torch.Tensor
    scale: torch.Tensor
    atol: torch.Tensor
    relative: torch.Tensor
    finite: bool

    @property
    def violated(self) -> bool:
        return self.finite and float(self.relative.max()) > RTOL

    @property
    def used_atol(self) -> bool:
        return bool((self.atol > 0).any())


def judge(s: Setup, program: Program, d: dict) -> Judged:
    """The rule: entry violated iff |residual| > RTOL * m + atol, i.e. relative = |residual| / (m +
    atol / RTOL) > RTOL. atol (a Monte Carlo measurement, RUNS gradient recomputations) is computed
    only for a draw that fails RTOL alone; below RTOL * m it could only lower the relative residual."""
    g = gradient(s, d["params"], d, used_names(s, program))
    res, scale = residual(s, program, d, g)
    zero = torch.zeros_like(scale)
    finite = bool(torch.isfinite(res).all()) and bool(torch.isfinite(scale).all())
    if not finite:
        return Judged(res, scale, zero, relative(res, scale), False)
    rel = relative(res, scale)
    if float(rel.max()) <= RTOL:
        return Judged(res, scale, zero, rel, True)
    atol = roundoff(s, program, d, g, res, scale)
    return Judged(res, scale, atol, relative(res, scale + atol / RTOL), True)


def relative(res: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """|res| / scale, with 0/0 = 0 (an entry with no terms at this draw) and x/0 = inf."""
    r = res.abs() / scale
    r = torch.where(scale > 0, r, torch.where(res == 0, torch.zeros_like(r), torch.full_like(r, math.inf)))
    return torch.nan_to_num(r, nan=math.inf, posinf=math.inf)


def _nested(t: torch.Tensor):
    return t.tolist()


def numeric_check(s: Setup, program: Program, *, n_draws: int, seed: int, title: str, statement: str,
                  notes=()) -> NumericallyConserved | NumericViolation:
    t0 = time.perf_counter()
    seen: dict[str, Any] = {"n": 0, "max": 0.0}

    def violated(d) -> bool:
        j = judge(s, program, d)
        if not j.finite:
            # The module is undefined at this draw (a norm of 0: NaN); not evidence either way.
            seen["skipped"] = seen.get("skipped", 0) + 1
            return False
        r = float(j.relative.max())
        seen["n"] += 1
        seen["max"] = max(seen["max"], r)
        if j.used_atol and not j.violated:
            seen["roundoff"] = seen.get("roundoff", 0) + 1
        if j.violated and "first" not in seen:
            seen["first"] = seen["n"]
        return j.violated

    cfg = settings(max_examples=n_draws, database=None, deadline=None, derandomize=False,
                   suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink])
    common: dict[str, Any] = dict(claim_id="check", title=title, dynamics=s.dynamics, statement=statement,
                  tolerance=NUMERIC_TOL, notes=tuple(notes))
    try:
        d = hypothesis.find(draws(s), violated, settings=cfg, random=random.Random(seed))
    except NoSuchExample:
        more: list[str] = []
        if seen.get("skipped"):
            more.append(f"{seen['skipped']} draw(s) skipped: the module's output or gradient was not "
                        "finite there (e.g. a norm of 0)")
        if seen.get("roundoff"):
            more.append(f"{seen['roundoff']} draw(s) had a residual above {RTOL:.0e} of the size of its terms "
                        "but within the round-off of the computed gradient itself (atol, measured by "
                        "Monte Carlo arithmetic; verify.torch._roundoff)")
        common["notes"] = tuple(notes) + tuple(more)
        if seen["n"] == 0:
            raise BadInput("every numeric draw gave a non-finite output or gradient; the module is undefined "
                           "on the drawn points (check its normalisations).") from None
        return NumericallyConserved(**common, seconds=time.perf_counter() - t0, draws=seen["n"],
                                    max_relative_residual=seen["max"])
    j = judge(s, program, d)
    res, scale, rel = j.residual, j.scale, j.relative
    k = int(torch.argmax(rel))
    big = s.size > 10_000
    params = ({n: f"{s.shapes[n]} tensor (regenerate it from the draw line)" for n in s.shapes} if big else
              {n: _nested(p) for n, p in d["params"].items()})
    for key in ("V",):
        if key in d and not big:
            params.update({f"{n}_dot": _nested(v) for n, v in d[key].items()})
    extra = {k2: d[k2] for k2 in ("eta", "gamma") if k2 in d}
    if d["lam"]:
        extra["lambda"] = d["lam"]
    loss = (f"arbitrary loss with output gradient dL/dy = {_nested(d['C']) if not big else 'drawn'}"
            if s.loss is None else f"{s.loss} loss with targets {_nested(d['T'])}")
    witness = NumericWitness(params=params, data=_nested(d["X"]) if not big else [], loss=loss
                             + (f"; {extra}" if extra else ""), entry=f"entry {program.labels[k] or '(scalar)'}",
                             residual=float(res[k]), scale=float(scale[k]), relative=float(rel[k]), draw=d["desc"],
                             atol=float(j.atol[k]))
    return NumericViolation(**common, seconds=time.perf_counter() - t0, draws=seen["first"],
                            max_relative_residual=seen["max"], witness=witness)
