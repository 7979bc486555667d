"""verify.torch.check / assert_conserved / strategies / bad input / CLI on model.py:ClassName."""

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0 && pip install -e '.[torch]')")
from hypothesis import given, settings  # noqa: E402
from torch import nn  # noqa: E402

import verify.torch as vt  # noqa: E402
from verify.jobs.cli import main  # noqa: E402
from verify.errors import BadInput, UnknownName  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
X = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_du_1_on_a_pytorch_mlp_is_proven_and_a_control_refuted():
    q = "sum(0.weight[i,:]**2) + 0.bias[i]**2 - sum(2.weight[:,i]**2)"
    assert vt.check(_mlp(), q, example_input=X).verdict == "proven"
    assert vt.assert_conserved(_mlp(), q, example_input=X).verdict == "proven"
    with pytest.raises(vt.api.NotConserved):
        vt.assert_conserved(_mlp(), "sum(0.weight[i,:]**2) - sum(2.weight[:,i]**2)", example_input=X)


def test_weight_decay_and_gd_and_momentum_numeric():
    q = "sum(0.weight[i,:]**2) + 0.bias[i]**2 - sum(2.weight[:,i]**2)"
    assert vt.check(_mlp(), q, example_input=X, weight_decay=0.1, method="numeric", draws=10).verdict == \
        "numerically violated"
    assert vt.check(_mlp(), q, example_input=X, dynamics="gd", method="numeric", draws=10).verdict == \
        "numerically violated"
    lin = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    mq = "0.weight @ 0.weight.T - 1.weight.T @ 1.weight"
    v = vt.check(lin, mq, example_input=torch.zeros(3, 2), dynamics="momentum", method="numeric", draws=10)
    assert v.verdict == "numerically violated"  # heavy ball breaks the balance (Marcotte et al. 2024)


class _BN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def test_batchnorm_mlp_numeric_route():
    BN = _BN
    v = vt.check(BN(), "bn.weight[i]**2 + bn.bias[i]**2 - sum(fc2.weight[:,i]**2)", example_input=X, draws=15)
    # <= 1e-12 of the terms, unless a draw needed the gradient's round-off allowance (a zero-variance
    # batch), whose relative residual is |r| / (m + atol / RTOL) (verify.torch._numeric.judge).
    assert v.verdict == "numerically conserved"
    assert v.max_relative_residual <= 1e-12 or any("round-off of the computed gradient" in n for n in v.notes)
    assert "numerically conserved (" in v.kind and "Proven" not in vt.verdicts.render(v)
    bad = vt.check(BN(), "sum(fc2.weight**2)", example_input=X, draws=15)
    assert bad.verdict == "numerically violated" and bad.exact is None  # not mapped: no exact re-check


def test_discover_refuses_a_batch_coupled_module():
    with pytest.raises(BadInput, match="(?i)batch-coupled"):
        vt.discover(_BN(), X)


class _CenterBatch(nn.Module):  # couples the points without any in-place op (torch.func runs it)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = self.fc(x)
        return h - h.mean(0)


def test_count_refuses_batch_coupling_that_torch_func_accepts():
    from verify.torch._discover import count_laws
    with pytest.raises(BadInput, match="other points of the batch"):
        count_laws(_CenterBatch().double(), (3,), points=8, seed=0)


def test_gram_route_finds_a_known_kernel_and_none_in_a_full_rank_jacobian(monkeypatch):
    """The round-0 null space by the Gram routes (J^T J, taken from GRAM_MIN columns on, here forced at
    D = 400): rank 350 by construction gives 50 orthonormal null vectors, by the pivoted-Cholesky route
    and by the eigh route alike; full rank gives none."""
    from verify.torch._discover import _null_space
    from verify.torch._rank import _unit_rows, gram_null_space, pivoted_null_space

    def no_svd(*args, **kwargs):
        raise AssertionError("the SVD fallback ran: the Gram route did not decide")
    monkeypatch.setattr(torch.linalg, "svd", no_svd)
    g = torch.Generator().manual_seed(0)
    D = 400
    J = torch.randn(D + 100, D - 50, generator=g, dtype=torch.float64) @ torch.randn(D - 50, D, generator=g,
                                                                                    dtype=torch.float64)
    assert _null_space(J, gram_min=D)[0].shape == (50, D)  # decided before the SVD
    Jn = _unit_rows(J)
    for route in (pivoted_null_space, gram_null_space):
        N, gap = route(Jn)
        assert N.shape == (50, D) and gap > 10, route.__name__
        assert float((J @ N.T).abs().max()) <= 1e-9 * float(J.abs().max()) * D
        assert float((N @ N.T - torch.eye(50, dtype=torch.float64)).abs().max()) <= 1e-10
    N2, _ = _null_space(torch.randn(D + 100, D, generator=g, dtype=torch.float64), gram_min=D)
    assert N2.shape == (0, D)


def test_gram_routes_refuse_a_singular_value_in_the_grey_zone_and_the_svd_decides():
    """Negative control: J = U diag(s) V^T with 350 singular values in [0.5, 1], one at 30 res (between the
    drop threshold 10 res and the keep threshold 100 res, res = sqrt(16 eps) sigma_max) and 49 zeros: neither
    Gram route decides; the SVD (threshold 1e-9 sigma_max) keeps it, 49 null directions."""
    from verify.torch._rank import EPS, gram_null_space, null_space, pivoted_null_space
    g = torch.Generator().manual_seed(1)
    D = 400
    U = torch.linalg.qr(torch.randn(D + 100, D, generator=g, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0]
    s = torch.zeros(D, dtype=torch.float64)
    s[:350] = torch.linspace(1.0, 0.5, 350, dtype=torch.float64)
    s[350] = 30 * (16 * EPS) ** 0.5
    J = (U * s) @ V.T
    assert pivoted_null_space(J) is None and gram_null_space(J) is None
    N, _ = null_space(J, gram_min=D)  # rows rescaled to norm 1 first: the grey value moves, the SVD keeps it
    assert N.shape == (49, D)


def _degenerate_bn_draw(bn_bias=0.0):
    """The Hypothesis-shrunk draw that was called a violation: fc1.weight = 0 and x = 0, so the batch
    variance is 0; fc1.bias[2] = 0.625, bn.weight[2] = 0.375, fc2.weight[0, 2] = 1, dL/dy = (1, 0, 0, 0)."""
    z = {n: torch.zeros(p.shape, dtype=torch.float64) for n, p in _BN().named_parameters()}
    z["fc1.bias"][2], z["bn.weight"][2], z["bn.bias"][2], z["fc2.weight"][0, 2] = 0.625, 0.375, bn_bias, 1.0
    C = torch.zeros(4, 1, dtype=torch.float64)
    C[0, 0] = 1.0
    return {"params": z, "X": torch.zeros(4, 3, dtype=torch.float64), "C": C, "lam": 0.0, "desc": ""}


def test_batchnorm_zero_variance_draw_is_round_off_not_a_violation():
    """Regression: the BN output there is exactly 0 but computed as 7.1e-15 (fused h*alpha + (beta -
    mean*alpha), alpha = 0.375/sqrt(1e-5)); the fc2 gradient is that round-off, the gamma gradient is 0.
    The terms alone (relative residual 1.0) cannot tell; the gradient's measured round-off (atol) can."""
    from verify.torch._numeric import RTOL, judge, setup
    from verify.torch._qeval import compile_quantity
    s = setup(_BN(), X.double(), dynamics="flow", weight_decay=None, loss=None)
    shapes = dict(s.shapes)
    law = compile_quantity("bn.weight[i]**2 + bn.bias[i]**2 - sum(fc2.weight[:,i]**2)", shapes)
    j = judge(s, law, _degenerate_bn_draw())
    k = int(j.relative.argmax())
    assert abs(float(j.residual[k])) == pytest.approx(1.42e-14, rel=0.05)  # the reported residual ...
    assert float(j.scale[k]) == pytest.approx(abs(float(j.residual[k])))  # ... equal to its only term
    assert j.used_atol and not j.violated and float(j.relative.max()) <= RTOL
    assert 0 < float(j.atol[k]) <= 1e-10  # round-off sized: ~1e-12 here, not a loosened tolerance
    # Negative controls on the same module: where the relu is active (bn.bias[2] = 0.5) the fc2 gradient
    # is O(1) and sum(fc2.weight**2) moves; the law does not.
    control = compile_quantity("sum(fc2.weight**2)", shapes)
    live = _degenerate_bn_draw(bn_bias=0.5)
    jc = judge(s, control, live)
    assert jc.violated and abs(float(jc.residual.max())) > 1e6 * float(jc.atol.max())
    assert not judge(s, law, live).violated


def test_unknown_parameter_names_the_closest():
    with pytest.raises(UnknownName, match="Closest: 0.weight"):
        vt.check(_mlp(), "sum(0.weigth**2)", example_input=X)


def test_wrong_example_input_says_what_the_module_expects():
    with pytest.raises(BadInput, match="expects 3 features"):
        vt.check(_mlp(), "sum(0.weight**2)", example_input=torch.zeros(4, 5))


@settings(max_examples=5, deadline=None)
@given(vt.strategies.parameters(_mlp(), scale=2.0), vt.strategies.inputs(X))
def test_strategies_give_named_float64_tensors(params, x):
    assert set(params) == {n for n, _ in _mlp().named_parameters()}
    assert x.dtype == torch.float64 and x.shape == X.shape and float(x.abs().max()) <= 1.0


def _cli(*args):
    return main(list(args))


def test_cli_module_route(capsys):
    ref = str(ROOT / "examples" / "torch" / "specs.py") + ":TwoLayerReluBias"
    code = _cli("check", ref, "--input-shape", "4,3", "--quantity",
                "sum(fc1.weight[i,:]**2) + fc1.bias[i]**2 - sum(fc2.weight[:,i]**2)")
    assert code == 0 and "PROVEN" in capsys.readouterr().out


@pytest.mark.parametrize("ref,shape,msg", [
    ("nope.py:Net", "4,3", "no such file"), ("SPECS:Nett", "4,3", "Unknown class 'Nett'"),
    ("SPECS:TwoLayerReluBias", None, "needs --input-shape"), ("SPECS:TwoLayerReluBias", "4,x", "comma-separated"),
    ("SPECS:TwoLayerReluBias", "4,7", "does not fit"), ("BROKEN:Net", "4,3", "importing")])
def test_cli_bad_input_one_line_exit_2(ref, shape, msg, capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise RuntimeError('boom')\n")
    ref = ref.replace("SPECS", str(ROOT / "examples" / "torch" / "specs.py")).replace("BROKEN", str(broken))
    args = ["check", ref, "--quantity", "sum(fc1.weight**2)"] + (["--input-shape", shape] if shape else [])
    assert _cli(*args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_help_says_it_imports_the_users_file(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "IMPORTS AND RUNS" in capsys.readouterr().out


def test_without_torch_one_line_install_hint_exit_2(tmp_path):
    """A torch that fails to import (a stub package first on sys.path) gives the install line."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    code = ("import sys; sys.path.insert(0, %r); from verify.jobs.cli import main; "
            "sys.exit(main(['check', 'm.py:Net', '--input-shape', '2,3', '--quantity', 'x']))" % str(tmp_path))
    (tmp_path / "m.py").write_text("class Net: pass\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "pip install -e '.[torch]'" in r.stderr and r.stderr.count("\n") == 1


def test_load_module_of_a_file_that_is_not_python_is_bad_input(tmp_path):
    """A file Python has no loader for (``model.txt``) is bad input, not an AttributeError on a None spec.
    (The CLI sends only ``*.py:Class`` here; ``load_module`` is public in ``verify.torch.cli_hook``.)"""
    from verify.torch.cli_hook import load_module
    model = tmp_path / "model.txt"
    model.write_text("import torch\nclass Net(torch.nn.Module): pass\n")
    with pytest.raises(BadInput, match="not a Python source file"):
        load_module(f"{model}:Net")
    control = tmp_path / "model.py"  # the same text as a .py file loads
    control.write_text(model.read_text())
    assert load_module(f"{control}:Net").__class__.__name__ == "Net"


def test_gelu_balance_control_of_the_transformer_block_still_fails():
    """Negative control after the round-off allowance: the per-unit balance across GELU (not homogeneous)
    of examples/torch/architectures.py's transformer block is violated at a generic float64 draw, far
    above its measured atol, while the query/key balance of the same block is not. (The full check with
    Hypothesis' shrinking takes ~25 s CPU, before and after this rule: run by the README example.)"""
    sys.path.insert(0, str(ROOT / "examples" / "torch"))
    from architectures import QUANTITIES, TransformerBlock
    from verify.torch._numeric import judge, setup
    from verify.torch._qeval import compile_quantity
    shape, qs = QUANTITIES[TransformerBlock]
    g = torch.Generator().manual_seed(3)
    s = setup(TransformerBlock(), torch.randn(shape, generator=g), dynamics="flow", weight_decay=None, loss=None)
    d = {"params": {n: torch.randn(sh, generator=g, dtype=torch.float64) for n, sh in s.shapes.items()},
         "X": torch.randn(shape, generator=g, dtype=torch.float64),
         "C": torch.randn(shape[0], s.out_dim, generator=g, dtype=torch.float64), "lam": 0.0}
    gelu = judge(s, compile_quantity(qs[1][0], dict(s.shapes)), d)
    k = int(gelu.relative.argmax())
    assert gelu.violated and float(gelu.relative[k]) > 1e-3
    assert 0 < float(gelu.atol[k]) < 1e-6 * abs(float(gelu.residual[k]))  # the allowance is round-off sized
    assert not judge(s, compile_quantity(qs[0][0], dict(s.shapes)), d).violated
