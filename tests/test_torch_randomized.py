"""verify.torch.check on a mapped module through the randomized exact route (checking.check's rules):
auto's choice is stated, the verdict is ProvenRandomized (never Proven), a non-conserved quantity is
refuted with an exact witness that float64 autograd reproduces, and 4-d kernels evaluate exactly as
SymPy's instantiate reads them."""

import ast
import random
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0 && pip install -e '.[torch]')")
import sympy as sp  # noqa: E402
from torch import nn  # noqa: E402

import verify.torch as vt  # noqa: E402
from verify.certificates import Proven, ProvenRandomized, Refuted  # noqa: E402
from verify.errors import BadInput  # noqa: E402
from verify.interpret.exact_arith import RationalArith  # noqa: E402
from verify.lang.quantity import instantiate, parse_quantity  # noqa: E402
from verify.prove.exact_quantity import as_qmatrix  # noqa: E402
from verify.torch.api import exact_quantity_build  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "torch"))
from architectures import ResNetBasicBlock  # noqa: E402

BALANCE = "sum(conv1.weight[i,:,:,:]**2) - sum(conv2.weight[:,i,:,:]**2)"
X = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(0))


def _block():
    torch.manual_seed(0)
    return ResNetBasicBlock(2)


def test_resnet_block_channel_balance_auto_takes_the_randomized_route_and_says_why():
    v = vt.check(_block(), BALANCE, example_input=X)  # method="auto": 72 kernel entries > 64
    assert isinstance(v, ProvenRandomized) and not isinstance(v, Proven)
    assert v.verdict == "proven (randomized)"
    assert "[auto: randomized route, 72 parameter entries x 1 data point > 64]" in v.title
    assert v.points == 2 and 0 < v.epsilon <= 1e-20
    assert "PROVEN (RANDOMIZED)" in vt.verdicts.render(v)
    assert vt.assert_conserved(_block(), BALANCE, example_input=X).verdict == "proven (randomized)"


def _witness_rate(module, quantity: str, w) -> float:
    """dQ/dt = -<grad Q, grad L> in float64 at the witness: its parameters, data and the square loss
    1/2 ||f(x) - t||^2 with its targets (the loss text is our own output; literal_eval reads no code)."""
    m = module.double()
    params = {n: torch.tensor(np.vectorize(lambda a: float(Fraction(a)), otypes=[float])(np.array(w.params[n])),
                              dtype=torch.float64) for n, _ in m.named_parameters()}
    x = torch.tensor([[float(Fraction(v)) for v in point] for point in w.data], dtype=torch.float64)
    t = torch.tensor([[float(Fraction(v)) for v in row] for row in ast.literal_eval(w.loss.split(" with t = ")[1])],
                     dtype=torch.float64)
    theta = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    y = torch.func.functional_call(m, theta, (x.reshape((-1,) + tuple(X.shape[1:])),)).reshape(len(w.data), -1)
    grads_l = torch.autograd.grad(0.5 * ((y - t) ** 2).sum(), list(theta.values()))
    i = int(w.entry.split("[i=")[1].split("]")[0])
    q = (theta["conv2.weight"][i] ** 2).sum()
    grads_q = torch.autograd.grad(q, list(theta.values()), allow_unused=True)
    return -sum(float((gq * gl).sum()) for gq, gl in zip(grads_q, grads_l) if gq is not None)


@pytest.mark.parametrize("method", ["auto", "randomized"])
def test_resnet_block_non_conserved_control_refuted_through_the_randomized_route(method):
    q = "sum(conv2.weight[i,:,:,:]**2)"  # negative control: the skip connection breaks it
    v = vt.check(_block(), q, example_input=X, method=method)
    assert isinstance(v, Refuted) and "[randomized route]" in v.title
    w = v.witness
    assert w is not None and Fraction(w.value) != 0
    assert np.array(w.params["conv1.weight"]).shape == (2, 2, 3, 3)  # PyTorch's layout
    # the exact value, reproduced by float64 autograd on the module itself at the witness point
    assert _witness_rate(ResNetBasicBlock(2), q, w) == pytest.approx(float(Fraction(w.value)), rel=1e-9)


def test_small_mapped_module_auto_stays_symbolic_and_explicit_methods():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    q = "sum(0.weight[i,:]**2) + 0.bias[i]**2 - sum(2.weight[:,i]**2)"
    v = vt.check(net, q, example_input=x)
    assert isinstance(v, Proven) and "[auto: symbolic route, 26 parameter entries x 1 data point <= 64]" in v.title
    r = vt.check(net, q, example_input=x, method="randomized")
    assert isinstance(r, ProvenRandomized) and "[auto" not in r.title
    assert vt.check(net, q, example_input=x, method="exact").verdict == "proven"  # exact = symbolic
    bad = vt.check(net, "sum(0.weight[i,:]**2) - sum(2.weight[:,i]**2)", example_input=x, method="randomized")
    assert bad.verdict == "refuted" and Fraction(bad.witness.value) != 0


def test_symbolic_or_randomized_on_an_unmapped_module_is_bad_input():
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    for method in ("symbolic", "randomized"):
        with pytest.raises(BadInput, match="does not map onto the model definition"):
            vt.check(bn, "sum(2.weight**2)", example_input=torch.randn(4, 3), method=method)


def test_exact_build_of_4d_kernels_equals_instantiate_at_rational_points():
    """The randomized route's quantity on exact values (verify.lang.quantity_exact, n-d indexing)
    against SymPy's instantiate, entry by entry, at random rational kernels."""
    mapping = vt.from_module(_block(), X)
    rng = random.Random(0)
    texts = [BALANCE, "conv1.weight[0,i,1,:] * conv2.weight[i,0,:,2]",
             "sum(conv1.weight[:,:,j,k]**2) - conv2.weight[0,1,j,k]"]
    for text in texts:
        vals = {lay.name: np.array([Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(int(np.prod(
            lay.torch_shape)))], dtype=object) for lay in mapping.layouts}
        ar = RationalArith()
        got = exact_quantity_build(mapping, text)({k: as_qmatrix(v, None, ar) for k, v in vals.items()})
        want = instantiate(parse_quantity(text), {k: sp.Matrix(len(v), 1, [sp.Rational(a.numerator, a.denominator)
                                                                             for a in v]) for k, v in vals.items()},
                           shapes={lay.name: lay.torch_shape for lay in mapping.layouts})
        assert len(got) == len(want) > 1
        for key, value in want.items():
            label = "[" + ",".join(f"{a}={b}" for a, b in key) + "]"
            assert Fraction(got[label].v) == Fraction(int(value.p), int(value.q)), (text, label)


def test_cli_module_route_takes_method_randomized(capsys):
    from verify.jobs.cli import main
    model = str(Path(__file__).resolve().parents[1] / "examples" / "torch" / "architectures.py") + ":ResNetBasicBlock"
    args = ["check", model, "--input-shape", "2,2,4,4", "--method", "randomized", "--quantity"]
    assert main(args + [BALANCE]) == 0
    assert "PROVEN (RANDOMIZED)" in capsys.readouterr().out
    assert main(args + ["sum(conv2.weight[i,:,:,:]**2)"]) == 1
    out = capsys.readouterr().out
    assert "REFUTED" in out and "[randomized route]" in out
