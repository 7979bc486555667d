"""Issue 18: `verify check --generic` / check(mode="generic"): the user's quantity proven for every
width (and any depth) from the user's own spec, each generic rule with its negative control. A
generic residual that does not reduce is never a refutation: the concrete proof then gives the
verdict (with its exact witness) and the title says why there is no generic proof."""

from __future__ import annotations

from pathlib import Path

import pytest

from verify.certificates import Proven, Refuted, Undecided
from verify.errors import BadInput
from verify.lang.spec import load_spec, parse_spec
from verify.testing.checking import check
from verify.testing.generic_check import generic_proof

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

DENSE = "[[layer]]\ntype = 'dense'\nout = {out}\n{extra}"
ACT = "[[layer]]\ntype = 'activation'\nname = '{name}'\n"


def spec(*layers: str, input: int = 2, loss: str = "") -> object:
    head = f"name = 'test'\ninput = {input}\n" + (f"loss = '{loss}'\n" if loss else "")
    return parse_spec(head + "".join(layers))


def dense(out: int, bias: bool = False, extra: str = "") -> str:
    return DENSE.format(out=out, extra=("bias = true\n" if bias else "") + extra)


def act(name: str) -> str:
    return ACT.format(name=name)


def proven_generic(model, quantity: str) -> Proven:
    v = check(model, quantity, mode="generic")
    assert isinstance(v, Proven) and v.mode == "generic", (v.title, getattr(v, "reason", ""))
    assert any(h.startswith("every width") or h.startswith("n symbolic") for h in v.hypotheses)
    return v


def not_generic(model, quantity: str) -> str:
    """The control: no generic proof (the reason), and the generic engine never claims a refutation."""
    out = generic_proof(model, quantity)
    assert not out.proven and out.reason
    assert out.verdict is None or isinstance(out.verdict, Undecided)
    return out.reason


# ---------------------------------------------------------------- quantity forms (item 1)

def test_du_1_generic_row_and_column_norms_with_bias_entry():
    m = load_spec(EXAMPLES / "two_layer_relu_bias.toml")
    v = proven_generic(m, "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")
    assert "n_1 (3 in the spec)" in " ".join(v.hypotheses)
    assert any("e_i^T D = d_i e_i^T" in s.reason for s in v.steps)


def test_du_1_generic_control_bias_left_out_stays_refuted_with_witness():
    m = load_spec(EXAMPLES / "two_layer_relu_bias.toml")
    assert "does not reduce" in not_generic(m, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    v = check(m, "sum(W1[i,:]**2) - sum(W2[:,i]**2)", mode="generic")
    assert isinstance(v, Refuted) and v.witness is not None and "[no generic proof:" in v.title


def test_du_1k_generic_degree_two_and_its_control():
    m = load_spec(EXAMPLES / "squared_relu.toml")
    proven_generic(m, "sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)")
    not_generic(m, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")


def test_du_3_generic_gram_matrices_and_relu_control():
    m = load_spec(EXAMPLES / "deep_linear_mixed.toml")
    proven_generic(m, "W1 @ W1.T - W2.T @ W2")
    not_generic(m, "W2 @ W2.T - W3.T @ W3")


def test_du_2_generic_frobenius_norms_and_traces_and_control():
    m = spec(dense(3), act("relu"), dense(2), act("relu"), dense(1))
    proven_generic(m, "norm(W2)**2 - norm(W3)**2")
    proven_generic(m, "trace(W1 @ W1.T) - trace(W2.T @ W2)")
    not_generic(m, "norm(W1)**2 - 2*norm(W2)**2")


def test_du_4_generic_shared_layers_any_pattern_and_control():
    m = load_spec(EXAMPLES / "sparse_shared_relu.toml")
    v = proven_generic(m, "norm(v1)**2 - norm(v2)**2")
    assert any("any number by linearity" in s.reason for s in v.steps)
    not_generic(m, "norm(v1)**2 - 2*norm(v2)**2")


def test_cross_entropy_generic_sum_of_output_biases_and_control_without_the_loss():
    m = load_spec(EXAMPLES / "softmax_classifier.toml")
    v = proven_generic(m, "sum(b2)")
    assert any("1^T delta = 0" in s.reason for s in v.steps)
    free = spec(dense(4, True), act("tanh"), dense(3, True), input=3)
    assert "does not reduce" in not_generic(free, "sum(b2)")


# ---------------------------------------------------------------- layer rules (item 2)

CONV = ("[[layer]]\ntype = 'conv2d'\nheight = 3\nwidth = 3\nkernel = 2\nout_channels = 2\n")
POOL = "[[layer]]\ntype = 'pool'\nkind = '{kind}'\nheight = 2\nwidth = 2\nsize = 2\n"


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_du_4_generic_balance_through_pooling(kind):
    m = spec(CONV, act("relu"), POOL.format(kind=kind), dense(1), input=9)
    v = proven_generic(m, "norm(v1)**2 - norm(W2)**2")
    assert any(f"({kind} pooling) is x -> S x" in h for h in v.hypotheses)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_du_4_generic_pooling_control_tanh_before_the_pool(kind):
    m = spec(CONV, act("tanh"), POOL.format(kind=kind), dense(1), input=9)
    assert "tanh declares no homogeneity" in not_generic(m, "norm(v1)**2 - norm(W2)**2")


def test_attention_generic_any_tokens_and_key_width_and_control():
    for tokens, key in ((2, 2), (3, 1)):
        m = spec(f"[[layer]]\ntype = 'attention'\ntokens = {tokens}\nkey_dim = {key}\n", dense(1), input=2 * tokens)
        v = proven_generic(m, "Wq1.T @ Wq1 - Wk1.T @ Wk1")
        assert f"any T; {tokens} in the spec" in " ".join(v.hypotheses)
        assert f"k ({key} in the spec)" in " ".join(v.hypotheses)
    assert "does not reduce" in not_generic(m, "Wq1 @ Wq1.T - Wk1 @ Wk1.T")


def test_weight_norm_generic_rows_and_controls():
    m = load_spec(EXAMPLES / "weightnorm_relu.toml")
    v = proven_generic(m, "sum(W1[i,:]**2)")
    assert any("J_i" in s.text for s in v.steps)
    not_generic(m, "b1[i]**2 - sum(W2[:,i]**2)")
    plain = spec(dense(2, True), act("relu"), dense(1))  # no normalisation: the row norm moves
    not_generic(plain, "sum(W1[i,:]**2)")


def test_du_1_generic_inside_residual_blocks_per_neuron_per_block_and_skip_control():
    m = load_spec(EXAMPLES / "residual_relu.toml")
    proven_generic(m, "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")
    proven_generic(m, "norm(W1)**2 + norm(b1)**2 - norm(W2)**2")
    not_generic(m, "norm(W2)**2 - norm(W3)**2")
    not_generic(m, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")


def test_nm_1_generic_from_user_specs_with_and_without_bias_and_control():
    m = load_spec(EXAMPLES / "layernorm_relu.toml")
    v = proven_generic(m, "norm(W1)**2")
    assert any("Euler's theorem for degree 0" in s.reason for s in v.steps)
    not_generic(m, "norm(W2)**2")
    l2 = spec(dense(3, True), "[[layer]]\ntype = 'normalize'\nkind = 'l2'\n", act("relu"), dense(1))
    proven_generic(l2, "norm(W1)**2 + norm(b1)**2")
    not_generic(l2, "norm(W1)**2")  # NM-1's control: the bias is in the layer
    assert isinstance(check(l2, "norm(W1)**2", mode="generic"), Refuted)


# ---------------------------------------------------------------- depth (item 3)

def test_ex_2_generic_any_depth_from_a_user_spec_and_control():
    m = spec("[[layer]]\ntype = 'diagonal'\ndepth = 4\n", input=3)
    v = proven_generic(m, "u1[i]**2 - u4[i]**2")
    assert any("any depth" in h for h in v.hypotheses)
    not_generic(m, "u1[i]**2 + u4[i]**2")


def test_du_1_generic_every_hidden_layer_of_a_deep_spec():
    m = spec(dense(3), act("relu"), dense(3), act("relu"), dense(2), act("relu"), dense(1))
    v = proven_generic(m, "sum(W2[i,:]**2) - sum(W3[:,i]**2)")
    depth = next(h for h in v.hypotheses if h.startswith("for every hidden layer h"))
    assert "(W1, W2), (W2, W3), (W3, W4)" in depth


# ---------------------------------------------------------------- no rule: say why, fall back

@pytest.mark.parametrize("quantity, why", [
    ("sum(W1[0,:]**2) - sum(W2[:,0]**2)", "concrete entry"),
    ("sqrt(sum(W1[i,:]**2))", "applies sqrt"),
    ("norm(W1) - norm(W2)", "norm without **2"),
])
def test_du_1_generic_says_which_part_of_the_quantity_has_no_word_form(quantity, why):
    m = load_spec(EXAMPLES / "squared_relu.toml")
    assert why in not_generic(m, quantity)


def test_du_1_generic_says_which_layer_has_no_rule():
    two = spec(dense(3), act("relu"), act("relu"), dense(1))
    assert "second activation" in not_generic(two, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    gd = generic_proof(load_spec(EXAMPLES / "squared_relu.toml"), "sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)", dynamics="gd")
    assert gd.verdict is None and "gradient flow" in gd.reason


def test_generic_mode_bad_value_is_one_line():
    with pytest.raises(BadInput, match="mode="):
        check(load_spec(EXAMPLES / "squared_relu.toml"), "sum(W1[i,:]**2)", mode="everything")  # type: ignore[arg-type]


# ---------------------------------------------------------------- the CLI

def run_cli(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    from verify.jobs.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def test_du_1_cli_generic_prints_the_derivation_and_exits_0():
    code, out = run_cli("check", str(EXAMPLES / "two_layer_relu_bias.toml"), "--generic",
                        "--quantity", "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")
    assert code == 0 and "[generic, flow]" in out and "derivation:" in out and "every width" in out


def test_du_1_cli_concrete_proof_also_reports_the_generic_one():
    code, out = run_cli("check", str(EXAMPLES / "squared_relu.toml"), "--quantity",
                        "sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)")
    assert code == 0 and "[concrete, flow]" in out and out.rstrip().splitlines()[-1].startswith("generic: PROVEN")
    code, out = run_cli("check", str(EXAMPLES / "conv2d_maxpool.toml"), "--quantity", "sum(v1[0:4]**2) - W2[0,0]**2")
    assert code == 0 and "generic: no generic proof: the part" in out


def test_du_1_cli_generic_refutation_keeps_its_witness_and_exit_1():
    code, out = run_cli("check", str(EXAMPLES / "tanh_two_layer.toml"), "--generic", "--quantity",
                        "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert code == 1 and "REFUTED" in out and "witness (exact)" in out and "no generic proof" in out


def test_du_1_cli_json_carries_the_generic_verdict():
    import json
    code, out = run_cli("check", str(EXAMPLES / "deep_linear_mixed.toml"), "--json", "--quantity", "W1 @ W1.T - W2.T @ W2")
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "proven" and data["generic"]["mode"] == "generic"
    assert data["generic"]["verdict"] == "proven"


def test_cli_generic_with_a_pytorch_module_is_one_line_bad_input(capsys):
    from verify.jobs.cli import main
    assert main(["check", "model.py:Net", "--generic", "--quantity", "norm(W1)**2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--generic reads a TOML spec" in err[0]
