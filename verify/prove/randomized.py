"""Randomized exact identity testing (Schwartz-Zippel): conservation checks at the sizes people train.

The residual (dQ/dt, or the change of Q in one GD step minus the claimed increment) is never
expanded. The network's forward and backward pass are evaluated directly in the prime field GF(p)
(``verify.interpret.modular``) at a point drawn uniformly from GF(p)^m, where the m free variables
are the parameters, the data, the region symbols s (so one evaluation covers every activation
pattern), the softmax auxiliaries e, the loss derivatives dl (undefined loss) and eta, lambda,
gamma, velocities where the dynamics have them: the same free symbols as the symbolic engine.

Error bound (derived in code, printed with the verdict):

* the same hooks, run in degree arithmetic (``verify.interpret.exact_arith.Deg``), bound every
  residual entry as N/D with deg N <= n, deg D <= d and ||N||_1 <= 2**h (integer coefficients);
* each point has its own prime p, drawn uniformly from the primes in [2**60, 2**61): a non-zero N
  vanishes mod p only if p divides one of its non-zero coefficients (fewer than h/60 + 1 such
  primes), probability <= ceil(h/60)/#primes, #primes >= 2**61/ln 2**61 - 1.25506*2**60/ln 2**60
  (Rosser-Schoenfeld);
* a point where some denominator is 0 is redrawn, so a point of GF(p)^m misses a non-zero residual
  with probability <= n/(p - d) <= n/(2**60 - d) (Schwartz-Zippel, conditioned on D != 0); with r
  square roots (``verify.interpret.surd``) a denominator must be a unit of the ring, i.e. its norm,
  of degree <= 2**r d, non-zero: d is replaced by 2**r d;
* one point: eps1 = ceil(h/60)/#primes + n/(2**60 - 2**r d); k independent points: eps1**k.

A non-zero value is not a refutation by itself (region symbols are free, not 0/1): a refutation is
made only with a real witness, the same hooks run in exact rationals at a rational point whose
regions come from the signs of the pre-activations (``RationalArith``). When none is found, the
verdict is ``Undecided`` and says why.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from verify.certificates import ProvenRandomized, Refuted, Step, Undecided, Verdict, Witness
from verify.interpret.degree import DegreeArith
from verify.interpret.exact_arith import FieldArith, PointRejected, RationalArith
from verify.interpret.modular import ExactNet, draw_params, exact_net
from verify.model import Model, walk
from verify.model.chosen_loss import formula
from verify.model.layers._base import NoExactForm
from verify.prove.exact_quantity import QMatrix, QScalar, as_qmatrix, entries
from verify.prove.witness import WITNESS_MAX_DEGREE

__all__ = ["prove_randomized", "Problem", "evaluate", "degree_bound", "DegreeBound", "random_prime",
           "prime_count_lower", "POINTS", "WITNESS_TRIES"]

#: Points per test: each multiplies the error bound by n/(2**60 - d) (~1e-17 for degree 10).
POINTS = 2
#: Rational points tried for a real witness once a field point gave a non-zero residual.
WITNESS_TRIES = 48
#: Consecutive points with a vanishing denominator before giving up (each has probability <= d/p).
MAX_REJECTED = 20
_LO, _HI = 1 << 60, 1 << 61


@dataclass(frozen=True)
class Problem:
    """What is checked: Q on ``model`` under ``dynamics`` (see ``verify.prove.concrete.prove_conserved``)."""

    model: Model
    build: Callable[[Mapping[str, Any]], Any]
    dynamics: str = "flow"
    increment: Callable | None = None
    weight_decay: Any = None
    n_data: int = 1


@dataclass(frozen=True)
class Evaluation:
    net: ExactNet
    residuals: tuple[tuple[str, Any], ...]
    extras: Mapping[str, Any]
    targets: tuple = ()


class _NetView:
    """The ``net`` argument of a claimed GD increment (``grad_matrix``, ``loss_derivatives``,
    ``inputs``, ``params``), with exact values instead of symbols."""

    def __init__(self, net: ExactNet, ar: Any):
        self._net, self._ar = net, ar
        self.params = {k: as_qmatrix(v, None, ar) for k, v in net.params.items()}
        self.loss_derivatives = tuple(tuple(QScalar(v, None, ar) for v in dl) for dl in net.loss_derivatives)
        self.inputs = tuple(as_qmatrix(x, None, ar) for x in net.inputs)

    def grad_matrix(self, name: str) -> QMatrix:
        return as_qmatrix(self._net.grads[name], None, self._ar)


def evaluate(problem: Problem, ar: Any, draw: Callable[[str, tuple[int, ...]], Any],
             loss_derivatives: Callable[[int, np.ndarray], np.ndarray], trace: bool = False) -> Evaluation:
    """The residual entries at one point: ``draw(kind, shape)`` gives parameters ("param"),
    inputs ("input") and the dynamics' scalars ("extra")."""
    model = problem.model
    params = draw_params(model, lambda shape: draw("param", shape))
    inputs = [np.asarray(draw("input", (model.input_dim,)), dtype=object) for _ in range(problem.n_data)]
    net = exact_net(model, ar, params, inputs, loss_derivatives, trace=trace)
    extras: dict[str, Any] = {}
    wd = problem.weight_decay
    if wd is True:
        extras["lambda"] = draw("extra", ())
    decay = extras.get("lambda", ar.const(Fraction(str(wd))) if wd else None)
    G = {k: g if decay is None else ar.mod(g + ar.mod(decay * params[k])) for k, g in net.grads.items()}
    if problem.dynamics == "flow":
        out = entries(problem.build({k: as_qmatrix(v, ar.mod(-G[k]), ar) for k, v in params.items()}), ar)
        residuals = [(f"dQ{lbl}/dt", q.t if q.t is not None else ar.const(0)) for lbl, q in out]
    elif problem.dynamics == "gd":
        eta = extras["eta"] = draw("extra", ())
        new = entries(problem.build({k: as_qmatrix(ar.mod(v - ar.mod(eta * G[k])), None, ar)
                                     for k, v in params.items()}), ar)
        old = {k: as_qmatrix(v, None, ar) for k, v in params.items()}
        before = entries(problem.build(old), ar)
        inc = problem.increment(old, _NetView(net, ar), QScalar(eta, None, ar)) if problem.increment else None
        claimed = entries(inc, ar) if inc is not None else [(lbl, QScalar(ar.const(0), None, ar)) for lbl, _ in before]
        residuals = [(f"DeltaQ{lbl} - claimed", ar.mod(a.v - b.v - c.v))
                     for (lbl, a), (_, b), (_, c) in zip(new, before, claimed)]
    else:
        gamma = extras["gamma"] = draw("extra", ())
        q: dict[str, QMatrix] = {}
        for k, v in params.items():
            vel = extras[f"{k}_dot"] = np.asarray(draw("param", v.shape), dtype=object).reshape(v.shape)
            q[k] = as_qmatrix(v, vel, ar)
            q[f"{k}_dot"] = as_qmatrix(vel, ar.mod(-ar.mod(gamma * vel) - G[k]), ar)
        out = entries(problem.build(q), ar)
        residuals = [(f"dQ{lbl}/dt", s.t if s.t is not None else ar.const(0)) for lbl, s in out]
    return Evaluation(net, tuple(residuals), extras)


@dataclass(frozen=True)
class DegreeBound:
    """deg N <= numerator, deg D <= denominator, ||N||_1 <= 2**height, and how they were derived."""

    numerator: int
    denominator: int
    height: float
    steps: tuple[Step, ...]
    roots: int = 0  # square roots t = sqrt(B) (generators of GF(p)[t..]/(t**2 - B), verify.interpret.surd)

    @property
    def unit_degree(self) -> int:
        """Degree bound of the norm of the denominator (2**roots conjugates): a point is redrawn
        when it vanishes."""
        return (1 << self.roots) * self.denominator


def degree_bound(problem: Problem) -> DegreeBound:
    """Run the layers' hooks and the quantity in degree arithmetic (every free variable degree 1)."""
    ar = DegreeArith()
    model = problem.model

    def dl(point, out):
        return ar.free(out.shape)
    with ar.scope():
        ev = evaluate(problem, ar, lambda kind, shape: ar.free(shape), dl, trace=True)
    vals = [v for _, v in ev.residuals if not v.is_zero]
    n = max((v.n for v in vals), default=0)
    d = max((v.den_degree for v in vals), default=0)
    h = max((v.h for v in vals), default=0.0)
    steps = [Step(f"{label}: {way} values of degree <= {bound}",
                  f"{'exact_forward' if way == 'forward' else 'exact_backward'} hook in degree arithmetic "
                  "(sum: max, product: sum, 1/x: a new denominator factor)")
             for label, way, bound in ev.net.trace]
    what = {"flow": "dQ/dt = sum_k dQ/dtheta_k * theta_k' (dual numbers, theta' = -dL/dtheta)",
            "gd": "Q(theta - eta*dL/dtheta) - Q(theta) - claimed increment",
            "momentum": "dQ/dt along theta' = p, p' = -gamma*p - dL/dtheta"}[problem.dynamics]
    roots = ar.generators
    steps.append(Step(f"residual {what}: every entry is N/D with deg N <= {n}, deg D <= {d}, "
                      f"||N||_1 <= 2^{h:.1f}" + (f"; {roots} square roots t (weight ceil(deg B/2), t**2 = B)" if roots
                                                 else ""),
                      f"the quantity built on exact values of {model.name} in degree arithmetic"))
    return DegreeBound(n, d, h, tuple(steps), roots)


def prime_count_lower() -> int:
    """A lower bound on the number of primes in [2**60, 2**61): pi(x) > x/ln x (x >= 17) and
    pi(x) < 1.25506 x/ln x (Rosser & Schoenfeld 1962), rounded down."""
    return math.floor(_HI / math.log(_HI) - 1.25506 * _LO / math.log(_LO)) - 1


def random_prime(rng: random.Random) -> int:
    """A prime drawn uniformly from [2**60, 2**61) (rejection sampling; SymPy's isprime is
    deterministic below 2**64)."""
    from sympy import isprime
    while True:
        n = rng.randrange(_LO, _HI)
        if isprime(n):
            return n


def _free_dl(problem: Problem, ar: Any):
    def dl(point, out):
        v = ar.free(out.shape)
        if problem.model.loss == "cross_entropy":  # sum_j dl_j = 0 (verify.model.chosen_loss.constraint)
            v[-1] = ar.mod(-sum(v[:-1], ar.const(0)))
        return v
    return dl


def _small_rational(rng: random.Random, positive: bool) -> Fraction:
    # the symbolic witness search's draws (verify.prove.witness): small, readable, cheap
    num = rng.randint(1 if positive else -5, 5)
    return Fraction(num if num else 1, rng.randint(1, 3))


def _witness(problem: Problem, seed: int, tries: int) -> tuple[Witness | None, int]:
    """Search rational points for an exactly non-zero residual (real regions, square loss)."""
    if problem.model.loss not in (None, "square"):
        raise NoExactForm(f"the {problem.model.loss} loss has transcendental derivatives at a rational point")
    ar, rng = RationalArith(), random.Random(seed + 7919)
    tried = 0
    for attempt in range(tries):
        positive = attempt % 2 == 1  # every ReLU unit active on odd attempts, as the symbolic search
        targets: list = []

        def draw(kind, shape, positive=positive):
            if kind == "extra":
                return Fraction(1, rng.randint(2, 10))
            return np.array([_small_rational(rng, positive) for _ in range(int(np.prod(shape)))],
                            dtype=object).reshape(shape)

        def square_loss(point, out):
            t = np.array([_small_rational(rng, False) for _ in out], dtype=object)
            targets.append([str(v) for v in t])
            return out - t
        try:
            ev = evaluate(problem, ar, draw, square_loss)
        except PointRejected:
            continue
        tried += 1
        for label, value in ev.residuals:
            if value != 0:
                return _as_witness(problem, ev, targets, label, Fraction(value)), tried
    return None, tried


def _matrix_text(v: np.ndarray) -> list:
    m = v if v.ndim == 2 else v.reshape(-1, 1)
    return [[str(x) for x in row] for row in m]


def _as_witness(problem: Problem, ev: Evaluation, targets: list, label: str, value: Fraction) -> Witness:
    params: dict[str, Any] = {k: _matrix_text(v) for k, v in ev.net.params.items()}
    params.update({k: (str(v) if not isinstance(v, np.ndarray) else _matrix_text(v)) for k, v in ev.extras.items()})
    return Witness(params=params, data=[[str(v) for v in x] for x in ev.net.inputs],
                   loss=f"{formula(problem.model.loss)} with t = {targets}",
                   regions={r.name: str(r.value) for r in ev.net.regions}, entry=label, value=str(value),
                   value_float=float(value),
                   certified="exact rational; regions from the exact signs of the pre-activations at this point")


def _hypotheses(model: Model, n_data: int) -> tuple[str, ...]:
    ell = ("an undefined differentiable ell(f(x))" if model.loss is None else
           f"the chosen {model.loss} loss ({formula(model.loss)}), through its derivatives dl only")
    hyp = [f"loss L = sum over {n_data} data point(s) of {ell}",
           "region symbols (and softmax exponentials) are free variables: a residual that is 0 as a function "
           "of them is 0 on every activation pattern"]
    for layer in walk(model.layers):
        text = layer.hypothesis()
        if text and text not in hyp:
            hyp.append(text)
    return tuple(hyp)


def prove_randomized(model: Model, quantity: Any, *, build: Callable | None = None, dynamics: str = "flow",
                     increment: Callable | None = None, claim_id: str = "user", title: str = "",
                     statement: str = "", n_data: int = 1, seed: int = 0, points: int = POINTS,
                     weight_decay: Any = None, witness_tries: int = WITNESS_TRIES,
                     fallback: Callable[[], Verdict] | None = None) -> Verdict:
    """Decide conservation of ``quantity`` (a ``QuantityFn``; ``build`` overrides its ``build`` with
    one that accepts exact matrices) by randomized exact identity testing.

    Raises ``NoExactForm`` when a layer, the loss or the quantity has no exact form (the caller falls
    back to the symbolic route). ``fallback`` (the symbolic route) is asked for a witness when the
    residual is non-zero but no exact rational witness exists for this model (exp, chosen losses).
    """
    t0 = time.perf_counter()
    if points < 1:
        from verify.errors import BadInput
        raise BadInput(f"Got points={points}; the randomized test needs at least 1 point.")
    problem = Problem(model, build or quantity.build, dynamics, increment, weight_decay, n_data)
    common = dict(claim_id=claim_id, title=title or f"{quantity.text} on {model.name}", mode="concrete",
                  dynamics=dynamics, statement=statement or (f"Q = {quantity.text} is conserved" if dynamics != "gd"
                                                            else f"one GD step changes Q = {quantity.text} by the "
                                                                 "claimed increment"))
    bound = degree_bound(problem)
    rng = random.Random(seed)
    primes: list[int] = []
    rejected = 0
    while len(primes) < points:
        prime = random_prime(rng)  # a fresh prime per point: the points are independent trials
        field = FieldArith(prime, rng)
        try:
            ev = evaluate(problem, field, lambda kind, shape: field.free(shape), _free_dl(problem, field))
        except PointRejected:
            rejected += 1
            if rejected > MAX_REJECTED:
                return Undecided(**common, seconds=time.perf_counter() - t0,
                                 reason=f"{rejected} field points had a vanishing denominator",
                                 evidence={"route": "randomized", "prime": prime})
            continue
        primes.append(prime)
        nonzero = [lbl for lbl, v in ev.residuals if v % prime]
        if nonzero:
            return _refute(problem, common, nonzero[0], prime, seed, witness_tries, t0, fallback, bound.numerator)
    n_primes = prime_count_lower()
    eps_prime = Fraction(math.ceil(bound.height / 60 + 1e-9)) / n_primes if bound.numerator or bound.height > 0 \
        else Fraction(0)
    if bound.unit_degree >= _LO // 2:
        return Undecided(**common, seconds=time.perf_counter() - t0, evidence={"route": "randomized"},
                         reason=f"the denominator degree bound {bound.unit_degree} is too large for a 61-bit field")
    eps_field = Fraction(bound.numerator, _LO - bound.unit_degree)
    eps_point = eps_prime + eps_field
    eps = eps_point ** points
    steps = bound.steps + (
        Step(f"at each point a prime p drawn uniformly from the primes in [2^60, 2^61) (>= {n_primes} of them); "
             f"here p = {', '.join(map(str, primes))}",
             f"a non-zero numerator vanishes mod p only if p divides its coefficients (< {bound.height:.1f}/60 + 1 "
             f"such primes): probability <= {float(eps_prime):.3g}"),
        Step(f"{points} points, each drawn uniformly from GF(p) for every free variable (parameters, data, region "
             f"symbols, auxiliaries, loss derivatives{', eta' if dynamics == 'gd' else ''}"
             f"{', lambda' if weight_decay is True else ''}{', gamma, velocities' if dynamics == 'momentum' else ''}"
             f"); every one of the {len(ev.residuals)} residual entries is 0 at each"
             + (f" ({rejected} points with a vanishing denominator redrawn)" if rejected else ""),
             "exact modular evaluation of the forward and backward pass (verify.interpret.modular)"),
        Step(f"P[a non-zero residual vanishes at one point] <= {float(eps_prime):.3g} + {bound.numerator}/(2^60 - "
             f"{bound.unit_degree}) = {float(eps_point):.3g}; at {points} independent points <= {float(eps):.3g}"
             + (f" (2^{bound.roots} x {bound.denominator}: the norm of the denominator over the square roots)"
                if bound.roots else ""),
             "Schwartz-Zippel lemma (conditioned on a non-zero denominator), points independent"))
    return ProvenRandomized(**common, seconds=time.perf_counter() - t0, points=points,
                            epsilon=float(eps) * (1 + 1e-12), epsilon_per_point=float(eps_point) * (1 + 1e-12),
                            degree_bound=bound.numerator, denominator_degree=bound.denominator, primes=tuple(primes),
                            steps=steps, hypotheses=_hypotheses(model, n_data))


def _refute(problem: Problem, common: dict, label: str, prime: int, seed: int, tries: int, t0: float,
            fallback: Callable[[], Verdict] | None, degree: int = 0) -> Verdict:
    common = {**common, "title": common["title"] + " [randomized route]"}
    if degree > WITNESS_MAX_DEGREE:
        # exact rationals at a point grow like degree x bits: z**64 through 3 layers is degree 262144 (issue 15)
        return Undecided(**common, seconds=time.perf_counter() - t0,
                         reason=f"the residual is non-zero at a random field point, but its degree bound {degree} is "
                                f"above {WITNESS_MAX_DEGREE}, too high for an exact rational witness; not refuted",
                         evidence={"route": "randomized", "non-zero entry at the field point": label, "prime": prime})
    try:
        witness, tried = _witness(problem, seed, tries)
    except NoExactForm as exc:
        if fallback is not None:
            v = fallback()
            return replace(v, title=v.title + f" [randomized route: non-zero at a field point; {exc}, so the witness "
                                              "search is the symbolic route's]")
        return Undecided(**common, seconds=time.perf_counter() - t0,
                         reason=f"the residual is non-zero at a random field point, but {exc}; no witness searched",
                         evidence={"route": "randomized", "non-zero entry at the field point": label, "prime": prime})
    if witness is not None:
        return Refuted(**common, seconds=time.perf_counter() - t0, witness=witness, exact_law="")
    return Undecided(**common, seconds=time.perf_counter() - t0,
                     reason=("the residual is non-zero at a random field point, with the region symbols free, but 0 at "
                             f"all {tried} rational points tried with real regions (signs of the pre-activations): it "
                             "may vanish on every activation pattern without being 0 as a polynomial in free "
                             "region symbols, so it is not refuted"),
                     evidence={"route": "randomized", "non-zero entry at the field point": label, "prime": prime,
                               "real points tried": tried})
