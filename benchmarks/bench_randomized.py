"""Benchmarks for the randomized route (issue 19); both routes timed in the same run, ratios vs limits.

1. Per-neuron balance ||W1[i,:]||^2 + b1[i]^2 - ||W2[:,i]||^2 on a 2-layer ReLU MLP with bias 3-1024-2.
   Limit: 10 s.
2. Wq^T Wq - Wk^T Wk on softmax attention, 8 tokens of width 16 (Wq, Wk 16 x 16). Limit: 10 s.
3. DU-3 (W1 W1^T - W2^T W2) on a 2-layer linear net w -> w -> w: the largest w within 10 s.
   Target: w >= 128 (symbolic route: 7 when the issue was filed).
4. Width against time for both routes (3-w-2 ReLU with bias, per-neuron balance): the crossover.
5. Optional back ends: python-flint's nmod_mat against the limb products of ``FieldArith.matmul``
   (modular matrix product), SymEngine's expand against SymPy's on concrete-engine residuals.

Every measurement runs in a forked process (imports done, no cache shared) with a time cap; a
capped run prints "> cap". Usage: python benchmarks/bench_randomized.py [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time

LIMIT = 10.0
#: The benchmark times both routes themselves: no budget refusal or CPU bound (verify.prove.cost) in the way.
UNBOUNDED = 10**15
QUANTITY = "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"


def _job(kind: str, arg, method: str):
    from verify.model import Attention, Model, Param, mlp
    from verify.testing.checking import check
    if kind == "mlp":
        return check(mlp((3, arg, 2), "relu", bias=True), QUANTITY, method=method, budget_ops=UNBOUNDED).verdict
    if kind == "du3":
        return check(mlp((arg, arg, arg), "identity"), "W1 @ W1.T - W2.T @ W2", method=method, budget_ops=UNBOUNDED).verdict
    tokens, width = arg
    model = Model(f"attention {tokens}x{width}", tokens * width, (Param("Wq1", (width, width)),
                  Param("Wk1", (width, width))), (Attention("Wq1", "Wk1", tokens),))
    return check(model, "Wq1.T @ Wq1 - Wk1.T @ Wk1", method=method, budget_ops=UNBOUNDED).verdict


def _child(q, kind, arg, method):
    t0 = time.perf_counter()
    try:
        verdict = _job(kind, arg, method)
    except Exception as exc:  # e.g. the quantity language's 100,000-entry limit: reported, not hung on
        q.put((f"error: {str(exc).splitlines()[0][:90]}", None))
        return
    q.put((verdict, time.perf_counter() - t0))


def timed(kind: str, arg, method: str, cap: float) -> tuple[str, float | None]:
    """(verdict, seconds), or ("timeout", None) past ``cap`` seconds."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, kind, arg, method))
    p.start()
    p.join(cap)
    if p.is_alive():
        p.kill()
        p.join()
        return "timeout", None
    try:
        return q.get(timeout=5)
    except Exception:
        return f"died (exit code {p.exitcode})", None


def fmt(t: float | None, cap: float) -> str:
    return f"> {cap:.0f} s" if t is None else f"{t:.2f} s"


def targets(cap: float) -> None:
    print("== targets (randomized route vs the symbolic route, same run)")
    for label, kind, arg in (("per-neuron balance, ReLU MLP 3-1024-2 with bias", "mlp", 1024),
                             ("Wq^T Wq - Wk^T Wk, softmax attention 8 tokens x 16", "att", (8, 16))):
        v, t = timed(kind, arg, "randomized", 4 * LIMIT)
        sv, st = timed(kind, arg, "symbolic", cap)
        ratio = f"{t / LIMIT:.2f}x the {LIMIT:.0f} s limit" if t is not None else "over the limit"
        print(f"{label}: randomized {v} in {fmt(t, 4 * LIMIT)} ({ratio}); symbolic {sv} in {fmt(st, cap)}")


def du3_sweep(widths, method: str, cap: float) -> int:
    best = 0
    for w in widths:
        v, t = timed("du3", w, method, cap)
        print(f"  DU-3 {method:10s} w={w:4d}: {v:20s} {fmt(t, cap) if t is not None or v == 'timeout' else ''}")
        if t is None or t > LIMIT:
            break
        best = w
    return best


def width_table(widths, cap: float) -> None:
    print("== width against time, 3-w-2 ReLU with bias, per-neuron balance (both routes)")
    print(f"{'w':>6s} {'symbolic':>12s} {'randomized':>12s}  verdicts")
    symbolic_done = False
    for w in widths:
        sv, st = ("skipped", None) if symbolic_done else timed("mlp", w, "symbolic", cap)
        symbolic_done = symbolic_done or st is None
        rv, rt = timed("mlp", w, "randomized", cap)
        print(f"{w:6d} {fmt(st, cap) if sv != 'skipped' else 'skipped':>12s} {fmt(rt, cap):>12s}  {sv} / {rv}")


def backends() -> None:
    import random

    import numpy as np
    import sympy as sp

    from verify.interpret.exact_arith import FieldArith
    print("== optional back ends")
    p, rng = 2**61 - 1, random.Random(0)
    F = FieldArith(p, rng)
    for n in (128, 256):
        A, B = F.free((n, n)), F.free((n, n))
        t0 = time.perf_counter()
        C = F.matmul(A, B)
        t_limb = time.perf_counter() - t0
        try:
            import flint
        except ImportError:
            print(f"  modular {n}x{n} product: limbs {t_limb:.3f} s; python-flint not installed")
            continue
        t0 = time.perf_counter()
        Cf = flint.nmod_mat(A.tolist(), p) * flint.nmod_mat(B.tolist(), p)
        out = np.array([[int(Cf[i, j]) for j in range(n)] for i in range(n)], dtype=object)
        t_flint = time.perf_counter() - t0
        assert (out == C).all()
        print(f"  modular {n}x{n} product: limbs {t_limb:.3f} s, python-flint nmod_mat {t_flint:.3f} s "
              f"(with conversions; {t_limb / t_flint:.1f}x)")
    from verify.interpret.symbolic import symbolic_net
    from verify.model import mlp
    from verify.prove.dynamics import flow_derivative
    for w in (4, 5):
        net = symbolic_net(mlp((w, w, w), "identity"))
        W1, W2 = net.params["W1"], net.params["W2"]
        Q = (W1 * W1.T - W2.T * W2)[0, 1]
        r = flow_derivative(Q, net)
        t0 = time.perf_counter()
        e1 = sp.expand(r)
        t_sympy = time.perf_counter() - t0
        try:
            import symengine
        except ImportError:
            print(f"  expand DU-3 residual entry, w={w}: SymPy {t_sympy:.3f} s; symengine not installed")
            continue
        t0 = time.perf_counter()
        e2 = symengine.expand(symengine.sympify(r))
        t_se = time.perf_counter() - t0
        print(f"  expand DU-3 residual entry, w={w}: SymPy {t_sympy:.3f} s, SymEngine {t_se:.3f} s "
              f"(with conversion; {t_sympy / max(t_se, 1e-9):.1f}x; both zero: {e1 == 0 and e2 == 0})")
        t0 = time.perf_counter()
        symbolic_net.cache_clear()
        symbolic_net(mlp((w, w, w), "identity"))
        print(f"    (building the symbolic net itself, w={w}: {time.perf_counter() - t0:.2f} s, untouched by expand)")


def _warm_up() -> None:
    """Import and run both routes once in this process, so forked runs measure no import."""
    from verify.interpret.symbolic import symbolic_net
    for kind, arg in (("mlp", 2), ("du3", 2), ("att", (2, 2))):
        for method in ("symbolic", "randomized"):
            _job(kind, arg, method)
    symbolic_net.cache_clear()


def main() -> None:
    quick = "--quick" in sys.argv
    _warm_up()
    cap = 30.0 if quick else 120.0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; symbolic runs capped at {cap:.0f} s")
    targets(cap)
    print("== DU-3, largest w within 10 s")
    # 316 x 316 = 99,856 entries: the quantity language's limit is 100,000 (verify.lang.quantity.MAX_ENTRIES)
    rw = du3_sweep((64, 128, 192, 256) if quick else (32, 64, 128, 192, 256, 288, 316), "randomized",
                   4 * LIMIT)
    sw = du3_sweep(range(3, 12), "symbolic", cap)
    print(f"DU-3 largest w within {LIMIT:.0f} s: randomized {rw} (target >= 128: {rw / 128:.2f}x), symbolic {sw}")
    width_table((2, 4, 8, 16, 32, 64) if quick else (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), cap)
    backends()


if __name__ == "__main__":
    main()
