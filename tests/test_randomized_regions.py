"""Issue 19: region symbols are free variables in the randomized route, so one test covers every
activation pattern, but a refutation needs a witness whose regions are real.

Two mutations, built as a layer kind through the extension point (``PatternGate``): ReLU on three
units plus a fourth output g * m(s1, s2, s3) (a gate of the activation pattern). Q = g**2 then has
dQ/dt = -2 g dL/dg = -2 g dl W2[0,3] m(s), so

* m = s1 s2 (1 - s3): non-zero on the pattern (1, 1, 0) only. It must be caught and refuted with a
  witness on that pattern, whose regions match the signs of the pre-activations;
* m = s1 - s1**2: 0 on every real pattern (s in {0, 1}) but not as a polynomial in a free s. It
  must NOT be refuted (no real point gives a non-zero value): undecided, with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

from verify.certificates import Refuted, Undecided
from verify.interpret.numeric import loss_and_grad
from verify.lang.spec import load_spec
from verify.model import Dense, Model, Param, get_activation
from verify.model.layers._base import LayerBase
from verify.testing.checking import check

RELU = get_activation("relu")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class PatternGate(LayerBase):
    """relu(z) on 3 units, then g * m(s) appended (``mode``: "pattern" or "idempotent")."""

    gain: str
    mode: str

    def param_names(self) -> tuple[str, ...]:
        return (self.gain,)

    def out_dim(self, d: int, shapes: Mapping, where: str) -> int:
        assert d == 3
        return 4

    def _gate(self, s):
        return s[0] * s[1] * (1 - s[2]) if self.mode == "pattern" else s[0] - s[0] ** 2

    def symbolic(self, a, st):
        hidden = st.next_index("hidden")
        s = [st.region(f"s{hidden}_{u}", a[u], RELU) for u in range(3)]
        return sp.Matrix([s[u] * a[u] for u in range(3)] + [st.P[self.gain][0] * self._gate(s)])

    def exact_forward(self, P, a, ex) -> tuple[Any, Any]:
        hidden = ex.next_index("hidden")
        s = [ex.region(f"s{hidden}_{u}", a[u], RELU) for u in range(3)]
        gate = ex.mod(self._gate(s))
        out = [ex.mod(s[u] * a[u]) for u in range(3)] + [ex.mod(P[self.gain][()] * gate)]
        return np.array(out, dtype=object), (s, gate)

    def exact_backward(self, P, a_in, cache, d, grads, ex):
        s, gate = cache
        grads[self.gain] = np.asarray(ex.mod(grads[self.gain][()] + d[3] * gate), dtype=object).reshape(())
        return np.array([ex.mod(d[u] * s[u]) for u in range(3)], dtype=object)


def _model(mode: str) -> Model:
    params = (Param("W1", (3, 2)), Param("g", ()), Param("W2", (1, 4)))
    return Model(f"pattern gate ({mode})", 2, params, (Dense("W1"), PatternGate("g", mode), Dense("W2")))


def test_du_1_residual_on_one_activation_pattern_is_caught_with_a_real_witness():
    model = _model("pattern")
    # the symbolic route cannot prove it either; its 12-point witness search (half of them with every
    # unit on) misses the one pattern, so it says undecided: the randomized route searches 48 points
    assert check(model, "g**2", method="symbolic").verdict != "proven"
    v = check(model, "g**2", method="randomized")
    assert isinstance(v, Refuted) and "[randomized route]" in v.title
    w = v.witness
    # the regions of the witness are the signs of W1 x at the witness (recomputed here, exactly)
    W1 = [[Fraction(e) for e in row] for row in w.params["W1"]]
    x = [Fraction(e) for e in w.data[0]]
    z = [sum(W1[u][j] * x[j] for j in range(2)) for u in range(3)]
    assert all(zu != 0 for zu in z)
    assert [w.regions[f"s1_{u}"] for u in range(3)] == [str(int(zu > 0)) for zu in z]
    assert [w.regions[f"s1_{u}"] for u in range(3)] == ["1", "1", "0"]  # the one pattern where it is non-zero
    g, w2 = Fraction(w.params["g"][0][0]), Fraction(w.params["W2"][0][3])
    assert Fraction(w.value) != 0 and g != 0 and w2 != 0


def test_du_1_residual_zero_on_every_real_pattern_is_not_refuted():
    model = _model("idempotent")
    v = check(model, "g**2", method="randomized")
    assert isinstance(v, Undecided) and "activation pattern" in v.reason
    assert v.evidence["real points tried"] > 0 and v.evidence["route"] == "randomized"
    assert not isinstance(check(model, "g**2", method="symbolic"), Refuted)


def test_du_1_witness_regions_are_real_on_relu_and_max_pool_nets():
    v = check(load_spec(EXAMPLES / "two_layer_relu_bias.toml"), "sum(W1[i,:]**2) - sum(W2[:,i]**2)",
              method="randomized")
    assert isinstance(v, Refuted)
    w = v.witness
    W1 = np.array([[Fraction(e) for e in row] for row in w.params["W1"]], dtype=object)
    b1 = np.array([Fraction(row[0]) for row in w.params["b1"]], dtype=object)
    z = W1 @ np.array([Fraction(e) for e in w.data[0]], dtype=object) + b1
    assert [w.regions[f"s1_{u}"] for u in range(len(z))] == [str(int(zu > 0)) for zu in z]
    # the exact value, re-checked in float64 by the independent numeric backprop (verify.interpret.numeric)
    model = load_spec(EXAMPLES / "two_layer_relu_bias.toml")
    P = {k: np.array([[float(Fraction(e)) for e in row] for row in rows]).reshape(model.param(k).shape)
         for k, rows in w.params.items()}
    targets = np.array([[float(Fraction(t)) for t in ts] for ts in ast.literal_eval(w.loss.split("t = ")[1])])
    _, G = loss_and_grad(model, P, np.array([[float(Fraction(e)) for e in w.data[0]]]), targets)
    i = int(w.entry.split("i=")[1].split("]")[0])
    dq = -2 * (P["W1"][i] @ G["W1"][i]) + 2 * (P["W2"][:, i] @ G["W2"][:, i])
    assert dq == pytest.approx(float(Fraction(w.value)), rel=1e-9, abs=1e-12) and dq != 0
    pooled = check(load_spec(EXAMPLES / "conv2d_maxpool.toml"), "sum(v1[0:4]**2) - W2[0,1]**2", method="randomized")
    assert isinstance(pooled, Refuted)
    sel = {k: v for k, v in pooled.witness.regions.items() if k.startswith("m")}
    assert sel and set(sel.values()) <= {"0", "1"}
