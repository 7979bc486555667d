"""PyTorch twins of every spec in examples/*.toml (same architecture, PyTorch's parameter names).

``TWINS`` maps each spec file to (class, example input shape, loss, [(spec quantity, torch quantity)]);
tests/test_torch_twins.py checks that both routes give the same verdicts (and law counts where
``verify discover`` handles the spec). Run one with the CLI:

    verify check examples/torch/specs.py:TwoLayerReluBias --input-shape 4,3 \\
        --quantity "sum(fc1.weight[i,:]**2) + fc1.bias[i]**2 - sum(fc2.weight[:,i]**2)"
"""

import torch
import torch.nn.functional as F
from torch import nn

from verify.torch import Hadamard, SharedLinear, WeightNormLinear


class AbsBalance(nn.Module):
    """abs as the activation: homogeneous of degree 1, derived by SymPy, not declared."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 3, bias=False), nn.Linear(3, 1, bias=False)

    def forward(self, x):
        return self.fc2(torch.abs(self.fc1(x)))


class AttentionReadout(nn.Module):
    """Single-head softmax attention (unscaled scores, no value projection) + linear read-out."""

    def __init__(self):
        super().__init__()
        self.q, self.k = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
        self.fc = nn.Linear(4, 1, bias=False)

    def forward(self, x):  # x: (batch, 2 tokens, width 2)
        a = torch.softmax(self.q(x) @ self.k(x).transpose(-2, -1), dim=-1)
        return self.fc((a @ x).flatten(1))


class Conv2dMaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2, bias=False)
        self.fc = nn.Linear(2, 1, bias=False)

    def forward(self, x):  # x: (batch, 1, 3, 3)
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))


class ConvLeaky(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 2, bias=False)
        self.act = nn.LeakyReLU(0.2)
        self.fc = nn.Linear(3, 1, bias=False)

    def forward(self, x):  # x: (batch, 1, 4)
        return self.fc(self.act(self.conv(x)).flatten(1))


def DeepLinearMixed():
    return nn.Sequential(nn.Linear(2, 2, bias=False), nn.Identity(), nn.Linear(2, 2, bias=False), nn.ReLU(),
                         nn.Linear(2, 1, bias=False))


class DiagonalDepth3(nn.Module):
    def __init__(self):
        super().__init__()
        self.diag = Hadamard(3, ("u1", "u2", "u3"))

    def forward(self, x):
        return self.diag(x)


class HadamardDifference(nn.Module):
    def __init__(self):
        super().__init__()
        self.diag = Hadamard(3, ("u", "u"), ("v", "v"))

    def forward(self, x):
        return self.diag(x)


def LayerNormRelu():
    return nn.Sequential(nn.Linear(2, 3, bias=False), nn.LayerNorm(3, elementwise_affine=False, eps=0.0), nn.ReLU(),
                         nn.Linear(3, 1, bias=False))


class ResidualRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 3), nn.Linear(3, 2, bias=False)
        self.out = nn.Linear(2, 1, bias=False)

    def forward(self, x):
        return self.out(x + self.fc2(F.relu(self.fc1(x))))


def SoftmaxClassifier():
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))


class SparseSharedRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = SharedLinear([[1, 0, 2], [2, 1, 0]])
        self.l2 = SharedLinear([[1, 1], [0, 2]])

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)))


class SquaredRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 3, bias=False), nn.Linear(3, 1, bias=False)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)) ** 2)


def SwishFormula():
    return nn.Sequential(nn.Linear(2, 3, bias=False), nn.SiLU(), nn.Linear(3, 1, bias=False))


def TanhTwoLayer():
    return nn.Sequential(nn.Linear(2, 2, bias=False), nn.Tanh(), nn.Linear(2, 1, bias=False))


class TwoLayerReluBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 3), nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class WeightNormRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = WeightNormLinear(2, 2, bias=True)
        self.fc2 = nn.Linear(2, 1, bias=False)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


BALANCE = ("sum(W1[i,:]**2) - sum(W2[:,i]**2)", "sum(fc1.weight[i,:]**2) - sum(fc2.weight[:,i]**2)")
SEQ_BALANCE = ("sum(W1[i,:]**2) - sum(W2[:,i]**2)", "sum(0.weight[i,:]**2) - sum(2.weight[:,i]**2)")

#: spec -> (constructor, example input shape (batch first), loss, [(spec quantity, torch quantity)])
TWINS = {
    "abs_balance.toml": (AbsBalance, (3, 2), None, [
        BALANCE, ("sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)", "sum(fc1.weight[i,:]**2) - 2*sum(fc2.weight[:,i]**2)")]),
    "attention_readout.toml": (AttentionReadout, (3, 2, 2), None, [
        ("Wq1.T @ Wq1 - Wk1.T @ Wk1", "q.weight @ q.weight.T - k.weight @ k.weight.T"),
        ("Wq1 @ Wq1.T - Wk1 @ Wk1.T", "q.weight.T @ q.weight - k.weight.T @ k.weight")]),
    "conv2d_maxpool.toml": (Conv2dMaxPool, (3, 1, 3, 3), None, [
        ("sum(v1[0:4]**2) - W2[0,0]**2", "sum(conv.weight[0,:,:,:]**2) - fc.weight[0,0]**2"),
        ("sum(v1[0:4]**2) - W2[0,1]**2", "sum(conv.weight[0,:,:,:]**2) - fc.weight[0,1]**2")]),
    "conv_leaky.toml": (ConvLeaky, (3, 1, 4), None, [
        ("sum(v1**2) - sum(W2**2)", "sum(conv.weight**2) - sum(fc.weight**2)"),
        ("v1[0]**2 - W2[0,0]**2", "conv.weight[0,0,0]**2 - fc.weight[0,0]**2")]),
    "deep_linear_mixed.toml": (DeepLinearMixed, (3, 2), None, [
        ("W1 @ W1.T - W2.T @ W2", "0.weight @ 0.weight.T - 2.weight.T @ 2.weight"),
        ("W2 @ W2.T - W3.T @ W3", "2.weight @ 2.weight.T - 4.weight.T @ 4.weight")]),
    "diagonal_depth3.toml": (DiagonalDepth3, (3, 3), None, [
        ("u1**2 - u2**2", "diag.u1**2 - diag.u2**2"), ("u1 - u2", "diag.u1 - diag.u2")]),
    "hadamard_difference.toml": (HadamardDifference, (3, 3), None, [
        ("u*v", "diag.u*diag.v"), ("u**2 - v**2", "diag.u**2 - diag.v**2")]),
    "layernorm_relu.toml": (LayerNormRelu, (3, 2), None, [
        ("sum(W1**2)", "sum(0.weight**2)"), ("sum(W2**2)", "sum(3.weight**2)")]),
    "residual_relu.toml": (ResidualRelu, (3, 2), None, [
        ("sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "sum(fc1.weight[i,:]**2) + fc1.bias[i]**2 - sum(fc2.weight[:,i]**2)"),
        ("sum(W2[i,:]**2) - sum(W3[:,i]**2)", "sum(fc2.weight[i,:]**2) - sum(out.weight[:,i]**2)")]),
    "softmax_classifier.toml": (SoftmaxClassifier, (3, 3), "cross_entropy", [
        ("sum(b2)", "sum(2.bias)"), ("sum(b1)", "sum(0.bias)")]),
    "sparse_shared_relu.toml": (SparseSharedRelu, (3, 3), None, [
        ("sum(v1**2) - sum(v2**2)", "sum(l1.v**2) - sum(l2.v**2)"), ("v1[0]**2 - v2[0]**2", "l1.v[0]**2 - l2.v[0]**2")]),
    "squared_relu.toml": (SquaredRelu, (3, 2), None, [
        ("sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)", "sum(fc1.weight[i,:]**2) - 2*sum(fc2.weight[:,i]**2)"), BALANCE]),
    "swish_formula.toml": (SwishFormula, (3, 2), None, [SEQ_BALANCE]),
    "tanh_two_layer.toml": (TanhTwoLayer, (3, 2), None, [SEQ_BALANCE]),
    "two_layer_relu_bias.toml": (TwoLayerReluBias, (3, 3), None, [
        ("sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)", "sum(fc1.weight[i,:]**2) + fc1.bias[i]**2 - sum(fc2.weight[:,i]**2)"),
        BALANCE]),
    "weightnorm_relu.toml": (WeightNormRelu, (3, 2), None, [
        ("sum(W1[i,:]**2)", "sum(fc1.weight[i,:]**2)"),
        ("b1[i]**2 - sum(W2[:,i]**2)", "fc1.bias[i]**2 - sum(fc2.weight[:,i]**2)")]),
}
