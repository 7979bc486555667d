"""verify.torch figures, each printed with its ratio to the stated limit, all measured in this run.

1. Numeric check on a 784-1000-1000-10 ReLU MLP (float64, batch 8): seconds per Hypothesis draw
   against one forward+backward pass of the same module on the same batch (limit 3x), and draws/s.
2. Law count (torch.func Lie rank) on an MLP with ~1e4 parameters (limit 60 s), wall and CPU seconds
   per phase (Jacobian; round-0 null space: Gram, pivoted Cholesky, kept estimate; bracket rounds).
2'. The same on a D = 2700 MLP (30-40-30-10), always run; --skip-count skips the D = 9600 one.
3. Exact certificate for the ResNet basic block at 2 channels, 4x4 images (limit 10 s), by each route:
   the symbolic one (Proven) and the randomized one (proven (randomized), what method="auto" takes
   there); --resnet3 adds 3 channels.
Every figure line gives the load average (1 min) before and after it: the cores are shared.

Run: python benchmarks/bench_torch.py [--skip-count] [--resnet3] [--threads N]
(default 1 thread: on a shared 2-core machine two intra-op threads made single timings vary 10x; both sides use
the same setting)
"""

import os
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


def _load():
    return f"{os.getloadavg()[0]:.1f}"


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
    load0 = _load()
    fb_wall, fb_cpu = forward_backward_seconds(net, x)
    q = "sum(0.weight[i,:]**2) - sum(2.weight[:,i]**2)"
    vt.check(net, q, example_input=x, method="numeric", draws=2, seed=1)  # warm-up: first-call costs
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
          f"25 draws in {w25:.2f} s wall; load {load0} -> {_load()}")


def bench_count(widths=(100, 60)):
    """Law count (torch.func Lie rank) of a 30-w1-w2-10 bias-free ReLU MLP: D - dim Lie(W)(theta0) on a
    pool of ceil((D + 8) / 10) + 8 points; the laws are the w1 + w2 hidden-unit balances."""
    torch.manual_seed(0)
    w1, w2 = widths
    net = nn.Sequential(nn.Linear(30, w1, bias=False), nn.ReLU(), nn.Linear(w1, w2, bias=False), nn.ReLU(),
                        nn.Linear(w2, 10, bias=False)).double()
    D = sum(p.numel() for p in net.parameters())
    parts = {}
    load0 = _load()
    t0 = _clocks()
    count, hist = count_laws(net, (30,), points=-(-(D + 8) // 10) + 8, seed=0, timings=parts)
    s, cpu = _since(t0)
    gaps = ", ".join(f"length <= {L}: dim {d}, gap {g:.1e}" for L, d, g in hist)
    print(f"law count, 30-{w1}-{w2}-10 ReLU MLP (D = {D}): {count} laws (hidden units: {w1 + w2}); {gaps}")
    route = ("pivoted Cholesky: Gram {gram:.1f} s, sigma_max {sigma_max:.1f} s, factor {pivoted_cholesky:.1f} s, "
             "kept estimate {kept_estimate:.1f} s (kept {kept_over_res:.0f} res, dropped {dropped_over_res:.1e} res)"
             .format(**parts)
             if "dropped_over_res" in parts else "SVD or eigh route (the pivoted route did not decide)"
             if "gram" in parts else "SVD (below GRAM_MIN columns)")
    print(f"  {s:.1f} s wall, {cpu:.1f} s CPU against the limit 60 s (ratio {s / 60:.2f} wall, {cpu / 60:.2f} CPU; "
          f"load {load0} -> {_load()}): Jacobian {parts['jacobian']:.1f} s, round-0 null space "
          f"{parts['null_space']:.1f} s ({route}), bracket rounds {parts['brackets']:.1f} s")


def bench_resnet(channels=2):
    """Both exact routes on the per-channel balance of the block; the verdict kind is printed as is."""
    from architectures import ResNetBasicBlock
    torch.manual_seed(0)
    block = ResNetBasicBlock(channels)
    x = torch.randn(2, channels, 4, 4)
    q = "sum(conv1.weight[i,:,:,:]**2) - sum(conv2.weight[:,i,:,:]**2)"
    for method in ("symbolic", "auto"):
        load0 = _load()
        t0 = _clocks()
        # the symbolic route is over the default budget (its gradient estimate is 2.6e6 operations at 2
        # channels: refused in one line); the benchmark times the engine itself, as bench_prove does
        v = vt.check(block, q, example_input=x, method=method, budget_ops=10**9 if method == "symbolic" else 200_000)
        w, c = _since(t0)
        route = "" if method == "symbolic" else f" ({v.title.split('[auto: ')[1].rstrip(']')})"
        print(f"exact certificate, ResNet basic block ({channels} channels, 4x4), method={method}{route}: "
              f"{v.verdict.upper()} in {w:.2f} s wall ({c:.2f} s CPU) against the limit 10 s (ratio {w / 10:.2f}; "
              f"load {load0} -> {_load()})")


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1)
    bench_numeric()
    bench_resnet(2)
    if "--resnet3" in sys.argv:
        bench_resnet(3)
    bench_count((40, 30))
    if "--skip-count" not in sys.argv:
        bench_count((100, 60))
