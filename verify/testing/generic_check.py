"""``check(..., mode="generic")`` and ``verify check --generic``: the user's quantity for every width.

``generic_proof(model, quantity)`` builds the generic model around the quantity's parameters
(``verify.prove.generic_net``: symbolic widths, the layers below through their output a, the layers
above through delta), reads the quantity as matrix words (``verify.testing.generic_words``) and proves
it with the declared rules (``verify.prove.generic_rules``). Layers with their own structure have their
own rule: softmax attention and weight-normalised rows (``verify.prove.generic_layers``), diagonal
layers (``verify.prove.generic_diag``). The outcome is a generic ``Proven``, a generic ``Undecided``
(the residual did not reduce: never a refutation), or no verdict and the reason no rule applies (which
layer, which part of the quantity). ``check`` then falls back to the concrete proof, which gives the
exact witness of a refutation.

Generic proofs of specs cover gradient flow without weight decay (one sample: dQ/dt is linear in L).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verify.certificates import Proven, Undecided, Verdict
from verify.model import Model
from verify.model.core import walk
from verify.model.layers import Act, Attention, Dense, DiagonalLinear, NormalizedDense
from verify.lang.quantity import Quantity as ParsedQuantity
from verify.lang.quantity import parse_quantity

__all__ = ["GenericOutcome", "generic_proof", "summary"]


@dataclass(frozen=True)
class GenericOutcome:
    """``verdict``: the generic engine's ``Proven`` / ``Undecided``, or None when no rule applies;
    ``reason``: why there is no generic proof ('' when proven)."""

    verdict: Verdict | None
    reason: str

    @property
    def proven(self) -> bool:
        return isinstance(self.verdict, Proven)


def summary(outcome: GenericOutcome) -> str:
    """One line for the CLI beside a concrete verdict."""
    v = outcome.verdict
    if isinstance(v, Proven):
        widths = next((h for h in v.hypotheses if h.startswith("every width") or h.startswith("n symbolic")), "")
        return (f"generic: PROVEN ({v.seconds:.2f} s) for {widths.split(' are symbols')[0] or 'every width'}, "
                "any depth; --generic prints the derivation")
    return f"generic: no generic proof: {outcome.reason}"


def _statement(text: str) -> str:
    return f"Q = {text} is conserved, for every width"


def _layer_pairs(model: Model, names) -> str:
    """Sequential specs: the pairs (W_h, W_(h+1)) with the same block as the quantity's (any depth)."""
    L: Any = model.layers
    blocks = [(k, L[k], L[k + 1], L[k + 2]) for k in range(len(L) - 2)
              if type(L[k]) is Dense and type(L[k + 1]) is Act and type(L[k + 2]) is Dense]
    mine = [b for b in blocks if {b[1].weight, b[3].weight} <= set(names) | {b[1].weight}
            and b[1].weight in names and b[3].weight in names]
    if not mine or any(type(x) not in (Dense, Act) for x in L):
        return ""
    _, first, mid, _ = mine[0]
    # the same quantity on another pair needs the same block: activation degree, bias, no sharing
    same = [f"({b[1].weight}, {b[3].weight})" for b in blocks if b[2].activation.degree == mid.activation.degree
            and (b[1].bias is None) == (first.bias is None) and b[1].pattern is None and b[3].pattern is None]
    deg = mid.activation.degree
    return (f"for every hidden layer h of any depth: the derivation uses only layer h's input a and the gradient "
            f"delta from above, so the same quantity holds for every pair (W_h, W_(h+1)) of dense layers with an "
            f"activation of degree {deg} between them (layer h {'with' if first.bias else 'without'} bias), at any "
            f"position; in this spec: {', '.join(same)}")


def _undecided_reason(v: Undecided, model: Model, names) -> str:
    acts = [x.activation.name for x in walk(model.layers) if type(x) is Act and not x.activation.is_homogeneous]
    residual = next(iter(v.evidence.values()), "")
    hint = f" ({', '.join(acts)} declare{'' if len(acts) > 1 else 's'} no homogeneity)" if acts else ""
    return f"the generic residual does not reduce to 0{hint}: {residual}"


def generic_proof(model: Model, quantity, *, dynamics: str = "flow", weight_decay=None,
                  increment=None) -> GenericOutcome:
    """The generic proof of ``quantity`` on ``model`` (see the module docstring)."""
    from verify.prove.generic import NotNormalisable
    from verify.prove.generic_net import NoGenericRule
    if dynamics != "flow" or weight_decay or increment is not None:
        return GenericOutcome(None, "generic proofs of specs cover gradient flow without weight decay "
                                    f"(got dynamics={dynamics}{', weight decay' if weight_decay else ''})")
    text = getattr(quantity, "text", None)
    if isinstance(quantity, str):
        q = parse_quantity(quantity)
    elif isinstance(quantity, ParsedQuantity):
        q = quantity
    elif text is not None and type(quantity).__name__ == "_TextQuantity":
        q = parse_quantity(text)
    else:
        return GenericOutcome(None, "a Python Quantity object has no text to read as matrix words")
    params = {p.name for p in model.params}
    names = [n for n in q.names if n in params]
    velocities = [n for n in q.names if n not in params]
    try:
        if velocities:
            raise NoGenericRule(f"the quantity names {', '.join(velocities)}, not a parameter (velocities: momentum)")
        v = _prove(model, q, names)
    except NoGenericRule as exc:
        return GenericOutcome(None, str(exc))
    except NotNormalisable as exc:
        return GenericOutcome(None, f"outside the generic engine: {exc}")
    if isinstance(v, Undecided):
        return GenericOutcome(v, _undecided_reason(v, model, names))
    return GenericOutcome(v, "")


def _prove(model: Model, q: ParsedQuantity, names) -> Verdict:
    from verify.prove.generic_diag import prove_diagonal
    from verify.prove.generic_layers import attention_segment, weightnorm_segment, weightnorm_weight
    from verify.prove.generic_net import NoGenericRule, segment
    from verify.prove.generic_rules import prove_segment
    from verify.testing.generic_words import to_indexed, to_words
    import time
    t0 = time.perf_counter()  # the verdict's seconds include building the generic model
    title, statement = f"{q.text} on {model.name}", _statement(q.text)
    shapes = {p.name: p.shape for p in model.params}
    owners = [(k, x) for k, x in enumerate(walk(model.layers)) if set(x.param_names()) & set(names)]
    for k, x in owners:
        where = f"{k + 1}"
        if type(x) is DiagonalLinear:
            if len(owners) > 1:
                raise NoGenericRule(f"the quantity mixes the diagonal layer {where} with other layers")
            Q, named = to_indexed(q, set(x.param_names()))
            return prove_diagonal(x, Q, named, "check", title, statement, shapes[x.factors[0]][0])
        if type(x) is Attention:
            seg = attention_segment(x, shapes, names, where)
            return prove_segment(seg, to_words(q, seg.symbols, {}), "check", title, statement, t0)
        if type(x) is NormalizedDense and x.weight in names:
            W = weightnorm_weight(x, shapes)
            gq = to_words(q, {x.weight: W}, {})
            e = next(iter(gq.units.values())) if len(gq.units) == 1 else None
            seg = weightnorm_segment(x, shapes, names, where, e)
            return prove_segment(seg, gq, "check", title, statement, t0)
    seg = segment(model, names)
    gq = to_words(q, {n: s for n, s in seg.symbols.items() if n not in seg.shared}, seg.shared)
    pairs = _layer_pairs(model, names)
    return prove_segment(seg, gq, "check", title, statement, t0, extra_hyp=(pairs,) if pairs else ())
