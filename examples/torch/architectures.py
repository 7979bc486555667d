"""Real architectures for verify.torch, with the quantities the README reports on.

    verify check examples/torch/architectures.py:ResNetBasicBlock --input-shape 2,2,4,4 \\
        --quantity "sum(conv1.weight[i,:,:,:]**2) - sum(conv2.weight[:,i,:,:]**2)"
"""

import torch
import torch.nn.functional as F
from torch import nn


class ResNetBasicBlock(nn.Module):
    """relu(x + conv2(relu(conv1(x)))), 3x3 convolutions with padding 1 and no bias (He et al. 2016;
    the bias is dropped as in ResNets, where BatchNorm follows)."""

    def __init__(self, channels: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x):
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class TransformerBlock(nn.Module):
    """Post-LN block: x + softmax(q k^T / sqrt(k)) v, LayerNorm, x + fc2(gelu(fc1(x))), LayerNorm."""

    def __init__(self, d: int = 4, k: int = 2, hidden: int = 8):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, k, bias=False), nn.Linear(d, k, bias=False), nn.Linear(d, d, bias=False)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, hidden, bias=False), nn.Linear(hidden, d, bias=False)

    def forward(self, x):  # x: (batch, tokens, d)
        x = self.ln1(x + F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x)))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class CNNMaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, bias=False)
        self.fc = nn.Linear(2 * 2 * 2, 1, bias=False)

    def forward(self, x):  # x: (batch, 1, 6, 6)
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))


class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.bn(self.fc1(x))))


#: class -> (example input shape, [(quantity, what it is)])
QUANTITIES = {
    ResNetBasicBlock: ((2, 2, 4, 4), [
        ("sum(conv1.weight[i,:,:,:]**2) - sum(conv2.weight[:,i,:,:]**2)", "per-channel balance across the ReLU"),
        ("sum(conv1.weight**2) - sum(conv2.weight**2)", "layer balance (the sum of the above)"),
        ("sum(conv2.weight[i,:,:,:]**2)", "output channel norm of conv2 (skip connection: not conserved)")]),
    TransformerBlock: ((2, 3, 4), [
        ("q.weight @ q.weight.T - k.weight @ k.weight.T", "k x k query/key balance (scores see Wq^T Wk only)"),
        ("sum(fc1.weight[i,:]**2) - sum(fc2.weight[:,i]**2)", "per-unit balance across GELU (not homogeneous)")]),
    CNNMaxPool: ((3, 1, 6, 6), [
        ("sum(conv.weight[0,:,:,:]**2) - sum(fc.weight[0,0:4]**2)", "channel 0 kernel vs its read-out weights"),
        ("sum(conv.weight[0,:,:,:]**2) - sum(fc.weight[0,4:8]**2)", "channel 0 kernel vs channel 1's read-out")]),
    BatchNormMLP: ((4, 3), [
        ("bn.weight[i]**2 + bn.bias[i]**2 - sum(fc2.weight[:,i]**2)", "per-unit balance after BatchNorm + ReLU"),
        ("sum(fc1.weight[i,:]**2)", "row norm before BatchNorm (scale-invariant only without eps)")]),
}
