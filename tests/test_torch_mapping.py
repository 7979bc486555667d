"""from_module: supported ops map (and the mapped Model computes what the module computes), unsupported
ops are named in one line, conv patterns equal the core's helpers, quantities evaluate like SymPy."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0 && pip install -e '.[torch]')")
import sympy as sp  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import verify.torch as vt  # noqa: E402
from verify.model import conv1d_pattern, conv2d_pattern, pool2d_windows  # noqa: E402
from verify.lang.quantity import instantiate, parse_quantity  # noqa: E402
from verify.torch._ops import conv_pattern, pool_windows  # noqa: E402
from verify.torch._qeval import compile_quantity, evaluate  # noqa: E402

G = torch.Generator().manual_seed(0)


def test_conv_pattern_equals_core_helpers():
    assert conv_pattern(2, (4, 5), 3, (3, 2), (2, 2), (1, 1)) == conv2d_pattern(4, 5, (3, 2), 2, 1, 2, 3)
    assert conv_pattern(1, (6,), 1, (3,), (2,), (1,)) == conv1d_pattern(6, 3, 2, 1)
    assert pool_windows(2, (4, 4), (2, 2), (2, 2)) == pool2d_windows(4, 4, 2, channels=2)


class Everything(nn.Module):
    """Conv2d (stride, padding) + every activation + pooling + flatten + residual + F.normalize."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(3, 2, 2, stride=2, bias=False)
        self.fc1, self.fc2 = nn.Linear(2 * 2 * 2, 5), nn.Linear(5, 5, bias=False)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        h = F.leaky_relu(self.conv(x), 0.25)
        h = torch.tanh(self.conv2(h))
        h = h.view(h.size(0), -1)
        h = F.gelu(self.fc1(h))
        h = h + self.fc2(torch.sigmoid(h))
        h = F.softplus(F.normalize(h, dim=1))
        return self.out(nn.functional.silu(h))


def test_supported_ops_map_and_agree_numerically():
    m = vt.from_module(Everything(), torch.randn(3, 2, 4, 4, generator=G))
    assert m.mapped, m.unsupported
    assert m.max_difference <= 1e-12
    assert m.layout("conv.weight").kind == "flat" and m.layout("fc1.weight").kind == "same"


class WithBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.bn, self.conv = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Conv1d(1, 1, 2)

    def forward(self, x):
        return self.conv(self.bn(self.fc(x)).unsqueeze(1))


def test_unsupported_ops_named_one_line_each():
    m = vt.from_module(WithBatchNorm(), torch.randn(4, 3, generator=G))
    assert not m.mapped
    assert any("BatchNorm1d 'bn'" in r and "node 'bn'" in r for r in m.unsupported)
    assert all("\n" not in r for r in m.unsupported)


def test_untraceable_module_gives_reason_and_numeric_fallback():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)  # data-dependent control flow

    m = vt.from_module(Branchy(), torch.randn(3, 2, generator=G))
    assert not m.mapped and m.unsupported[0].startswith("torch.fx cannot trace Branchy")
    v = vt.check(Branchy(), "sum(fc.weight**2)", example_input=torch.randn(3, 2, generator=G), draws=10)
    assert v.mode == "numeric" and any("fallback" in n for n in v.notes)


def test_scaled_attention_maps_exactly():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(4, 2, bias=False) for _ in range(3))

        def forward(self, x):
            return F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x)).flatten(1)

    m = vt.from_module(Attn(), torch.randn(2, 3, 4, generator=G))
    assert m.mapped and m.max_difference <= 1e-12
    assert m.layout("q.weight").kind == "transpose"


@pytest.mark.parametrize("text", [
    "sum(a.weight[i,:]**2) + a.bias[i]**2 - sum(b.weight[:,i]**2)", "a.weight @ a.weight.T - b.weight.T @ b.weight",
    "sum(c.weight[i,:,:,:]**2) - norm(c.weight[:,i,:,:])**2", "(b.weight.T @ b.weight)[i,i] / (1 + a.bias[i]**2)",
    "trace(b.weight.T @ b.weight) + sqrt(abs(a.bias[j])) + exp(tanh(a.bias)) @ a.bias"])
def test_quantity_evaluator_matches_sympy_and_jvp(text):
    shapes = {"a.weight": (3, 4), "a.bias": (3,), "b.weight": (2, 3), "c.weight": (2, 2, 2, 2)}
    vals = {k: torch.randn(s, generator=G, dtype=torch.float64) for k, s in shapes.items()}
    tans = {k: torch.randn(s, generator=G, dtype=torch.float64) for k, s in shapes.items()}
    prog = compile_quantity(text, shapes)
    t, d, m = evaluate(prog, {k: (vals[k], tans[k]) for k in shapes})
    P = {k: sp.Matrix(vals[k].reshape(s[0], -1).tolist() if len(s) > 1 else vals[k].reshape(-1, 1).tolist())
         for k, s in shapes.items()}
    ref = np.array([float(v) for v in instantiate(parse_quantity(text), P, shapes=shapes).values()])
    assert np.max(np.abs(t.numpy() - ref)) <= 1e-12 * (1 + np.max(np.abs(ref)))
    f = lambda *a: evaluate(prog, {k: (x, torch.zeros_like(x)) for k, x in zip(shapes, a)})[0]  # noqa: E731
    _, jd = torch.func.jvp(f, tuple(vals.values()), tuple(tans.values()))
    assert torch.allclose(jd, d, rtol=1e-12, atol=1e-12)
    assert bool((m >= d.abs() - 1e-12).all())


def test_conv_index_map_in_quantities():
    """conv.weight[o,c,i,j] means free parameter 1 + ((o*C + c)*kh + i)*kw + j of the pattern."""
    net = nn.Sequential(nn.Conv2d(2, 2, 2, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1, bias=False))
    m = vt.from_module(net, torch.randn(2, 2, 3, 3, generator=G))
    w = net[0].weight.detach().double()
    flat = m.model_params(dict(net.named_parameters()))["0.weight"]
    assert flat[1 + ((1 * 2 + 0) * 2 + 1) * 2 + 0 - 1] == w[1, 0, 1, 0].item()
