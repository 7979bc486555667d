"""verify.torch figures, each printed with its ratio to the stated limit, all measured in this run.

1. Numeric check on a 784-1000-1000-10 ReLU MLP (float64, batch 8): seconds per Hypothesis draw
   against one forward+backward pass of the same module on the same batch (limit 3x), and draws/s.
2. Law count (torch.func Lie rank) on an MLP with ~1e4 parameters (limit 60 s).
3. Exact certificate for the ResNet basic block at 2 channels, 4x4 images (limit 10 s).

Run: python benchmarks/bench_torch.py [--skip-count] [--threads N]   (default 1 thread: on a shared
2-core machine two intra-op threads made single timings vary 10x; both sides use the same setting)
"""

import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "torch"))
import verify.torch as vt  # noqa: E402
from verify.torch._discover import count_laws  # noqa: E402


def _clocks():
    return time.perf_counter(), time.process_time()


def _since(t0):
    w, c = _clocks()
    return w - t0[0], c - t0[1]


def forward_backward_seconds(net, x, reps=21):
    """Median (wall, CPU) seconds of one forward+backward of ``net`` (float64) on ``x``, all gradients."""
    net = net.double()
    c = torch.randn(x.shape[0], 10, dtype=torch.float64)
    walls, cpus = [], []
    for _ in range(reps):
        t0 = _clocks()
        y = net(x)
        torch.autograd.grad(y, list(net.parameters()), grad_outputs=c)
        w, cp = _since(t0)
        walls.append(w)
        cpus.append(cp)
    return statistics.median(walls), statistics.median(cpus)


def bench_numeric():
    """Seconds per draw = the marginal cost of a draw: (time of a 25-draw check - time of a 5-draw
    check) / 20, so the one-off work (copying the module, Hypothesis start-up) is reported apart."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 1000, bias=False), nn.ReLU(), nn.Linear(1000, 1000, bias=False), nn.ReLU(),
                        nn.Linear(1000, 10, bias=False))
    x = torch.randn(8, 784, dtype=torch.float64)
    fb_wall, fb_cpu = forward_backward_seconds(net, x)
    q = "sum(0.weight[i,:]**2) - sum(2.weight[:,i]**2)"
    runs = {}
    for n in (5, 25):
        t0 = _clocks()
        v = vt.check(net, q, example_input=x, method="numeric", draws=n, seed=0)
        runs[n] = (_since(t0), v)
    (w5, c5), _ = runs[5]
    (w25, c25), v = runs[25]
    k = runs[25][1].draws - runs[5][1].draws
    per_wall, per_cpu = (w25 - w5) / k, (c25 - c5) / k
    print(f"numeric check, 784-1000-1000-10 MLP ({sum(p.numel() for p in net.parameters())} parameters, batch 8, "
          f"{torch.get_num_threads()} thread(s)): {v.kind}")
    print(f"  one forward+backward (median of 21): {fb_wall * 1e3:.1f} ms wall, {fb_cpu * 1e3:.1f} ms CPU")
    print(f"  one draw (marginal, Hypothesis + NumPy-generated parameters + gradient + dQ/dt and its terms): "
          f"{per_wall * 1e3:.1f} ms wall, {per_cpu * 1e3:.1f} ms CPU")
    print(f"  ratio (CPU) {per_cpu / fb_cpu:.2f}x, (wall) {per_wall / fb_wall:.2f}x against the limit 3x; "
          f"{1 / per_wall:.1f} draws/s; one-off per check {max(w5 - 5 * per_wall, 0.0):.2f} s wall; "
          f"25 draws in {w25:.2f} s wall")


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
    torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1)
    bench_numeric()
    bench_resnet()
    if "--skip-count" not in sys.argv:
        bench_count()
