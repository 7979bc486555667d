"""The generic model of a user's network around a quantity's parameters (symbolic widths).

``segment(model, names)`` walks the model's layers once. Every value that does not depend on the
parameters ``names`` (the quantity's) becomes a fresh abstract vector: the layers below the
quantity's parameters enter only through their output ``a``. The walk stops after the last
top-level layer holding one of ``names`` (and a scale-invariant normalisation right after it), and
the layers above enter only through ``delta = dL/du``, the gradient arriving from above: to first
order in the parameters, L = <delta, u> + const, and SymPy's matrix calculus on Trace(delta^T u)
gives every gradient. Each width is a symbol n_0, n_1, ...; a residual block maps its input width to
itself. Each layer kind declares its rule in its own module (``LayerBase.generic`` in
``verify.model.layers``); a layer without one raises ``NoGenericRule`` saying which layer and why.

A bias b enters as B c, a weight B (n x k) on an extra input c (k x 1): SymPy's matrix calculus
mis-shapes derivatives by a column vector, and with k = 1, c = 1 this is b itself (footnote 8 of
Du, Hu & Lee 2018: a bias is a weight on a constant input); the gradient's words are then read with
B -> b and c -> 1.

References:
    Du, Hu & Lee (2018), Sec 2.3 and Appendix A (the two-layer block), footnote 8 (biases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from verify.certificates import Step
from verify.model import Model
from verify.model.layers._base import NoGenericRule
from verify.prove.generic import NotNormalisable, context, elementwise_rules, terms, words_text

__all__ = ["NoGenericRule", "Segment", "segment", "holds_params"]


@dataclass
class _Walk:
    """Mutable state of one walk (private; the result is the frozen ``Segment``)."""

    names: frozenset
    shapes: dict
    widths: list = field(default_factory=list)   # (symbol, spec width)
    symbols: dict = field(default_factory=dict)  # quantity name -> MatrixSymbol
    biases: dict = field(default_factory=dict)   # b -> (B, c) of the bias trick
    shared: dict = field(default_factory=dict)   # shared vector name -> its layer's matrix W(v)
    acts: list = field(default_factory=list)     # (z, D, k or None, layer text)
    zero: list = field(default_factory=list)     # (J, value) with J value = 0
    steps: list = field(default_factory=list)
    hyp: list = field(default_factory=list)
    abstract: list = field(default_factory=list)  # what was abstracted, as text
    fresh: int = 0

    def width(self, concrete: int):
        n = sp.Symbol(f"n_{len(self.widths)}", integer=True, positive=True)
        self.widths.append((n, concrete))
        return n

    def vector(self, n, concrete: int, what: str):
        name = "a" if self.fresh == 0 else f"h_{self.fresh}"
        self.fresh += 1
        self.abstract.append(f"{name} = {what} (does not depend on the quantity's parameters; width {n}, "
                             f"{concrete} in the spec)")
        return sp.MatrixSymbol(name, n, 1)

    def depends(self, x) -> bool:
        return x is not None and any(x.has(s) for s in (*self.symbols.values(), *(B for B, _ in self.biases.values())))

    def concrete(self, x, d: int, what: str):
        return x if x is not None else self.vector(self.width(d), d, what)

    def holds(self, layer) -> bool:
        return holds_params(layer, self.names)

    def run(self, layers, x, d: int, prefix: str, out_width=None):
        return _run(layers, x, d, self, prefix, out_width)


@dataclass(frozen=True)
class Segment:
    """The generic model around the quantity's parameters.

    ``symbols``: quantity name -> generic matrix (a weight n_out x n_in, a bias n x 1; a shared vector
    v maps to its layer's matrix W(v)). ``grads``: generic symbol -> dL/d(symbol) as (coefficient, word)
    terms after the declared rules. ``zero``: (J, value) pairs with J value = 0 (scale invariance).
    ``ones``: the all-ones vector with 1^T delta = 0 (cross-entropy), or None. ``diag``: (D, unit
    width) of each diagonal derivative matrix.
    """

    symbols: dict
    shared: dict
    grads: dict
    ctx: Any
    steps: tuple
    hypotheses: tuple
    abstract: tuple
    widths: tuple
    diag: tuple
    zero: tuple
    ones: object
    delta: object
    top: str


def holds_params(layer, names) -> bool:
    """Does ``layer`` (sub-layers included) hold one of ``names``?"""
    return bool(set(layer.param_names()) & set(names)) or any(holds_params(s, names) for s in layer.sublayers())


def _run(layers, x, d: int, w: _Walk, prefix: str, out_width=None, stop: int | None = None):
    last = max((k for k, layer in enumerate(layers) if not layer.keeps_width), default=-1)
    for k, layer in enumerate(layers if stop is None else layers[:stop]):
        x, d = layer.generic(x, d, w, f"{prefix}{k + 1}", out_width if k == last else None)
    return x


def segment(model: Model, names) -> Segment:
    """The generic model of ``model`` around the parameters ``names`` (see the module docstring)."""
    names = frozenset(names)
    layers = model.layers
    held = [k for k, layer in enumerate(layers) if holds_params(layer, names)]
    if not held:
        raise NoGenericRule("the quantity names no parameter of the model")
    stop = held[-1] + 1
    if stop < len(layers) and layers[stop].scale_invariant:
        stop += 1  # a scale-invariant normalisation right above: its rule (J z = 0) may be needed
    w = _Walk(names, {p.name: p.shape for p in model.params})
    u = _run(layers, None, model.input_dim, w, "", stop=stop)
    if u is None or not w.symbols:
        raise NoGenericRule("the model's output does not depend on the quantity's parameters")
    delta = sp.MatrixSymbol("delta", u.shape[0], 1)
    ones = None
    top = f"layer {stop}"
    if stop == len(layers) and model.loss == "cross_entropy":
        ones = sp.MatrixSymbol("1", u.shape[0], 1)
        w.hyp.append("cross-entropy with targets summing to 1: delta = softmax(u) - t, so 1^T delta = 0")
    elif stop == len(layers):
        w.hyp.append("u is the network's output; the loss is arbitrary" + (
            f" (the spec's {model.loss} loss states no property the generic engine uses)" if model.loss else ""))
    w.hyp.insert(0, f"the layers below enter only through their outputs ({', '.join(a.split(' = ')[0] for a in w.abstract) or 'none'}); "
                 f"the layers above {top} only through delta = dL/du (abstract); any depth above and below")
    L = sp.Trace(delta.T * u)
    steps = [Step(f"u = {sp.sstr(u)},  L = <delta, u> + const", "the spec's layers, symbolic widths (first order "
                  "in the parameters: the layers above enter through delta)")]
    D = [(Dm, k) for _, Dm, k, _ in w.acts]
    grads, raw = {}, []
    for name, P in w.symbols.items():
        target = w.biases[name][0] if name in w.biases else P
        try:
            G = L.diff(target)
        except Exception as exc:  # SymPy's matrix calculus gives up: say where
            raise NoGenericRule(f"SymPy's matrix calculus cannot differentiate the model by {name} "
                                f"({type(exc).__name__})") from None
        raw.append(f"G_{name} = {sp.sstr(G)}")
        for z, Dm, k, _ in w.acts:
            try:
                G = elementwise_rules(G, z, Dm, k)
            except NotNormalisable as exc:
                raise NoGenericRule(f"the gradient by {name} holds a construct the generic engine does not know: "
                                    f"{exc}") from None
        grads[P] = _read_bias(terms(G, context([Dm for Dm, _ in D])), w)
    steps.append(Step(",  ".join(raw), "SymPy matrix calculus on Trace(delta^T u)"))
    rules = []
    if w.acts:
        rules.append("x o phi'(z) = D x with D := diag(phi'(z))")
        if w.acts[0][2]:
            k = w.acts[0][2]
            rules.append(f"{'' if k == 1 else f'{k} '}phi(z) = D z (homogeneity of degree {k}); D^T = D")
    if w.biases:
        rules.append("bias b = B c with k = 1, c = 1 (a weight on a constant input): B -> b, c -> 1")
    if rules:
        steps.append(Step(",  ".join(f"G_{n} = {words_text(grads[P])}" for n, P in w.symbols.items()),
                          "; ".join(rules)))
    ctx = context([Dm for Dm, _ in D])
    zero = tuple((J, _read_bias(terms(x, ctx), w)) for J, x in w.zero)
    return Segment(dict(w.symbols), dict(w.shared), grads, ctx, tuple(steps), tuple(w.hyp), tuple(w.abstract),
                   tuple(w.widths), tuple((Dm, Dm.shape[0]) for Dm, _ in D), zero, ones, delta, top)


def _read_bias(pairs, w: _Walk):
    """Words with B -> b and c -> 1 (k = 1): the bias trick undone (see the module docstring)."""
    if not w.biases:
        return pairs
    swap = {}
    for name, (B, c) in w.biases.items():
        b = w.symbols[name]
        swap.update({B: b, sp.Transpose(B): sp.Transpose(b), c: None, sp.Transpose(c): None})
    return [(coeff, tuple(swap.get(a, a) for a in word if swap.get(a, a) is not None)) for coeff, word in pairs]
