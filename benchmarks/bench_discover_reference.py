"""``verify discover`` against the reference code of Marcotte, Gribonval & Peyre on its own networks.

The reference (github.com/sibyllema/Conservation_laws, notebook ``main.ipynb``, NeurIPS 2023; and
github.com/sibyllema/Conservation_laws_ICML, ``formal_calculus/main_ICML.ipynb``, ICML 2024) is
SageMath and cannot run here. Its networks are rebuilt by replaying its NumPy draws (legacy
``np.random.seed(0)`` stream, the same in any NumPy), in the notebooks' order:

* linear (Part C, 50 nets, 41.26 s/net): depth = randint(2, 5); widths = randint(2, 6) x (depth + 1);
  then ``known_conserved_functions_linear`` draws rand(D) and ``dim_trace_lie_algebra`` draws
  rand(D) once more (a third rand(D) would follow only if its "fast" mode missed the target and
  restarted; ``--check-fast`` replays that mode to confirm it never does);
* ReLU (Part D, 50 nets, 135.84 s/net): depth = randint(2, 5); widths = randint(2, 10) x (depth + 1);
  bias = random() < 0.5; ``dim_trace_lie_algebra`` draws rand(D) (D with the hidden biases); the
  reference's fields already have rank D - (hidden units), so it never brackets or restarts
  (checked here: ``--check-fast`` computes the rank of the reference's path fields);
* the degree-2 law searches (10 linear nets, 9.16 s/net; 10 ReLU nets, 4.49 s/net): depth =
  randint(2, 4), widths = randint(2, 5); linear draws rand(D) in the known-law rank, then ``solve``
  draws rand(D); ReLU (no bias) only the rand(D) of ``solve``;
* ICML momentum (20 linear nets, 6.96 s/net; 20 ReLU nets, 3.17 s/net): depth = randint(2, 4), widths
  = randint(1, 4), tau = randint(0, 1) = 0 always, ReLU bias flag = random() < 0.5. The ReLU cell passes
  (list_dim, bias, tau) to a function whose signature is (list_dim, tau, bias): its nets have no bias
  and friction tau = 1 where the flag is set (then the time variable is s = exp(t)); reproduced as is.
  The draws after the first net depend on whether the reference's Lie step restarted; the replay
  assumes the draw pattern of the flow loops (rand(2D+1) once in the Lie step, once in ``solve``
  when a law exists) and says so.

The reference's answer per net: linear, the rank of the gradients of its known laws
U_{l+1}^T U_{l+1} - U_l U_l^T (Prop 4.1; recomputed here exactly mod p at a random integer point);
ReLU, the number of hidden units; ICML ReLU momentum, 0 laws. Its notebook asserts D - dim Lie
equals that number for every net. Our answer is the certified interval [lower, upper] of
``verify.discover`` (generic kind); a net agrees when the interval is exact and equals it.

The reference's bias paths are x_i U1[i,h1] ... U_l[.., h_l] b_l[h_l] (input to the unit, times
its bias) instead of b_l[h_l] U_{l+1}[h_l, ..] ... (bias to output); we count the network itself.

Run: python benchmarks/bench_discover_reference.py [--only linear,relu,laws,momentum] [--quick]
     [--check-fast]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from verify.discovery import discover
from verify.lie_rank import single_thread_blas
from verify.model import Act, Dense, Model, Param, get_activation, mlp
from verify.model_jets import MODP
from verify.modp import rank_mod_p

#: Seconds per net of the reference, as its notebook's tqdm bars report them (64 SageMath threads).
REFERENCE_SECONDS = {"linear": 41.26, "relu": 135.84, "laws linear": 9.16, "laws relu": 4.49,
                     "momentum linear": 6.96, "momentum relu": 3.17}


def relu_net(widths, bias: bool) -> Model:
    """ReLU net with biases on the hidden layers only (the reference has no output bias)."""
    params, layers = [], []
    L = len(widths) - 1
    for h in range(1, L + 1):
        params.append(Param(f"W{h}", (widths[h], widths[h - 1])))
        b = bias and h < L
        if b:
            params.append(Param(f"b{h}", (widths[h],)))
        layers.append(Dense(f"W{h}", f"b{h}" if b else None))
        if h < L:
            layers.append(Act(get_activation("relu")))
    name = "-".join(map(str, widths)) + ("b" if bias else "")
    return Model(name, widths[0], tuple(params), tuple(layers))


def _D(widths, bias=False):
    w = np.array(widths)
    return int(w[:-1] @ w[1:]) + (int(w[1:-1].sum()) if bias else 0)


def replay(part: str):
    """(widths, bias, tau) of each reference net, in order (see the module docstring)."""
    rs = np.random.RandomState(0)
    out = []
    if part in ("linear", "relu"):
        for _ in range(50):
            depth = rs.randint(2, 5)
            widths = [int(rs.randint(2, 6 if part == "linear" else 10)) for _ in range(depth + 1)]
            bias = part == "relu" and rs.random_sample() < 0.5
            D = _D(widths, bias)
            if part == "linear":
                rs.random_sample(D)  # known_conserved_functions_linear
            rs.random_sample(D)  # dim_trace_lie_algebra
            out.append((widths, bias, 0))
    elif part in ("laws linear", "laws relu"):
        for _ in range(10):
            depth = rs.randint(2, 4)
            widths = [int(rs.randint(2, 5)) for _ in range(depth + 1)]
            D = _D(widths)
            if part == "laws linear":
                rs.random_sample(D)  # known_conserved_functions_linear
            rs.random_sample(D)  # solve (a law exists on every such net)
            out.append((widths, False, 0))
    else:
        raise ValueError("momentum nets are replayed by replay_momentum (their draws depend on the counts)")
    return out


def replay_momentum(part: str, count_of):
    """ICML momentum nets: yields (widths, tau, result) where ``count_of(widths, tau)`` gives our
    result. The Lie step draws rand(N), N = 2D + 1, and restarts (drawing again) when laws remain
    (it runs with no known count); ``solve`` draws rand(N) when a polynomial law exists (linear only)."""
    rs = np.random.RandomState(0)
    for _ in range(20):
        depth = rs.randint(2, 4)
        widths = [int(rs.randint(1, 4)) for _ in range(depth + 1)]
        tau = int(rs.randint(0, 1))
        if part == "momentum relu":
            tau = int(rs.random_sample() < 0.5)  # the bias flag lands in the tau slot (see docstring)
        N = 2 * _D(widths) + 1
        result = count_of(widths, tau)
        rs.random_sample(N)  # dim_trace_lie_algebra, fast mode
        if result.upper:
            rs.random_sample(N)  # its restart (laws remain)
            if part == "momentum linear":
                rs.random_sample(N)  # solve
        yield widths, tau, result


def known_linear(widths, seed=0) -> int:
    """Rank of the gradients of U_l^T U_l - U_{l+1} U_{l+1}^T (reference orientation U_l: n_{l-1} x n_l)
    at a random integer point, exactly mod p: the reference's number for a linear net."""
    rng = np.random.default_rng(seed)
    Us = [rng.integers(1, MODP.modulus, (a, b)).astype(float) for a, b in zip(widths[:-1], widths[1:])]
    offs = np.cumsum([0] + [u.size for u in Us])
    rows = []
    for l in range(len(Us) - 1):
        A, B = Us[l], Us[l + 1]
        n = A.shape[1]
        for j in range(n):
            for k in range(n):
                g = np.zeros(offs[-1])
                # d/dA[i, j] of sum_i A[i,j] A[i,k] and d/dB[j, m] of - sum_m B[j,m] B[k,m]
                gA = np.zeros_like(A)
                gA[:, j] += A[:, k]
                gA[:, k] += A[:, j]
                gB = np.zeros_like(B)
                gB[j, :] -= B[k, :]
                gB[k, :] -= B[j, :]
                g[offs[l]:offs[l + 1]] = gA.ravel()
                g[offs[l + 1]:offs[l + 2]] = gB.ravel()
                rows.append(MODP.reduce(g))
    return rank_mod_p(np.array(rows)) if rows else 0


def _model(part, widths, bias):
    if "relu" in part:
        return relu_net(widths, bias)
    return mlp(widths, "identity", name="-".join(map(str, widths)))


def run_part(part: str, quick: bool):
    rows, times = [], []
    if part.startswith("momentum"):
        def count_of(widths, tau):
            t0 = time.perf_counter()
            r = discover(_model(part, widths, False), degree=0, dynamics="momentum", friction=tau)
            times.append(time.perf_counter() - t0)
            return r
        nets = ((w, False, tau, r) for w, tau, r in replay_momentum(part, count_of))
    else:
        nets = ((w, b, tau, None) for w, b, tau in replay(part))
    for k, (widths, bias, tau, r) in enumerate(nets):
        if quick and k >= 5:
            break
        relu = "relu" in part
        model = _model(part, widths, bias)
        if part.startswith("momentum"):
            ref = 0 if relu else None
        else:
            ref = sum(widths[1:-1]) if relu else known_linear(widths)
            t0 = time.perf_counter()
            r = discover(model, degree=2, count=not part.startswith("laws"))
            times.append(time.perf_counter() - t0)
        dt = times[-1]
        if part.startswith("laws"):
            ok, ours = r.lower == ref, f"{r.lower} independent proven laws"
        elif ref is None:
            ok, ours = None, f"[{r.lower}, {r.upper}]"
        else:
            ok, ours = r.exact and r.count == ref, (f"exactly {r.count}" if r.exact else f"[{r.lower}, {r.upper}]")
        name = model.name + (f" tau={tau}" if part.startswith("momentum") else "")
        line = (f"{k + 1:3d} {name:18s} N={r.state_dim:4d} reference {'-' if ref is None else ref:>3} | ours "
                f"{ours:26s} {'agree' if ok else ('-' if ok is None else 'DIFFER')} {dt:6.2f} s")
        if ok is False:
            line += (f"\n      {r.kind}; upper bound per theta0 {[t['upper'] for t in r.trials]}; every-path bound "
                     f"{r.paths_upper}; gap: {r.closing}")
        print(line, flush=True)
        rows.append((ok, r))
    ref_s = REFERENCE_SECONDS[part]
    agree = sum(1 for ok, _ in rows if ok)
    judged = sum(1 for ok, _ in rows if ok is not None)
    exact = sum(1 for _, r in rows if r.exact or part.startswith("laws"))
    med = statistics.median(times)
    print(f"== {part}: {agree}/{judged} agree, {exact}/{len(rows)} exact-certified; median {med:.3f} s, total "
          f"{sum(times):.1f} s; reference {ref_s} s/net: {ref_s / med:.0f}x the median speed\n", flush=True)
    return agree, judged, exact, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="linear,relu,laws,momentum")
    ap.add_argument("--quick", action="store_true", help="first 5 nets of each part")
    args = ap.parse_args()
    parts = []
    for p in args.only.split(","):
        parts += {"laws": ["laws linear", "laws relu"], "momentum": ["momentum linear", "momentum relu"]}.get(p, [p])
    load0 = os.getloadavg()
    with single_thread_blas():
        summary = {p: run_part(p, args.quick) for p in parts}
    load1 = os.getloadavg()
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} on {os.cpu_count()} cores")
    for p, (a, j, e, n) in summary.items():
        print(f"{p:16s} agree {a}/{j}, exact-certified {e}/{n}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
