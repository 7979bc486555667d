"""Issue 19: the randomized route (Schwartz-Zippel in a prime field) gives the verdicts of the symbolic
route on every example and every catalog concrete task, negative controls included; its verdict
kind, text, JSON and exit code always say "randomized" with k points and epsilon."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_architectures import NEW_EXAMPLE_VERDICTS
from test_activation_homogeneity import ABS_EXAMPLE_VERDICTS
from test_check import EXAMPLE_VERDICTS
from verify.errors import BadInput
from verify.certificates import PASSING, VERDICT_NAMES, ProvenRandomized, Refuted, exit_code
from verify.lang.spec import load_spec
from verify.model import mlp
from verify.proofs import ALL_TASKS
from verify.prove.concrete import prove_conserved
from verify.prove.randomized import prove_randomized
from verify.testing.checking import AUTO_SYMBOLIC_MAX_ENTRIES, check, choose_method, exact_build

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROOT = Path(__file__).resolve().parents[1]

#: Examples of the README table beyond the two lists above (closed-form activations, a chosen loss).
MORE_EXAMPLES = [
    ("softmax_classifier.toml", "sum(b2)", "proven"),
    ("swish_formula.toml", "sum(W1[i,:]**2) - sum(W2[:,i]**2)", "refuted"),
    *ABS_EXAMPLE_VERDICTS,
]
RANDOMIZED_NAME = {"proven": "proven (randomized)", "refuted": "refuted", "undecided": "undecided"}


@pytest.mark.parametrize("spec, quantity, expected", EXAMPLE_VERDICTS + NEW_EXAMPLE_VERDICTS + MORE_EXAMPLES)
def test_du_1_du_3_ex_examples_same_verdict_through_the_randomized_route(spec, quantity, expected):
    v = check(load_spec(EXAMPLES / spec), quantity, method="randomized")
    assert v.verdict == RANDOMIZED_NAME[expected], (v.title, getattr(v, "reason", ""))
    assert "[symbolic route" not in v.title  # every example has an exact form: no fallback
    if expected == "refuted":
        assert "[randomized route" in v.title and v.witness is not None
    if expected == "proven":
        assert isinstance(v, ProvenRandomized) and v.points == 2 and 0 < v.epsilon < 1e-30


def _randomized_task(task):
    """The randomized twin of a catalog task run through ``prove_conserved`` (None for the tasks
    that do not go through the concrete engine)."""
    f = task.run
    if not isinstance(f, functools.partial):
        return None
    if f.func is prove_conserved:
        model, quantity = f.args
        kw = dict(f.keywords)
    elif f.func.__name__ == "concrete_task":
        claim_id, model, quantity, *rest = f.args
        kw = {"claim_id": claim_id, "increment": rest[0] if rest else f.keywords.get("increment")}
        kw["dynamics"] = "gd" if kw["increment"] is not None else "flow"
    else:
        return None
    if kw.get("dynamics") == "gd":
        return None  # GD proofs stay symbolic: they need the batch argument (verify.testing.checking)
    kw = {k: v for k, v in kw.items() if k in ("claim_id", "statement", "dynamics", "increment", "weight_decay")}
    # a quantity stated in the quantity language runs on exact matrices through its exact interpreter
    return functools.partial(prove_randomized, model, quantity, build=exact_build(quantity, model),
                             fallback=task.run, **kw)


CONCRETE = [t for t in ALL_TASKS if t.mode == "concrete"]


def test_catalog_concrete_tasks_outside_the_randomized_route_are_listed():
    # DU-6 (matrix factorisation, no Model) and EX-3 (dL/dt with a fixed loss) are hand-built
    # residuals, not conservation checks of a model; the GD tasks (DU-1gd, DU-3gd, JT-1's and EX-1's GD
    # steps) stay symbolic because a GD proof needs the batch argument of verify.prove.batch. Listed
    # here so a new task cannot be skipped silently.
    skipped = {t.key for t in CONCRETE if _randomized_task(t) is None}
    assert {k.split("/")[0] for k in skipped} == {"DU-6", "EX-3", "DU-1gd", "DU-3gd", "JT-1", "EX-1"}
    assert all(k.split("/")[0] in ("DU-6", "EX-3", "DU-1gd", "DU-3gd") or "gd" in k.lower() or "GD" in k
               for k in skipped), sorted(skipped)


@pytest.mark.parametrize("task", [t for t in CONCRETE if _randomized_task(t) is not None], ids=lambda t: t.key)
def test_catalog_concrete_task_same_verdict_through_the_randomized_route(task):
    v = _randomized_task(task)()
    assert v.verdict == RANDOMIZED_NAME[task.expect], (v.title, getattr(v, "reason", ""))
    assert "[symbolic route" not in v.title


@pytest.mark.parametrize("task", [t for t in CONCRETE if t.expect == "refuted" and _randomized_task(t) is not None],
                         ids=lambda t: t.key)
def test_negative_controls_refuted_through_both_routes(task):
    symbolic, randomized = task.run(), _randomized_task(task)()
    assert isinstance(symbolic, Refuted) and isinstance(randomized, Refuted)
    assert "[randomized route" in randomized.title and randomized.witness.value != "0"


def test_du_1_auto_takes_the_symbolic_route_small_and_the_randomized_one_large():
    q = "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"
    small, large = mlp((3, 4, 2), "relu", bias=True), mlp((3, 12, 2), "relu", bias=True)
    assert choose_method(small) == "symbolic" and choose_method(large) == "randomized"
    assert sum(p.shape[0] * (p.shape[1] if len(p.shape) > 1 else 1) for p in large.params) > AUTO_SYMBOLIC_MAX_ENTRIES
    assert check(small, q).verdict == "proven"
    assert check(large, q).verdict == "proven (randomized)"
    assert check(large, q, method="symbolic").verdict in ("proven", "undecided")  # the override is obeyed


def test_du_1_randomized_verdict_is_its_own_kind_in_text_json_and_exit_code():
    v = check(mlp((2, 3, 2), "relu", bias=True), "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)",
              method="randomized", points=3)
    assert v.verdict == "proven (randomized)" and v.verdict in VERDICT_NAMES and v.verdict in PASSING
    assert exit_code([v.verdict]) == 0 and exit_code([v.verdict, "undecided"]) == 1
    text = v.render()
    assert "PROVEN (RANDOMIZED)" in text and "randomized identity test: 3 points" in text
    assert f"error probability <= {v.epsilon:.3g}" in text
    d = v.to_dict()
    assert d["verdict"] == "proven (randomized)" and d["points"] == 3 and d["epsilon"] == v.epsilon
    assert len(d["primes"]) == 3


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_du_1_cli_method_randomized_json_and_exit_codes():
    spec = str(EXAMPLES / "two_layer_relu_bias.toml")
    ok = _cli("check", spec, "--quantity", "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "--method",
              "randomized", "--json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["verdict"] == "proven (randomized)" and out["points"] == 2 and out["epsilon"] < 1e-30
    bad = _cli("check", spec, "--quantity", "sum(W1[i,:]**2) - sum(W2[:,i]**2)", "--method", "randomized")
    assert bad.returncode == 1 and "REFUTED" in bad.stdout and "[randomized route]" in bad.stdout
    wrong = _cli("check", spec, "--quantity", "b1[0]", "--method", "random")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1 and "Traceback" not in wrong.stderr
    with pytest.raises(BadInput, match="points"):
        check(load_spec(spec), "b1[0]", method="randomized", points=0)
