"""Issue 16: certified law counts [lower, upper], exact ranks mod p, no data caps, the law-search
crash sizes, momentum on (t, theta, v), local laws of the patterns reached at one theta0.

Hand derivations used below:

* 65-2-3 linear: DU-3 gives r(r+1)/2 = 3 laws for the hidden width r = 2, and no more (Marcotte,
  Gribonval & Peyre 2023, Sec 4); 100-10-100: 10 * 11 / 2 = 55. A data set of 64 points spans only
  64 input directions, which gave 5 and 415 before (the fields of the missing directions are absent).
* 2-2-2 linear with momentum, any friction: the skew part of W1 V1^T + V2^T W2 ... (the angular
  momentum e^{tau t} A of Marcotte et al. 2024, r(r-1)/2 = 1 law for r = 2 hidden units); ReLU nets
  with momentum: no law (their Sec 4.1.2, and the reference notebook asserts 0 on 20 nets).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import verify.laws.law_algebra as law_algebra
from verify.certificates import Proven, Refuted
from verify.laws.search import find_laws
from verify.laws.discovery import discover, polynomial_rank
from verify.errors import BadInput
from verify.laws.lie_rank import lie_rank
from verify.model import mlp
from verify.interpret.jets import MODP
from verify.laws.modp import EchelonBasis, independent_rows, rank_mod_p
from verify.prove.concrete import QuantityFn, prove_conserved
from verify.laws.regions import sample_region
from verify.interpret.symbolic import param_matrices

ROOT = Path(__file__).resolve().parents[1]


def _exact_rank(A) -> int:
    """Rank over Q by SymPy's fraction-free domain arithmetic (independent of verify.laws.modp)."""
    from sympy.polys.domains import QQ
    from sympy.polys.matrices import DomainMatrix
    return DomainMatrix.from_Matrix(sp.Matrix(np.asarray(A).tolist())).convert_to(QQ).rank()


@pytest.mark.parametrize("shape,rank", [((6, 9), 4), ((12, 7), 7), ((30, 30), 17), ((1, 5), 0)])
def test_rank_mod_p_matches_exact_rational_rank(shape, rank):
    rng = np.random.default_rng(5)
    A = rng.integers(-4, 5, (shape[0], rank)) @ rng.integers(-4, 5, (rank, shape[1]))
    exact = _exact_rank(A)
    assert rank_mod_p(A) == exact
    # Negative control: one more independent row raises it, a copy of a row does not.
    extra = np.vstack([A, rng.integers(-4, 5, (1, shape[1]))])
    assert rank_mod_p(extra) == _exact_rank(extra) == min(exact + 1, shape[1])
    assert rank_mod_p(np.vstack([A, A[:1]])) == exact


def test_modular_basis_incremental_equals_one_shot_and_profile():
    rng = np.random.default_rng(2)
    A = rng.integers(0, MODP.modulus, (600, 300)).astype(float)
    A[400:] = MODP.reduce(rng.integers(0, 9, (200, 400)).astype(float) @ A[:400])  # dependent rows
    basis = EchelonBasis(300)
    for s in range(0, 600, 37):  # odd chunk sizes exercise the block merging
        basis.add(A[s:s + 37])
    assert basis.rank == rank_mod_p(A) == 300
    B = np.array([[1, 2, 3], [2, 4, 6], [0, 1, 1], [1, 3, 4], [5, 5, 5]])
    assert independent_rows(B) == [0, 2, 4]  # row 1 = 2 row 0, row 3 = row 0 + row 2


def test_polynomial_rank_counts_dependent_laws_once():
    r = discover(mlp((3, 3, 2), "relu"), count=False)
    laws = list(r.laws)
    assert polynomial_rank(mlp((3, 3, 2), "relu"), laws) == 3
    assert polynomial_rank(mlp((3, 3, 2), "relu"), laws + laws[:2]) == 3  # duplicates add nothing


@pytest.mark.parametrize("widths,count", [((65, 2, 3), 3)])
def test_du_3_wide_input_gives_exactly_r_r_plus_1_over_2(widths, count):
    r = discover(mlp(widths, "identity"))
    assert r.exact and r.count == count and len(r.laws) == count
    assert "exactly" in r.render_text()


def test_du_3_100_10_100_upper_bound_is_55():
    # The law search at D = 2000 takes minutes (benchmarks/bench_discover.py --scale runs it); the
    # upper bound alone fell from 415 (64 data points) to the DU-3 value.
    r = lie_rank(mlp((100, 10, 100), "identity"))
    assert r.upper == 55 and r.converged


def test_never_exact_without_both_bounds():
    r = discover(mlp((3, 2, 3), "identity"), degree=0)
    assert (r.lower, r.upper) == (0, 3) and not r.exact and r.count is None
    text = r.render_text()
    assert "between 0 and 3, not exact" in text and "exactly" not in text
    d = json.loads(r.to_json())["count"]
    assert d["lower"] == 0 and d["upper"] == 3 and d["exact"] is False and d["value"] is None and d["closing"]


def test_law_search_chunking_regression_quick_variant(monkeypatch):
    # The crash: np.array_split made more chunks than components when the evaluated columns exceeded
    # the chunk budget (linear 16-16-16, ReLU 12-12-12-12). A budget of 1 float forces that case on
    # a small net; the laws must be those found with the default budget.
    model = mlp((4, 4, 4), "identity")
    default = find_laws(model, prove=False)
    monkeypatch.setattr(law_algebra, "CHUNK_FLOATS", 1)
    tiny = find_laws(model, prove=False)
    assert default.candidates == tiny.candidates == 10  # DU-3: 4 * 5 / 2
    assert not tiny.laws  # prove=False reports candidates only, never unproven laws


@pytest.mark.parametrize("widths,activation,candidates", [((16, 16, 16), "identity", 136),
                                                           ((12, 12, 12, 12), "relu", 24)])
def test_du_3_du_1_law_search_at_the_crash_sizes(widths, activation, candidates):
    # Search only (the proofs are the same as on any size): 2-3 s each.
    s = find_laws(mlp(widths, activation), prove=False)
    assert s.candidates == candidates and not s.laws


@pytest.mark.parametrize("activation,friction,upper", [("identity", 0, 1), ("identity", 1, 1), ("relu", 0, 0),
                                                       ("relu", 1, 0)])
def test_momentum_counts_on_time_state(activation, friction, upper):
    r = lie_rank(mlp((2, 2, 2), activation), dynamics="momentum", friction=friction)
    assert r.state_dim == 2 * 8 + 1 and r.upper == upper and r.converged  # (t, theta, v), D = 8


def test_nesterov_linear_keeps_one_law_and_relu_none():
    assert lie_rank(mlp((2, 2, 2), "identity"), dynamics="nesterov").upper == 1
    assert lie_rank(mlp((2, 2, 2), "relu"), dynamics="nesterov").upper == 0
    r = discover(mlp((2, 2, 2), "relu"), dynamics="nesterov")
    assert r.exact and r.count == 0 and "3 v / t" in r.fields


def test_regions_pattern_tensors_and_every_path():
    model = mlp((3, 4, 2), "relu")
    reg = sample_region(model, 0, "local")
    assert reg.tensor_rank == reg.tensor_dim == 4 and reg.patterns_seen >= 4
    paths = sample_region(model, 0, "paths")
    assert paths.kind == "paths" and paths.X.shape[0] == 4 * 3  # one-hot slopes per unit, 3 points each
    # Negative control: a 2-input net reaches few patterns; their tensors do not span everything.
    small = sample_region(mlp((2, 3, 6, 8), "relu"), 1, "local")
    assert small.tensor_rank < small.tensor_dim


def test_du_1_local_law_of_a_two_input_net_is_proven_and_is_not_a_network_law():
    # 2-3-6-8 ReLU: every path active gives exactly the 9 DU-1 laws; at theta0 #1 the reached
    # patterns leave one more law, proven on those patterns, which is not conserved on all of them.
    model = mlp((2, 3, 6, 8), "relu")
    r = discover(model)
    assert r.network_lower == 9 and r.paths_upper == 9
    assert r.exact and r.count == 10 and len(r.local_laws) == 1
    law = r.local_laws[0]
    assert isinstance(law.certificate, Proven) and "reached at theta0" in law.certificate.statement
    names = {n for _, mon in law.terms for n in mon}
    P = param_matrices(model)
    sym = {f"{k}[{i},{j}]": P[k][i, j] for k in P for i in range(P[k].rows) for j in range(P[k].cols)}
    expr = sum(sp.Rational(c) * sp.Mul(*[sym[n] for n in mon]) for c, mon in law.terms)
    assert names and isinstance(prove_conserved(model, QuantityFn("local law", lambda _: expr)), Refuted)


def test_discover_cli_friction_kind_and_json():
    spec = str(ROOT / "examples" / "two_layer_relu_bias.toml")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "verify", "discover", spec, *args], capture_output=True, text=True)

    bad = run("--friction", "1")
    assert bad.returncode == 2 and "--dynamics momentum" in bad.stderr and "Traceback" not in bad.stderr
    neg = run("--dynamics", "momentum", "--friction", "-2")
    assert neg.returncode == 2 and len(neg.stderr.strip().splitlines()) == 1
    ok = run("--dynamics", "momentum", "--friction", "1/2", "--count", "--json")  # upper 0: exact without search
    d = json.loads(ok.stdout)
    assert ok.returncode == 0 and d["friction"] == "1/2" and d["count"]["upper"] == 0 and d["count"]["exact"]
    with pytest.raises(BadInput):
        lie_rank(mlp((2, 2, 2), "relu"), kind="everything")


@pytest.mark.parametrize("dynamics,friction,factor", [("momentum", 0, ""), ("momentum", 1, "s*"),
                                                      ("nesterov", 0, "t^3*")])
def test_momentum_laws_proven_and_count_exact(dynamics, friction, factor):
    # 2-2-2 linear: the skew part of W1 V1^T ... conserved as s^e A (Marcotte et al. 2024): e^{t} A with
    # friction 1 (s = exp(t)), t^3 A for Nesterov, A itself without friction; one law, exactly.
    r = discover(mlp((2, 2, 2), "identity"), dynamics=dynamics, friction=friction)
    assert r.exact and r.count == 1 and len(r.laws) >= 1
    assert all(isinstance(l.certificate, Proven) for l in r.laws)
    assert r.laws[0].text.lstrip("-").startswith(factor + "W1") if factor else "s*" not in r.laws[0].text


def test_momentum_law_without_its_time_factor_is_not_proven():
    # Negative control: with friction 1 the skew quantity A alone decays (dA/dt = -A); only e^{t} A is
    # conserved, so the proof of A (no s) must fail, and the proof of s A must pass.
    from fractions import Fraction

    from verify.laws.momentum_laws import _prove
    model = mlp((2, 2, 2), "identity")
    r = discover(model, dynamics="momentum", friction=1)
    terms = [(Fraction(c), tuple(n for n in mon if n != "s")) for c, mon in r.laws[0].terms]
    index = {"s": 0, **{e: 1 + i for i, e in enumerate(n for n in _names(model))}}
    with_s = [(c, tuple(index[n] for n in mon)) for c, mon in ((Fraction(c), m) for c, m in r.laws[0].terms)]
    without_s = [(c, tuple(index[n] for n in mon)) for c, mon in terms]
    assert _prove(model, with_s, "momentum", Fraction(1), "s = exp(1 t)") is not None
    assert _prove(model, without_s, "momentum", Fraction(1), "s = exp(1 t)") is None


def _names(model):
    from verify.laws.search import param_names
    return [e[2] for e in param_names(model)] + [e[2] + "'" for e in param_names(model)]


def test_two_input_patterns_enumerated_exactly_on_the_circle():
    # Independent check of the arc sweep: a dense sweep of 200,000 directions reaches no pattern the
    # sweep missed (and every swept pattern is reached). With a bias the cells are not cones: the
    # region falls back to sampling and says so.
    from verify.interpret.jets import forward_backward
    model = mlp((2, 6, 3, 7, 2), "relu")
    reg = sample_region(model, 1, "local")
    assert "enumerated exactly on the circle" in reg.description
    phis = np.linspace(0, 2 * np.pi, 200_001)[:-1]
    X = np.stack([np.cos(phis), np.sin(phis)], 1)
    used = forward_backward(model, reg.theta0[None], X[None])[3]
    dense = {r.tobytes() for r in np.unique(np.concatenate([u[0] == 1.0 for u in used], 1), axis=0)}
    assert dense == {r.tobytes() for r in reg.reached}
    biased = sample_region(mlp((2, 3, 2), "relu", bias=True), 1, "local")
    assert "random inputs" in biased.description and "enumerated exactly" not in biased.description
