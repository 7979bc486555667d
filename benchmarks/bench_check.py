"""Benchmarks for the property-testing job (issue 4); prints figures against the stated limits.

1. Numeric identity checks per second on random networks of width <= 8 and depth <= 4 (one check
   = one random net, point and data; backprop gradient; DU-1 lemma per neuron to relative 1e-12).
   Limit: >= 1,000 per second.
2. Symbolic verdict, 2-layer width-3 ReLU net with bias (DU-1 quantity, every neuron): <= 2 s.
3. Symbolic verdict, 3-layer width-4 ReLU net (DU-1 quantity, every neuron of both hidden layers): <= 20 s.
Each symbolic figure is measured in a fresh process (no cache) and includes imports.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from verify.model import mlp
from verify.interpret.numeric import loss_and_grad

_SYMBOLIC = """
import time, sys
t0 = time.perf_counter()
from verify.testing.checking import check
from verify.model import mlp
widths = tuple(int(w) for w in sys.argv[1].split(","))
v = check(mlp(widths, "relu", bias=sys.argv[2] == "bias"), "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"
          if sys.argv[2] == "bias" else "sum(W2[i,:]**2) - sum(W3[:,i]**2)")
print(v.verdict, time.perf_counter() - t0)
"""


def numeric_rate(seconds: float = 3.0, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    n, t0 = 0, time.perf_counter()
    acts = ("relu", "leaky_relu", "identity")
    while time.perf_counter() - t0 < seconds:
        depth = int(rng.integers(2, 5))
        widths = rng.integers(1, 9, size=depth + 1)
        model = mlp(widths, [acts[int(a)] for a in rng.integers(0, 3, size=depth - 1)], bias=bool(rng.integers(2)))
        P = {p.name: rng.normal(size=p.shape) for p in model.params}
        X = rng.normal(size=(4, model.input_dim))
        _, G = loss_and_grad(model, P, X, np.zeros((4, model.output_dim)))
        W, Gw, Wn, Gn = P["W1"], G["W1"], P["W2"], G["W2"]
        lhs = np.sum(W * Gw, axis=1) + (P["b1"] * G["b1"] if "b1" in P else 0)
        rhs = np.sum(Wn * Gn, axis=0)
        scale = np.sum(np.abs(W * Gw), axis=1) + np.sum(np.abs(Wn * Gn), axis=0)
        assert np.all(np.abs(lhs - rhs) <= 1e-12 * scale + 1e-300)
        n += 1
    return n / (time.perf_counter() - t0)


def symbolic(widths: str, variant: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _SYMBOLIC, widths, variant], capture_output=True, text=True).stdout
    return (out.split()[0] if out else "error"), time.perf_counter() - t0


def main():
    rate = numeric_rate()
    print(f"numeric identity checks: {rate:,.0f} per second; limit >= 1,000; ratio {rate / 1000:.2f}x the limit")
    v, t = symbolic("3,3,2", "bias")
    print(f"symbolic verdict 2-layer width-3 ReLU with bias: {v} in {t:.2f} s (process incl. imports); "
          f"limit 2 s; ratio {t / 2:.2f}")
    v, t = symbolic("4,4,4,2", "plain")
    print(f"symbolic verdict 3-layer width-4 ReLU: {v} in {t:.2f} s; limit 20 s; ratio {t / 20:.2f}")


if __name__ == "__main__":
    main()
