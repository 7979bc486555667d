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
