"""The vector fields whose Lie algebra a count needs, and random elements of its nested spaces.

Families (all polynomial on a region, evaluated exactly mod p on jets by ``verify.interpret.jets``):

* gradient flow: chi_{x,j}(theta) = grad_theta f_j(x; theta) over the region's data points;
* heavy-ball momentum theta'' + tau theta' + grad L = 0 with friction tau, on the state
  (t, theta, v) (laws may depend on time: Marcotte, Gribonval & Peyre 2024, Sec 3): the flow field
  for a loss is X_0 - sum l'_{x,j} Y_{x,j} with X_0 = (1, v, -tau v), Y_{x,j} = (0, 0, chi_{x,j});
* Nesterov's coefficient tau(t) = 3/t (Su, Boyd & Candes 2016): X_0 = (1, v, -3 v / t) is rational
  in t, so t X_0 = (t, t v, -3 v) is used. Multiplying a generator by a function that does not vanish
  near the point keeps the distribution it spans with the others and so its involutive closure
  ([g X, Y] = g [X, Y] - (Y g) X): the count at t0 > 0 is unchanged, and the fields are polynomial.

Random elements: ``element`` draws from W'_j (W'_0 = W, W'_j = W'_{j-1} + [W'_{j-1}, W'_{j-1}]),
``round_sample`` from what round j can add. The bracket map is bilinear, so random draws reach the
span of each space with probability 1 (the failure set is algebraic).

References:
    Marcotte, Gribonval & Peyre (2023), NeurIPS, Sec 3 (the algorithm).
    Marcotte, Gribonval & Peyre (2024), "Keep the momentum", ICML, Sec 3-4 (momentum, time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from verify.errors import BadInput
from verify.model import Act, Model, layer_dims
from verify.interpret.jets import MODP, Ring, forward_backward, jets, to_ring
from verify.laws.regions import Region, points_per_pattern

__all__ = ["Family", "family", "element", "round_sample", "evaluate", "gradient_rows", "DYNAMICS"]

#: The dynamics a count is available for.
DYNAMICS = ("flow", "momentum", "nesterov")


@dataclass(frozen=True)
class Family:
    """A family of polynomial vector fields X(z; c) on R^N, c a random element label per sample."""

    dim: int
    sample: Callable  # (rng, n) -> parameters
    evaluate: Callable  # (Z (2^k n, N) jet coefficients, params, jets) -> (2^k n, N)
    fields: str
    time_slot: bool = False  # coordinate 0 is time


def _random(rng: np.random.Generator, shape, ring: Ring) -> np.ndarray:
    if ring.modulus is None:
        return rng.standard_normal(shape)
    return rng.integers(0, ring.modulus, size=shape).astype(float)


def _gradient(model: Model, region: Region, ring: Ring) -> Family:
    """Random elements sum_{x, j} C_{x,j} chi_{x,j}. When f is affine in x on each pattern (activations of
    degree 1), the fields of a pattern at its q data points span the same space as those at one
    generic point (sum_i a_i (A x_i + b) = lambda (A x' + b), lambda absorbed in the cotangent), so an
    element uses one random point per pattern: q times cheaper than every data point."""
    D = region.theta0.size
    m, out = region.X.shape[0], layer_dims(model)[-1]
    slopes = region.slopes(model, ring)
    affine = all(l.activation.degree == 1 for l in model.layers if isinstance(l, Act))
    n_pat = max(1, len(region.patterns)) if region.kind == "local" else None
    if affine and region.kind == "paths":
        n_pat = m // points_per_pattern(model)
    if affine and region.kind == "polynomial":
        n_pat = 1
    q = m // n_pat if affine and n_pat else 1
    per_pattern = [s[::q][None] for s in slopes] if affine and n_pat else None
    X1, S1 = region.X[None], [s[None] for s in slopes]

    def sample(rng, n):
        if per_pattern is None:
            return _random(rng, (n, m, out), ring), None
        return _random(rng, (n, n_pat, out), ring), _random(rng, (n, n_pat, region.X.shape[1]), ring)

    def evaluate(Z, params, jt):
        C, X = params
        if X is None:
            return forward_backward(model, Z, X1, C, S1, jets=jt)[1]
        return forward_backward(model, Z, X, C, per_pattern, jets=jt)[1]

    return Family(D, sample, evaluate, "chi_{x,j}(theta) = grad_theta f_j(x; theta) over the region's data "
                                       "points and outputs")


def _momentum(model: Model, region: Region, ring: Ring, friction, nesterov: bool) -> Family:
    grad = _gradient(model, region, ring)
    D = grad.dim
    tau = to_ring(np.array([Fraction(str(friction))], dtype=object), ring)[0]

    def sample(rng, n):
        return _random(rng, (n,), ring), grad.sample(rng, n)

    def evaluate(Z, params, jt):
        a0, C = params
        a0 = np.concatenate([a0] * jt.J)[:, None]  # a constant acts on every jet coefficient
        t, th, v = Z[:, :1], Z[:, 1:D + 1], Z[:, D + 1:]
        out = np.empty_like(Z)
        g = grad.evaluate(th, C, jt)
        if nesterov:
            tv, _ = jt.prod(ring.multiply, t, False, v, False)
            out[:, :1] = ring.multiply(a0, t)
            out[:, 1:D + 1] = ring.multiply(a0, tv)
            out[:, D + 1:] = ring.reduce(ring.multiply(a0, -3.0 * v) + g)
        else:
            out[:, :1] = np.where(np.arange(Z.shape[0])[:, None] < Z.shape[0] // jt.J, a0, 0.0)
            out[:, 1:D + 1] = ring.multiply(a0, v)
            out[:, D + 1:] = ring.reduce(ring.multiply(a0, ring.multiply(v, -tau)) + g)
        return out

    coef = "-3 v / t (Nesterov)" if nesterov else f"-{friction} v"
    fields = (f"on (t, theta, v): X_0 = (1, v, {coef})" + (", used as t X_0 = (t, t v, -3 v)" if nesterov else "")
              + " and Y_{x,j} = (0, 0, grad_theta f_j(x; theta)); the flow for a loss is X_0 - sum l'_{x,j} Y_{x,j}")
    return Family(2 * D + 1, sample, evaluate, fields, True)


def family(model: Model, region: Region, dynamics: str = "flow", friction=0, ring: Ring = MODP) -> Family:
    """The generating fields of W for ``dynamics`` ("flow", "momentum" with ``friction``, "nesterov")."""
    if dynamics == "flow":
        return _gradient(model, region, ring)
    if dynamics in ("momentum", "nesterov"):
        return _momentum(model, region, ring, friction, dynamics == "nesterov")
    raise BadInput(f"Got dynamics={dynamics!r}; use one of {', '.join(DYNAMICS)}.")


def gradient_rows(model: Model, region: Region, theta: np.ndarray, points: np.ndarray,
                  ring: Ring = MODP) -> np.ndarray:
    """The rows grad_theta f_j(x_i; theta) for the data points ``points`` (indices), all outputs j."""
    m, out = points.size, layer_dims(model)[-1]
    R = m * out
    Theta = np.broadcast_to(theta, (R, theta.size))
    X = np.repeat(region.X[points], out, axis=0)[:, None, :]
    cot = np.tile(np.eye(out), (m, 1))[:, None, :]
    slopes = [np.repeat(s[points], out, axis=0)[:, None, :] for s in region.slopes(model, ring)]
    return forward_backward(model, Theta, X, cot, slopes, jets=jets(0, ring))[1]


# A random element of a space of fields is a tree: ("leaf", params) is a random element of W,
# ("sum", A, B) is A + B and ("bracket", A, B) is [A, B].

def element(fam: Family, rng, n: int, j: int):
    """A random element of W'_j: e_j = e_{j-1} + [e'_{j-1}, e''_{j-1}] with independent draws."""
    if j == 0:
        return ("leaf", fam.sample(rng, n))
    return ("sum", element(fam, rng, n, j - 1),
            ("bracket", element(fam, rng, n, j - 1), element(fam, rng, n, j - 1)))


def round_sample(fam: Family, rng, n: int, j: int):
    """A random element of what round j can add: [W'_{j-1}, W'_{j-1}] modulo W'_{j-1}.

    With N_{j-1} = [W'_{j-2}, W'_{j-2}] (N_0 = W): [W'_{j-1}, W'_{j-1}] is [W'_{j-2}, W'_{j-2}]
    (already in W'_{j-1}) + [N_{j-1}, W'_{j-1}], so only the new directions are bracketed again."""
    if j == 1:
        return ("bracket", element(fam, rng, n, 0), element(fam, rng, n, 0))
    new = ("bracket", element(fam, rng, n, j - 2), element(fam, rng, n, j - 2))
    return ("bracket", new, element(fam, rng, n, j - 1))


def evaluate(fam: Family, tree, P: np.ndarray, k: int = 0, ring: Ring = MODP) -> np.ndarray:
    """Value of the field ``tree`` on the jet point P (level k: 2^k n rows), exact.

    [A, B](P) = DB(P).A(P) - DA(P).B(P): B on the jet P + eps A(P) (eps a new nilpotent direction)
    returns B(P) and DB(P).A(P) as its two halves, and likewise for A."""
    kind = tree[0]
    if kind == "leaf":
        return fam.evaluate(P, tree[1], jets(k, ring))
    if kind == "sum":
        return ring.reduce(evaluate(fam, tree[1], P, k, ring) + evaluate(fam, tree[2], P, k, ring))
    A, B = tree[1], tree[2]
    rows = P.shape[0]
    av = evaluate(fam, A, P, k, ring)
    bb = evaluate(fam, B, np.concatenate([P, av]), k + 1, ring)
    aa = evaluate(fam, A, np.concatenate([P, bb[:rows]]), k + 1, ring)
    return ring.reduce(bb[rows:] - aa[rows:])
