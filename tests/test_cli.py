"""CLI: exit codes 0/1/2, one-line errors without tracebacks, JSON and Markdown output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verify.jobs.cli import main


def run(*args):
    p = subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[1])
    return p.returncode, p.stdout, p.stderr


def test_list_shows_every_claim(capsys):
    from verify.claims import CLAIMS
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for cid in CLAIMS:
        assert cid in out


def test_du_1_prove_cli_exit_0_and_derivation(capsys):
    assert main(["prove", "DU-1", "--mode", "generic"]) == 0
    out = capsys.readouterr().out
    assert "PROVEN" in out and "homogeneity" in out and "D diagonal" in out


def test_du_6_prove_markdown(capsys):
    assert main(["prove", "DU-6", "--mode", "generic", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("## DU-6") and "### DU-6" in out


def test_du_3_prove_json_includes_control_witness(capsys):
    assert main(["prove", "DU-3", "--json", "--workers", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    controls = [r for r in rows if r["expect"] == "refuted"]
    assert controls and all(r["verdict"] == "refuted" and r["witness"]["value"] != "0" for r in controls)
    assert all(r["as_expected"] for r in rows)


@pytest.mark.parametrize("args, needle", [
    (["prove", "DU-99"], "Closest: DU-9"),
    (["prove", "du-10"], "verify audit DU-10"),
    (["prove"], "required"),
    (["frobnicate"], "invalid choice"),
    (["audit", "DU-1"], "verify prove DU-1"),  # the command that exists (it said "verify proof")
        (["audit", "JT-6"], "nothing to run"),
        # bad option values (issue 15): one line each, before any work
        (["check", "examples/two_layer_relu_bias.toml", "--quantity", "norm(W1)**2", "--seed", "-1"], "integer >= 0"),
        (["check", "examples/two_layer_relu_bias.toml", "--quantity", "norm(W1)**2", "--budget", "0"], "integer >= 1"),
        (["check", "examples/two_layer_relu_bias.toml", "--quantity", "norm(W1)**2", "--budget", "-1"], "integer >= 1"),
        (["check", "examples/two_layer_relu_bias.toml", "--quantity", "norm(W1)**2", "--weight-decay", "1/0"],
         "finite number"),
        (["check", "examples/two_layer_relu_bias.toml", "--quantity", "norm(W1)**2", "--weight-decay", "nan"],
         "finite number"),
        (["check", "examples/two_layer_relu_bias.toml", "--quantity", "norm(W1)**2", "--weight-decay", "a/b"],
         "finite number"),
        (["audit", "DU-10", "--quick", "--seed", "-1"], "integer >= 0"),
        (["all", "--workers", "1000"], "at most"),
        (["all", "--out", "pyproject.toml"], "is a file"),
        (["discover", "examples/two_layer_relu_bias.toml", "--degree", "99"], "from 1 to 4"),
        (["discover", "examples/missing.toml"], "cannot read the spec"),
    (["audit", "XX-1"], "Unknown claim id"),
])
def test_bad_input_exit_2_one_line_no_traceback(args, needle):
    code, out, err = run(*args)
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert needle in err


def test_python_m_verify_help_shows_examples():
    code, out, _ = run("prove", "--help")
    assert code == 0 and "examples:" in out


def test_du_1_discover_cli_finds_per_neuron_laws():
    code, out, err = run("discover", "examples/two_layer_relu_bias.toml")
    assert code == 0, err
    assert "polynomial laws (each PROVEN): 3" in out and "independent conservation laws: 3" in out
    code, _, err = run("discover", "examples/tanh_two_layer.toml")
    assert code == 2 and "homogeneous" in err and "Traceback" not in err


_LINEAR_222 = """name = "linear-2-2-2"
input = 2

[[layer]]
type = "dense"
out = 2

[[layer]]
type = "activation"
name = "identity"

[[layer]]
type = "dense"
out = 2
"""


def test_du_3gd_check_increment_cli_proves_and_refutes_det_control(tmp_path):
    """The issue-14 reproduction from the command line: DU-3gd's increment is PROVEN (exit 0) over a
    batch of 2 points; adding eta^2 det(G_W1) I (= tr(G) G - G G for 2x2) is REFUTED (exit 1) with an
    exact witness of two data points."""
    spec = tmp_path / "linear.toml"
    spec.write_text(_LINEAR_222)
    q, inc = "W1 @ W1.T - W2.T @ W2", "eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)"
    code, out, err = run("check", str(spec), "--quantity", q, "--dynamics", "gd", "--increment", inc, "--json")
    assert code == 0, err
    v = json.loads(out)
    assert v["verdict"] == "proven" and any("every batch size N" in h for h in v["hypotheses"])
    det = inc + " + eta**2*(trace(G_W1)*G_W1 - G_W1 @ G_W1)"
    code, out, err = run("check", str(spec), "--quantity", q, "--dynamics", "gd", "--increment", det, "--json")
    assert code == 1, err
    v = json.loads(out)
    assert v["verdict"] == "refuted" and v["witness"]["certified"] == "exact rational"
    assert len(v["witness"]["data"]) == 2 and v["witness"]["value"] != "0"


@pytest.mark.parametrize("extra, needle", [
    (["--increment", "eta**2*G_W1"], "add --dynamics gd"),
    (["--dynamics", "gd", "--increment", "eta**2*G_W9"], "Unknown parameter 'G_W9'"),
    (["--dynamics", "gd", "--increment", "eta**2*(G_W1"], "increment: unexpected end"),
])
def test_check_increment_bad_input_exit_2(tmp_path, extra, needle):
    spec = tmp_path / "linear.toml"
    spec.write_text(_LINEAR_222)
    code, out, err = run("check", str(spec), "--quantity", "W1 @ W1.T - W2.T @ W2", *extra)
    assert code == 2 and needle in err and "Traceback" not in err and err.count("\n") == 1, err


def test_check_help_documents_increment():
    code, out, _ = run("check", "--help")
    assert code == 0 and "--increment" in out and "G_<param>" in out and "eta" in out
