"""verify.torch figures, each printed with its ratio to the stated limit, all measured in this run.

1. Numeric check on a 784-1000-1000-10 ReLU MLP (float64, batch 8): seconds per Hypothesis draw
   against one forward+backward pass of the same module on the same batch (limit 3x), and draws/s.
2. Law count (torch.func Lie rank) on an MLP with ~1e4 parameters (limit 60 s).
3. Exact certificate for the ResNet basic block at 2 channels, 4x4 images (limit 10 s).

Run: python benchmarks/bench_torch.py [--skip-count]
"""

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "torch"))
import verify.torch as vt  # noqa: E402
from verify.torch._discover import count_laws  # noqa: E402


def forward_backward_seconds(net, x, reps=10):
    net = net.double()
    c = torch.randn(x.shape[0], 10, dtype=torch.float64)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        y = net(x)
        torch.autograd.grad(y, list(net.parameters()), grad_outputs=c)
        best = min(best, time.perf_counter() - t)
    return best


def bench_numeric():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 1000, bias=False), nn.ReLU(), nn.Linear(1000, 1000, bias=False), nn.ReLU(),
                        nn.Linear(1000, 10, bias=False))
    x = torch.randn(8, 784, dtype=torch.float64)
    fb = forward_backward_seconds(net, x)
    q = "sum(0.weight[i,:]**2) - sum(2.weight[:,i]**2)"
    draws = 20
    t = time.perf_counter()
    v = vt.check(net, q, example_input=x, method="numeric", draws=draws, seed=0)
    total = time.perf_counter() - t
    per = total / v.draws
    print(f"numeric check, 784-1000-1000-10 MLP ({sum(p.numel() for p in net.parameters())} parameters, batch 8): "
          f"{v.kind}")
    print(f"  one forward+backward: {fb * 1e3:.1f} ms; one draw: {per * 1e3:.1f} ms (incl. Hypothesis, drawing "
          f"1.8M parameters, the quantity's forward derivative); ratio {per / fb:.2f}x against the limit 3x; "
          f"{1 / per:.1f} draws/s")


def bench_count():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 100, bias=False), nn.ReLU(), nn.Linear(100, 60, bias=False), nn.ReLU(),
                        nn.Linear(60, 10, bias=False)).double()
    D = sum(p.numel() for p in net.parameters())
    t = time.perf_counter()
    count, hist = count_laws(net, (30,), points=-(-(D + 8) // 10) + 8, seed=0)
    s = time.perf_counter() - t
    print(f"law count, 30-100-60-10 ReLU MLP (D = {D}): {count} laws (expected 160 hidden units), "
          f"history {hist}; {s:.1f} s against the limit 60 s (ratio {s / 60:.2f})")


def bench_resnet():
    from architectures import ResNetBasicBlock
    torch.manual_seed(0)
    block = ResNetBasicBlock(2)
    x = torch.randn(2, 2, 4, 4)
    t = time.perf_counter()
    v = vt.check(block, "sum(conv1.weight**2) - sum(conv2.weight**2)", example_input=x)
    s = time.perf_counter() - t
    print(f"exact certificate, ResNet basic block (2 channels, 4x4): {v.verdict.upper()} in {s:.1f} s against the "
          f"limit 10 s (ratio {s / 10:.2f})")


if __name__ == "__main__":
    bench_numeric()
    bench_resnet()
    if "--skip-count" not in sys.argv:
        bench_count()
