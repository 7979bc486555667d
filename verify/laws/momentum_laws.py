"""Polynomial conservation laws of momentum flows, Q(s, theta, v) of degree <= k, each proven by SymPy.

The flow theta'' + tau(t) theta' + grad L(theta) = 0 on the state (t, theta, v = theta') keeps Q iff
<grad Q, X_0> = 0 and <grad Q, Y_{x,j}> = 0 for every x, j (``verify.laws.lie_fields``; the loss is
arbitrary). Laws may depend on time (Marcotte, Gribonval & Peyre 2024, Sec 3): with a constant
friction tau != 0 the time coordinate is s = exp(tau t) (as in their Sec 3.1.1), so e^{tau t} times a
polynomial is a polynomial in s; with tau = 0 it is s = t; for Nesterov's tau = 3/t it is s = t and X_0 is
scaled by t (same laws). The search is a sampled nullspace over monomials (float64), the proof
an exact SymPy expansion of dQ/dt = dQ/ds s' + <d_theta Q, v> + <d_v Q, -tau v - dL/dtheta> with
dL/dtheta derived by SymPy from the model (``verify.interpret.symbolic``), a law is reported only when it
expands to 0.

References:
    Marcotte, Gribonval & Peyre (2024), "Keep the momentum", ICML, Sec 3-4.
"""

from __future__ import annotations

import itertools
import time
from fractions import Fraction

import numpy as np
import sympy as sp

from verify.certificates import Proven, Step
from verify.laws.search import Law, law_text, param_names
from verify.prove.dynamics import velocities
from verify.laws.law_algebra import nullspace, rationalise, rref
from verify.laws.lie_fields import family
from verify.model import Model
from verify.interpret.jets import FLOAT, MODP, PRIME
from verify.laws.modp import rank_mod_p
from verify.laws.regions import sample_region
from verify.interpret.symbolic import symbolic_net

__all__ = ["find_momentum_laws", "MAX_MONOMIALS"]

#: Largest number of monomials searched (the state has 2D + 1 coordinates: degree 2 on D = 27 is 1595).
MAX_MONOMIALS = 20000


def _fields(model, region, dynamics, tau, z, rng):
    """Rows of X_0 (z) and of random Y (z) at points z (n, 2D + 1) in the search coordinates."""
    n, N = z.shape
    D = (N - 1) // 2
    fam = family(model, region, "flow", 0, FLOAT)
    s, v = z[:, :1], z[:, D + 1:]
    X0 = np.zeros_like(z)
    if dynamics == "nesterov":  # t X_0 = (t, t v, -3 v)
        X0[:, :1], X0[:, 1:D + 1], X0[:, D + 1:] = s, s * v, -3.0 * v
    else:  # s = t (tau = 0) or s = exp(tau t): s' = tau s
        X0[:, :1] = 1.0 if tau == 0 else float(tau) * s
        X0[:, 1:D + 1], X0[:, D + 1:] = v, -float(tau) * v
    Y = np.zeros_like(z)
    Y[:, D + 1:] = fam.evaluate(z[:, 1:D + 1], fam.sample(rng, n), None)
    return X0, Y


def _columns(mons: np.ndarray, z: np.ndarray, X: np.ndarray) -> np.ndarray:
    """<grad m(z), X(z)> for every monomial (rows of index arrays, -1 padded)."""
    zp = np.hstack([z, np.ones((z.shape[0], 1))])
    Xp = np.hstack([X, np.zeros((X.shape[0], 1))])
    out = np.zeros((z.shape[0], mons.shape[0]))
    for p in range(mons.shape[1]):
        term = Xp[:, mons[:, p]]
        for q in range(mons.shape[1]):
            if q != p:
                term = term * zp[:, mons[:, q]]
        out += term
    return out


def find_momentum_laws(model: Model, *, dynamics: str = "momentum", friction=0, degree: int = 2,
                       seed: int = 0) -> tuple[tuple[Law, ...], int, str, bool]:
    """Proven polynomial laws Q = sum s^e m(theta, v) (deg m <= ``degree``, e <= 3 for Nesterov, else 1).

    Returns (laws, rank of their gradients mod p at a random integer point, the time coordinate,
    whether the search ran: False above ``MAX_MONOMIALS`` monomials)."""
    tau = Fraction(str(friction))
    D = sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.params)
    N = 2 * D + 1
    coord = "t" if dynamics == "nesterov" or tau == 0 else f"s = exp({tau} t)"
    # Time enters as a power of s: e^{tau t} A is s A, Nesterov's t^3 A (Su, Boyd & Candes 2016 scale
    # the energy by t^2) needs s^3. Monomials s^e m(theta, v), deg m <= degree, e <= E.
    E = 3 if dynamics == "nesterov" else 1
    base = [m for d in range(degree + 1) for m in itertools.combinations_with_replacement(range(1, N), d)]
    allm = [(0,) * e + m for e in range(E + 1) for m in base if e or m]
    if len(allm) > MAX_MONOMIALS:
        return (), 0, coord, False
    n_mon = len(allm)
    mons = np.full((n_mon, E + degree), -1, dtype=np.int64)
    for k, m in enumerate(allm):
        mons[k, :len(m)] = m
    region = sample_region(model, seed, "paths")  # every pattern: a law of the network
    rng = np.random.default_rng([seed, 17])
    n = n_mon + 16
    z = rng.standard_normal((n, N))
    z[:, 0] = np.abs(z[:, 0]) + 0.5  # s > 0 (t > 0 for Nesterov)
    X0, Y = _fields(model, region, dynamics, tau, z, rng)
    A = np.vstack([_columns(mons, z, X0), _columns(mons, z, Y)])
    null, _, _ = nullspace(A)
    candidates = [rationalise(v) for v in (rref(null) if null.shape[0] else null)]
    names = [coord.split(" ")[0]] + [e[2] for e in param_names(model)] + [e[2] + "'" for e in param_names(model)]
    laws = []
    for q in candidates:
        if q is None:
            continue
        terms = [(q[i], tuple(int(t) for t in mons[i] if t >= 0)) for i in range(n_mon) if q[i] != 0]
        v = _prove(model, terms, dynamics, tau, coord)
        if v is not None:
            text = law_text([(c, tuple(names[i] for i in m)) for c, m in terms])
            laws.append(Law(text, tuple((str(c), tuple(names[i] for i in m)) for c, m in terms),
                            tuple(sorted({names[i] for _, m in terms for i in m})), f"momentum ({coord})", v))
    point = np.random.default_rng([seed, 19]).integers(1, PRIME, N).astype(float)
    rows = np.zeros((len(laws), N))
    index = {name: i for i, name in enumerate(names)}
    for r, law in enumerate(laws):
        for c, mon in law.terms:
            coef = Fraction(c)
            cr = coef.numerator % PRIME * pow(coef.denominator, -1, PRIME) % PRIME
            ids = [index[x] for x in mon]
            for p in range(len(ids)):
                rest = float(cr)
                for qq, i in enumerate(ids):
                    if qq != p:
                        rest = MODP.reduce(rest * point[i])
                rows[r, ids[p]] = MODP.reduce(rows[r, ids[p]] + rest)
    return tuple(laws), rank_mod_p(rows) if laws else 0, coord, True


def _prove(model, terms, dynamics, tau, coord) -> Proven | None:
    """Exact SymPy expansion of dQ/dt along the flow (every loss); None if it is not 0."""
    t0 = time.perf_counter()
    net = symbolic_net(model, 1)
    vel = velocities(net)
    theta = list(net.theta)
    vs = [p for name in net.params for p in vel[f"{name}_dot"]]
    s = sp.Symbol(coord.split(" ")[0], positive=True)
    syms = [s] + theta + vs
    Q = sum(sp.Rational(c.numerator, c.denominator) * sp.Mul(*[syms[i] for i in m]) for c, m in terms)
    grad = [net.gradient[a] for a in theta]
    if dynamics == "nesterov":  # t dQ/dt with tau = 3/t
        res = s * Q.diff(s) + sum(s * Q.diff(a) * b for a, b in zip(theta, vs)) + sum(
            Q.diff(b) * (-3 * b - s * g) for b, g in zip(vs, grad))
        rule = "t dQ/dt along theta'' + (3/t) theta' + dL/dtheta = 0"
    else:
        tr = sp.Rational(tau.numerator, tau.denominator)
        sdot = 1 if tau == 0 else tr * s
        res = Q.diff(s) * sdot + sum(Q.diff(a) * b for a, b in zip(theta, vs)) + sum(
            Q.diff(b) * (-tr * b - g) for b, g in zip(vs, grad))
        rule = f"dQ/dt along theta'' + {tr} theta' + dL/dtheta = 0, {coord}"
    if sp.expand(res) != 0:
        return None
    text = sp.sstr(Q)
    return Proven(claim_id="discover", title=f"momentum law on {model.name}", mode="concrete", dynamics="momentum",
                  statement=f"Q = {text[:300]} is conserved ({rule})", seconds=time.perf_counter() - t0,
                  steps=(Step(f"dQ/dt = {sp.sstr(res)[:200]}", rule + "; dL/dtheta derived by SymPy, loss undefined"),
                         Step("the residual expands to 0", "polynomial identity in parameters, velocities, time, "
                              "data, region symbols and loss derivatives")),
                  hypotheses=("loss L = an undefined differentiable ell(f(x)) of one data point (dQ/dt is linear in "
                              "L, so one point covers any data set)",))
