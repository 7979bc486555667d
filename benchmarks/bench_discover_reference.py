"""``verify discover`` against the reference code of Marcotte, Gribonval & Peyre on its own networks.

The reference (github.com/sibyllema/Conservation_laws, notebook ``main.ipynb``, NeurIPS 2023; and
github.com/sibyllema/Conservation_laws_ICML, ``formal_calculus/main_ICML.ipynb``, ICML 2024) is
SageMath and cannot run here. Its networks are rebuilt by replaying its NumPy draws (legacy
``np.random.seed(0)`` stream, the same in any NumPy), in the notebooks' order:

* linear (Part C, 50 nets, 41.26 s/net): depth = randint(2, 5); widths = randint(2, 6) x (depth + 1);
  then ``known_conserved_functions_linear`` draws rand(D) and ``dim_trace_lie_algebra`` draws
  rand(D) once more, and a third time when its "fast" mode (brackets with the first three generators
  only) misses D - n_known and restarts with fast=False. That mode is replayed exactly mod p
  (``fast_mode_restarts``; the decision was the same for every order of the brackets tried): it
  restarts on some nets (3-4-2-4: rank 14 of 15), which shifts every later draw;
* ReLU (Part D, 50 nets, 135.84 s/net): depth = randint(2, 5); widths = randint(2, 10) x (depth + 1);
  bias = random() < 0.5; ``dim_trace_lie_algebra`` draws rand(D) (D with the hidden biases); the
  reference's fields already have rank D - (hidden units), so it never brackets or restarts
  (checked per net: ``reference_relu_rank``);
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
     [--assume-no-restart]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

import numpy as np

from verify.laws.discovery import discover
from verify.laws.lie_rank import single_thread_blas
from verify.model import Act, Dense, Model, Param, get_activation, mlp
from verify.interpret.jets import MODP
from verify.laws.modp import rank_mod_p

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


def replay(part: str, check=None):
    """(widths, bias, tau) of each reference net, in order (see the module docstring). ``check(widths,
    bias)`` (optional) says whether the reference's Lie step restarted on that net (one more draw)."""
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
            if check is not None and check(widths, bias):
                rs.random_sample(D)  # its restart with fast=False
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


def fast_mode_restarts(widths, n_known: int, seed: int = 0) -> bool:
    """Replay the reference's ``dim_trace_lie_algebra(fast=True)`` on a linear net, exactly mod p at a
    random integer point: generators g_(i,j) = grad (U1 ... Uq)[i, j] (i outer, j inner); each step
    brackets every field kept at the previous step with the first three generators, keeps a bracket
    when it raises the rank (in that order), and returns as soon as the rank reaches D - n_known. It
    restarts with fast=False (one more rand(D) draw) when a step keeps nothing before that."""
    from verify.laws.lie_fields import Family, evaluate
    from verify.interpret.jets import forward_backward
    from verify.laws.modp import EchelonBasis, _rref
    model = mlp(widths, "identity")
    n0, nL = widths[0], widths[-1]
    D = _D(widths)
    X = np.eye(n0)[None]
    slopes = [np.ones((1, n0, w)) for w in widths[1:-1]]
    fam = Family(D, None, lambda Z, C, jt: forward_backward(model, Z, X, C, slopes, jets=jt)[1], "", False)
    gens = [(i, j) for i in range(n0) for j in range(nL)]
    z0 = np.random.default_rng(seed).integers(1, MODP.modulus, D).astype(float)

    def leaf(idx):
        C = np.zeros((len(idx), n0, nL))
        for r, g in enumerate(idx):
            C[r, gens[g][0], gens[g][1]] = 1.0
        return ("leaf", C)

    def values(fields):  # left-nested brackets [..[g_a, g_b], g_c..], all of one length
        tree = leaf([f[0] for f in fields])
        for k in range(1, len(fields[0])):
            tree = ("bracket", leaf([f[k] for f in fields]), tree)  # [V, g] = DV.g - Dg.V as in the reference
        return evaluate(fam, tree, np.broadcast_to(z0, (len(fields), D)).copy())

    basis, target = EchelonBasis(D), D - n_known
    kept = [(g,) for g in range(len(gens))]
    basis.add(values(kept))
    while basis.rank < target:
        cand = [f + (p,) for f in kept for p in range(min(3, len(gens)))]
        rows = values(cand)
        used = _rref(MODP.canonical(basis.reduce(rows)), MODP)[2]
        if not used:
            return True
        for i in used:  # in order, stopping where the reference returns
            basis.add(rows[i:i + 1])
            if basis.rank >= target:
                return False
        kept = [cand[i] for i in used]
    return False


def reference_relu_rank(widths, bias: bool, seed: int = 0) -> int:
    """Rank (exactly mod p, random integer point) of the reference's ReLU fields: gradients of every
    path product x_i U1[i,h1] ... U_L[h_{L-1}, j] and, with bias, of its bias paths
    U1[i,h1] ... U_l[h_{l-1}, h_l] b_l[h_l] (l = 1 .. L-1). Equal to D - (hidden units) means its Lie
    step stops before any bracket, so it never restarts and draws rand(D) once."""
    from verify.laws.modp import EchelonBasis
    rng = np.random.default_rng(seed)
    L = len(widths) - 1
    var = {}
    for l in range(L):
        for a in range(widths[l]):
            for b in range(widths[l + 1]):
                var[("U", l, a, b)] = len(var)
    if bias:
        for l in range(1, L):
            for h in range(widths[l]):
                var[("b", l, h)] = len(var)
    D = len(var)
    z = rng.integers(1, MODP.modulus, D).astype(float)
    paths = []
    for i in range(widths[0]):
        for hs in itertools.product(*[range(w) for w in widths[1:-1]]):
            chain = [i, *hs]
            for j in range(widths[-1]):
                paths.append([var[("U", l, a, b)] for l, (a, b) in enumerate(zip(chain + [j], (chain + [j])[1:]))])
            if bias:
                for l in range(1, L):
                    sub = chain[:l + 1]
                    paths.append([var[("U", k, a, b)] for k, (a, b) in enumerate(zip(sub, sub[1:]))]
                                 + [var[("b", l, sub[-1])]])
    rng.shuffle(paths)
    basis = EchelonBasis(D)
    target = D - sum(widths[1:-1])
    for s in range(0, len(paths), 512):
        rows = np.zeros((len(paths[s:s + 512]), D))
        for r, p in enumerate(paths[s:s + 512]):
            for k, v in enumerate(p):
                rows[r, v] = _prod_mod([z[u] for q, u in enumerate(p) if q != k])
        basis.add(rows)
        if basis.rank >= target:
            break
    return basis.rank


def _prod_mod(values) -> float:
    out = 1
    for v in values:
        out = out * int(v) % MODP.modulus
    return float(out)


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


def _local_degree_3(model, r) -> tuple[str, bool]:
    """Close a local gap with laws of degree 3 of the patterns reached at the theta0 of the bound."""
    from verify.laws.search import find_laws
    from verify.laws.discovery import polynomial_rank
    from verify.laws.regions import sample_region
    seed = min(r.trials, key=lambda t: t["upper"])["seed"]
    t0 = time.perf_counter()
    s = find_laws(model, degree=3, region=sample_region(model, seed, "local"), region_label=f"theta0 #{seed}")
    low = polynomial_rank(model, list(r.laws) + list(r.local_laws) + list(s.laws))
    return (f"with local laws of degree <= 3 at theta0 #{seed} ({len(s.laws)} proven, {time.perf_counter() - t0:.0f} s): "
            + (f"exactly {low}" if low == r.upper else f"[{low}, {r.upper}]")), low == r.upper


def _model(part, widths, bias):
    if "relu" in part:
        return relu_net(widths, bias)
    return mlp(widths, "identity", name="-".join(map(str, widths)))


def _check(part):
    """The replay check of the module docstring for ``part``: prints what it found per net."""
    def linear(widths, bias):
        restart = fast_mode_restarts(widths, known_linear(widths))
        print(f"    replay check {'-'.join(map(str, widths))}: the reference's fast mode "
              + ("RESTARTS (one more draw)" if restart else "reaches D - n_known (no restart)"))
        return restart

    def relu(widths, bias):
        D = _D(widths, bias)
        rank = reference_relu_rank(widths, bias)
        ok = rank == D - sum(widths[1:-1])
        print(f"    replay check {'-'.join(map(str, widths))}{'b' if bias else ''}: the reference's fields have rank "
              f"{rank} = D - hidden {D - sum(widths[1:-1])}" + ("" if ok else " NOT REACHED: its Lie step brackets"))
        return False
    return linear if part == "linear" else relu if part == "relu" else None


def run_part(part: str, quick: bool, check: bool = False):
    rows, times = [], []
    if part.startswith("momentum"):
        def count_of(widths, tau):
            t0 = time.perf_counter()
            r = discover(_model(part, widths, False), degree=2, dynamics="momentum", friction=tau)
            times.append(time.perf_counter() - t0)
            return r
        nets = ((w, False, tau, r) for w, tau, r in replay_momentum(part, count_of))
    else:
        nets = ((w, b, tau, None) for w, b, tau in replay(part, _check(part) if check else None))
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
        explained = False
        if part.startswith("laws"):
            ok, ours = r.lower == ref, f"{r.lower} independent proven laws"
        elif ref is None:  # the reference asserts D - dim Lie = its number of degree-2 laws
            ok, ours = r.exact, (f"exactly {r.count}" if r.exact else f"[{r.lower}, {r.upper}]")
        else:
            ok, ours = r.exact and r.count == ref, (f"exactly {r.count}" if r.exact else f"[{r.lower}, {r.upper}]")
            explained = not ok and r.paths_upper == r.network_lower == ref
        name = model.name + (f" tau={tau}" if part.startswith("momentum") else "")
        verdict = "agree" if ok else "local" if explained else "DIFFER"
        refs = "=deg2" if ref is None else ref
        line = (f"{k + 1:3d} {name:18s} N={r.state_dim:4d} reference {refs:>5} | ours {ours:26s} {verdict} {dt:6.2f} s")
        if not ok:
            best = min(r.trials, key=lambda t: t["upper"])["seed"] if r.trials else 0
            where = r.local_laws[0].scope if r.local_laws else f"theta0 #{best}"
            line += ("\n      every path active: " + (f"exactly {r.paths_upper} = the reference" if explained else
                                                        f"bounds [{r.network_lower}, {r.paths_upper}]")
                     + f"; {r.kind} count {ours} at {where} ({len(r.local_laws)} local law(s) proven there); upper "
                     f"bound per theta0 {[t['upper'] for t in r.trials]}" + (f"; gap: {r.closing}" if r.closing else ""))
        closed = False
        if part == "relu" and not ok and not r.exact and explained and not quick:  # flow laws only
            text, closed = _local_degree_3(model, r)
            line += "\n      " + text
        print(line, flush=True)
        rows.append((ok, r, closed))
    ref_s = REFERENCE_SECONDS[part]
    agree = sum(1 for ok, _, _ in rows if ok)
    local = sum(1 for ok, r, _ in rows if not ok and r.paths_upper is not None and r.paths_upper == r.network_lower)
    exact = sum(1 for _, r, closed in rows if r.exact or closed or part.startswith("laws"))
    med = statistics.median(times)
    print(f"== {part}: {agree}/{len(rows)} agree, {local} differ only locally (every path active: exactly the "
          f"reference), {exact}/{len(rows)} exact-certified; median {med:.3f} s, total {sum(times):.1f} s; reference "
          f"{ref_s} s/net: {ref_s / med:.0f}x the median speed\n", flush=True)
    return agree, local, exact, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="linear,relu,laws,momentum")
    ap.add_argument("--quick", action="store_true", help="first 5 nets of each part")
    ap.add_argument("--assume-no-restart", action="store_true",
                    help="skip the replay of the reference's Lie step (assume it never restarted)")
    args = ap.parse_args()
    parts = []
    for p in args.only.split(","):
        parts += {"laws": ["laws linear", "laws relu"], "momentum": ["momentum linear", "momentum relu"]}.get(p, [p])
    load0 = os.getloadavg()
    with single_thread_blas():
        summary = {p: run_part(p, args.quick, not args.assume_no_restart) for p in parts}
    load1 = os.getloadavg()
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} on {os.cpu_count()} cores")
    for p, (a, loc, e, n) in summary.items():
        print(f"{p:16s} agree {a}/{n}, differ only locally {loc}/{n}, exact-certified {e}/{n}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
