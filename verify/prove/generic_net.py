"""The generic model of a user's network around a quantity's parameters (symbolic widths).

``segment(model, names)`` walks the model's layers once. Every value that does not depend on the
parameters ``names`` (the quantity's) becomes a fresh abstract vector: the layers below the
quantity's parameters enter only through their output ``a``. The walk stops after the last
top-level layer holding one of ``names`` (and a scale-invariant normalisation right after it), and
the layers above enter only through ``delta = dL/du``, the gradient arriving from above: to first
order in the parameters, L = <delta, u> + const, and SymPy's matrix calculus on Trace(delta^T u)
gives every gradient. Each width is a symbol n_0, n_1, ...; a residual block maps its input width to
itself. Each layer kind has one rule here (``_RULES``); a layer without one raises ``NoGenericRule``
saying which layer and why.

A bias b enters as B c, a weight B (n x k) on an extra input c (k x 1): SymPy's matrix calculus
mis-shapes derivatives by a column vector, and with k = 1, c = 1 this is b itself (footnote 8 of
Du, Hu & Lee 2018: a bias is a weight on a constant input); the gradient's words are then read with
B -> b and c -> 1.

References:
    Du, Hu & Lee (2018), Sec 2.3 and Appendix A (the two-layer block), footnote 8 (biases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from verify.certificates import Step
from verify.model import Model
from verify.model.layers import Act, Attention, Dense, DiagonalLinear, Normalize, NormalizedDense, Pool, Residual
from verify.model.layers.scale import Scale
from verify.prove.generic import NotNormalisable, context, elementwise_rules, terms, words_text

__all__ = ["NoGenericRule", "Segment", "segment", "holds_params"]


class NoGenericRule(Exception):
    """No generic rule applies; the message names the layer and the part of the model or quantity."""


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


def _dep(x, w: _Walk) -> bool:
    return x is not None and any(x.has(s) for s in (*w.symbols.values(), *(B for B, _ in w.biases.values())))


def _concrete(x, w: _Walk, n_conc: int, what: str):
    """The value as an expression: a fresh abstract vector if it does not depend on the quantity."""
    if x is not None:
        return x
    return w.vector(w.width(n_conc), n_conc, what)


def _dense(layer: Dense, x, d: int, w: _Walk, where: str, out_width=None):
    d_out = layer.out_dim(d, w.shapes, where)
    if layer.weight not in w.names and (layer.bias is None or layer.bias not in w.names) and not _dep(x, w):
        return None, d_out
    x = _concrete(x, w, d, f"the input of layer {where}")
    n_out = out_width if out_width is not None else w.width(d_out)
    W = sp.MatrixSymbol(layer.weight if layer.pattern is None else f"W({layer.weight})", n_out, x.shape[0])
    if layer.weight in w.names:
        if layer.pattern is not None:
            w.shared[layer.weight] = W
            w.hyp.append(f"layer {where} shares weights: W({layer.weight}) = sum_p {layer.weight}_p E_p for its "
                         "pattern's 0/1 matrices E_p (any pattern, any number of free parameters)")
        w.symbols[layer.weight] = W
    z = W * x
    if layer.bias is not None:
        if layer.bias in w.names:
            k = sp.Symbol(f"k_{layer.bias}", integer=True, positive=True)
            B, c = sp.MatrixSymbol(f"B_{layer.bias}", n_out, k), sp.MatrixSymbol(f"c_{layer.bias}", k, 1)
            w.biases[layer.bias] = (B, c)
            w.symbols[layer.bias] = sp.MatrixSymbol(layer.bias, n_out, 1)
            z = z + B * c
        else:
            z = z + sp.MatrixSymbol(layer.bias, n_out, 1)
    return z, d_out


def _act(layer: Act, x, d: int, w: _Walk, where: str, out_width=None):
    act = layer.activation
    if not _dep(x, w):
        return None, d  # independent of the quantity's parameters: an abstract vector when needed
    if act.is_identity:
        return x, d
    if w.acts:
        raise NoGenericRule(f"layer {where} ({act.name}) is a second activation between the quantity's parameters "
                            f"(after layer {w.acts[0][3]}); the generic engine differentiates through one")
    D = sp.MatrixSymbol("D", x.shape[0], x.shape[0])
    w.acts.append((x, D, act.degree, where))
    if act.is_homogeneous:
        k = act.degree
        w.hyp.append(f"layer {where} ({act.name}): phi is an undefined function with "
                     f"{'' if k == 1 else f'{k} '}phi(z) = phi'(z) z (homogeneous of degree {k}, as declared)")
    else:
        w.hyp.append(f"layer {where} ({act.name}): no homogeneity declared, so phi is an undefined function "
                     "with no property (the generic engine has no rule for it)")
    return x.applyfunc(sp.Function("phi")), d


def _pool(layer: Pool, x, d: int, w: _Walk, where: str, out_width=None):
    d_out = layer.out_dim(d, w.shapes, where)
    if not _dep(x, w):
        return None, d_out
    n_out = out_width if out_width is not None else w.width(d_out)
    S = sp.MatrixSymbol(f"S_{where}", n_out, x.shape[0])
    w.hyp.append(f"layer {where} ({layer.kind} pooling) is x -> S x: " + (
        "S averages each window (a fixed matrix)" if layer.kind == "avg" else
        "S is the 0/1 selection of each window's arg-max, constant on each arg-max region (every region "
        "covered; max(c x) = c max(x) for c > 0, so S = d pool/dx there)") + "; S is any matrix in the proof")
    return S * x, d_out


def _residual(layer: Residual, x, d: int, w: _Walk, where: str, out_width=None):
    if not holds_params(layer, w.names) and not _dep(x, w):
        return None, d
    x = _concrete(x, w, d, f"the input of residual block {where}")
    inner = _run(layer.block, x, d, w, f"{where}.", out_width=x.shape[0])
    if inner is None:  # the block does not reach the quantity's parameters: an abstract vector
        inner = w.vector(x.shape[0], d, f"the output of residual block {where}'s branch")
    w.hyp.append(f"layer {where} is x + block(x) (identity shortcut)")
    return x + inner, d


def _normalize(layer: Normalize, x, d: int, w: _Walk, where: str, out_width=None):
    if not _dep(x, w):
        return None, d
    J = sp.MatrixSymbol(f"J_{where}", x.shape[0], x.shape[0])
    w.zero.append((J, x))
    w.hyp.append(f"layer {where} ({layer.kind} normalisation) is scale invariant, N(c z) = N(z) for c > 0: it "
                 f"enters through its Jacobian J_{where} at z (first order), and J z = 0 (Euler, degree 0)")
    return J * x, d


def _opaque(kind: str) -> Callable:
    def rule(layer, x, d: int, w: _Walk, where: str, out_width=None):
        d_out = layer.out_dim(d, w.shapes, where)
        if holds_params(layer, w.names):
            raise NoGenericRule(f"layer {where} ({kind}) holds the quantity's parameter(s) "
                                f"{', '.join(sorted(set(layer.param_names()) & w.names))} and no generic rule "
                                "applies there together with the other layers' parameters")
        if _dep(x, w):
            raise NoGenericRule(f"layer {where} ({kind}) lies between the quantity's parameters and its output "
                                "is not a matrix word in its input")
        return None, d_out
    return rule


def _scale(layer: Scale, x, d: int, w: _Walk, where: str, out_width=None):
    if layer.gain in w.names:
        raise NoGenericRule(f"layer {where} (scale) holds {layer.gain}: no generic rule for learned gains")
    if not _dep(x, w):
        return None, d
    A = sp.MatrixSymbol(f"A_{where}", x.shape[0], x.shape[0])
    w.hyp.append(f"layer {where} (scale by {layer.gain}) is x -> A x with A = diag({layer.gain}) (any matrix in the proof)")
    return A * x, d


def _normalized_dense(layer: NormalizedDense, x, d: int, w: _Walk, where: str, out_width=None):
    if layer.weight in w.names:
        raise NoGenericRule(f"layer {where} (weight-normalised) holds {layer.weight}; its rule (row i of "
                            f"{layer.weight} alone) applies only when the quantity names no other layer's parameter")
    d_out = layer.out_dim(d, w.shapes, where)
    if not _dep(x, w) and (layer.bias is None or layer.bias not in w.names):
        return None, d_out
    plain = Dense(f"V_{where}", layer.bias)
    shapes = {**w.shapes, f"V_{where}": (d_out, d)}
    w.shapes, old = shapes, w.shapes
    try:
        out = _dense(plain, x, d, w, where, out_width)
    finally:
        w.shapes = old
    w.abstract.append(f"V_{where} = the row-normalised {layer.weight} (not in the quantity: any matrix)")
    return out


_RULES: dict = {Dense: _dense, Act: _act, Pool: _pool, Residual: _residual, Normalize: _normalize,
                Scale: _scale, NormalizedDense: _normalized_dense, Attention: _opaque("attention"),
                DiagonalLinear: _opaque("diagonal")}


def _changes_width(layer) -> bool:
    return type(layer) in (Dense, Pool, NormalizedDense, Attention, DiagonalLinear)


def _run(layers, x, d: int, w: _Walk, prefix: str, out_width=None, stop: int | None = None):
    last = max((k for k, layer in enumerate(layers) if _changes_width(layer)), default=-1)
    for k, layer in enumerate(layers if stop is None else layers[:stop]):
        rule = _RULES.get(type(layer))
        if rule is None:
            raise NoGenericRule(f"layer {prefix}{k + 1} ({type(layer).__name__}) has no generic rule")
        x, d = rule(layer, x, d, w, f"{prefix}{k + 1}", out_width if k == last else None)
    return x


def segment(model: Model, names) -> Segment:
    """The generic model of ``model`` around the parameters ``names`` (see the module docstring)."""
    names = frozenset(names)
    layers = model.layers
    held = [k for k, layer in enumerate(layers) if holds_params(layer, names)]
    if not held:
        raise NoGenericRule("the quantity names no parameter of the model")
    stop = held[-1] + 1
    if stop < len(layers) and type(layers[stop]) is Normalize:
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
