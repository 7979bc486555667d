"""Concrete proofs: a given model with every entry symbolic, an undefined loss, exact arithmetic.

``prove_conserved`` decides whether a quantity Q is conserved (flow) or changes by a stated
increment (one GD step). The residual is derived by SymPy (``verify.prove.dynamics``) and expanded:

* expansion gives exactly 0 for every entry -> ``Proven`` (a polynomial identity in the parameters,
  the data, the region symbols and the loss derivatives, so it holds for every loss and every
  activation pattern);
* otherwise a rational witness is searched (``verify.prove.witness``) -> ``Refuted`` with its exact value;
* no witness found, or the residual too large to expand within the budget -> ``Undecided``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from verify.certificates import Proven, Refuted, Step, Undecided, Verdict
from verify.model.chosen_loss import constraint, formula
from verify.prove.dynamics import DYNAMICS, ETA, GAMMA, LAMBDA, flow_derivative, gd_increment, momentum_derivative, velocities
from verify.interpret.auxiliary import clearly_nonzero, has_auxiliaries, reduce_residual
from verify.model import Model, walk
from verify.interpret.symbolic import SymbolicNet, symbolic_net
from verify.prove.witness import find_witness

__all__ = ["Quantity", "prove_conserved", "entries", "DEFAULT_BUDGET_OPS"]

#: Residuals with more operations than this are not expanded (Undecided unless a witness is found).
#: 2e5 ops expands in a few seconds on the reference 2-core machine.
DEFAULT_BUDGET_OPS = 200_000


@dataclass(frozen=True)
class Quantity:
    """A quantity Q(params): ``build`` maps name -> sympy.Matrix to a scalar, a Matrix, or a dict
    label -> scalar (one entry per free index value)."""

    text: str
    build: Callable[[Mapping[str, sp.Matrix]], object]


def entries(value, prefix: str = "") -> list[tuple[str, sp.Expr]]:
    """Normalise a scalar / Matrix / dict quantity to labelled scalar entries."""
    if isinstance(value, Mapping):
        out = []
        for key, v in value.items():
            out += entries(v, f"{prefix}{key}")
        return out
    if isinstance(value, sp.MatrixBase):
        if value.shape == (1, 1):
            return [(prefix, value[0, 0])]
        return [(f"{prefix}[{i},{j}]", value[i, j]) for i in range(value.rows) for j in range(value.cols)]
    return [(prefix, sp.Integer(value) if isinstance(value, int) else sp.Float(value) if isinstance(value, float) else value)]


def _short(expr, limit: int = 160) -> str:
    """Printable head of an expression; prints only the first terms (printing is costly)."""
    if isinstance(expr, sp.MatrixBase):
        expr = expr[0, 0] if expr.shape == (1, 1) else expr[:, :]
        if not isinstance(expr, sp.Expr):
            return f"Matrix{expr.shape}: [{_short(expr[0], limit)}, ...]"
    args = sp.Add.make_args(expr)
    head = sp.sstr(sp.Add(*args[:3], evaluate=False)) if len(args) > 3 else sp.sstr(expr)
    more = f" + ... ({len(args)} terms)" if len(args) > 3 else ""
    return (head if len(head) <= limit else head[:limit] + " ...") + more


def _hypotheses(model: Model, n_data: int) -> list[str]:
    ell = ("an undefined differentiable ell(f(x))" if model.loss is None else
           f"the chosen {model.loss} loss ({formula(model.loss)}), through its derivatives dl only")
    hyp = [f"loss L = sum over {n_data} data point(s) of {ell}"
           + ("; dQ/dt is linear in L, so one point covers any data set" if n_data == 1 else "")]
    for layer in walk(model.layers):
        text = layer.hypothesis()  # each layer kind states what a proof through it assumes
        if text and text not in hyp:
            hyp.append(text)
    return hyp


def _ratio_looks_constant(r, q, net) -> bool:
    """r/q at two random points differing in everything but lambda, eta, gamma (30-digit floats)."""
    from verify.interpret.auxiliary import sample_point
    keep = sample_point([LAMBDA, ETA, GAMMA], net, seed=1)
    keep = {k: v for k, v in keep.items() if k in (LAMBDA, ETA, GAMMA)}
    ratios = []
    for seed in (2, 3):
        point = sample_point(r.free_symbols | q.free_symbols, net, seed, keep)
        den = q.xreplace(point).evalf(30)
        if den == 0:
            return True
        ratios.append(r.xreplace(point).evalf(30) / den)
    return bool(abs(ratios[0] - ratios[1]) <= sp.Float(10) ** -12 * (abs(ratios[0]) + abs(ratios[1]) + 1))


def _proportional_law(qmap, residuals, net) -> str:
    """'dQ/dt = c*Q' when every non-zero residual is a constant multiple c of its own entry of Q
    (c free of parameters, data and loss), else ''. Exact: c = cancel(residual / Q)."""
    laws = set()
    for label, r in residuals:
        q = qmap[label]
        if q == 0:
            return ""
        if not _ratio_looks_constant(r, q, net):
            return ""  # cheap float pre-test; the exact cancel below is costly on large residuals
        c = sp.cancel(r / q)
        if c.free_symbols - {LAMBDA, ETA, GAMMA} and has_auxiliaries(net):
            # With norms the loss part may vanish only under t**2 = B: try the weight-decay part
            # as c and verify exactly that the rest reduces to 0.
            c = sp.cancel(r.coeff(LAMBDA) * LAMBDA / q)
            if not c.free_symbols - {LAMBDA, ETA, GAMMA} and reduce_residual(sp.expand(r - c * q), net) != 0:
                return ""
        if c.free_symbols - {LAMBDA, ETA, GAMMA}:
            return ""
        laws.add(c)
    return f"dQ/dt = ({sp.sstr(laws.pop())})*Q exactly, for every entry" if len(laws) == 1 else ""


def prove_conserved(
    model: Model,
    quantity: Quantity,
    *,
    dynamics: str = "flow",
    increment: Callable[[Mapping[str, sp.Matrix], SymbolicNet, sp.Expr], object] | None = None,
    claim_id: str = "user",
    title: str = "",
    statement: str = "",
    n_data: int = 1,
    seed: int = 0,
    budget_ops: int = DEFAULT_BUDGET_OPS,
    weight_decay=None,
) -> Verdict:
    """Decide conservation of ``quantity`` on ``model`` under ``dynamics`` ("flow" or "gd").

    For "gd", ``increment(params, net, eta)`` gives the claimed exact change of Q in one step
    (default 0); the residual is Q(theta - eta G) - Q(theta) - increment. For "momentum" the
    quantity may also use the velocities ``<param>_dot``. ``weight_decay`` adds lambda*theta to the
    gradient (``True`` for a symbolic lambda, or a number). When Q is not conserved but
    dQ/dt = c*Q exactly (e.g. -2 lambda Q under weight decay), the ``Refuted`` verdict says so.

    References:
        Du, Hu & Lee (2018), Thm 2.1-2.3 (flow) and the [derived] GD identities of the catalog.
    """
    t0 = time.perf_counter()
    from verify.errors import BadInput
    if dynamics not in DYNAMICS:
        raise BadInput(f"Got dynamics={dynamics!r}; use one of {', '.join(DYNAMICS)}.")
    net = symbolic_net(model, n_data)
    decay = LAMBDA if weight_decay is True else sp.Rational(str(weight_decay)) if weight_decay else 0
    params = dict(net.params)
    vel = velocities(net) if dynamics == "momentum" else {}
    params.update(vel)
    Q = entries(quantity.build(params))
    common = dict(claim_id=claim_id, title=title or f"{quantity.text} on {model.name}", mode="concrete",
                  dynamics=dynamics, statement=statement or (f"Q = {quantity.text} is conserved" if dynamics != "gd" else
                                                   f"one GD step changes Q = {quantity.text} by the claimed increment"))
    wd = f" with weight decay {decay}*theta" if decay else ""
    if dynamics == "flow":
        residuals = [(f"dQ{label}/dt", flow_derivative(q, net, decay)) for label, q in Q]
        rule = f"gradient flow theta' = -dL/dtheta{wd}; dQ/dt = -sum dQ/dtheta * theta' (SymPy derivatives)"
    elif dynamics == "gd":
        claimed = entries(increment(net.params, net, ETA)) if increment else [(lbl, 0) for lbl, _ in Q]
        residuals = [(f"DeltaQ{label} - claimed", gd_increment(q, net, ETA, decay) - c)
                     for (label, q), (_, c) in zip(Q, claimed)]
        rule = f"one GD step theta -> theta - eta*dL/dtheta{wd} substituted into Q by SymPy"
    else:
        residuals = [(f"dQ{label}/dt", momentum_derivative(q, net, vel, GAMMA, decay)) for label, q in Q]
        rule = f"heavy-ball flow theta' = p, p' = -gamma p - dL/dtheta{wd} (velocity p = <param>_dot)"

    steps = [Step(f"f(x)[0] = {_short(net.outputs[0][0], 120)}", f"symbolic interpretation of {model.name}")]
    sample = next(iter(net.theta))
    steps.append(Step(f"dL/d{sample} = {_short(net.gradient[sample])}", "derived by SymPy (chain rule), loss left undefined"))
    restrict, why = constraint(model.loss, net.loss_derivatives)
    if restrict:
        residuals = [(lbl, r.xreplace(restrict)) for lbl, r in residuals]
        steps.append(Step(", ".join(f"{k} = {v}" for k, v in list(restrict.items())[:2]), why))
    extra = [ETA] if dynamics == "gd" else [GAMMA] if dynamics == "momentum" else []
    extra += [s for M in vel.values() for s in M] + ([LAMBDA] if decay == LAMBDA else [])
    if not decay and has_auxiliaries(net):
        # Norms / softmax make expansion slow (GD on attention: seconds per entry). A residual far
        # from 0 at a float point goes straight to the exact witness search; expansion follows
        # only if that finds nothing. (Not with weight decay: its exact law needs the expansion.)
        quick = [(lbl, r) for lbl, r in residuals if clearly_nonzero(r, net)]
        witness = find_witness(quick, net, seed=seed, extra=tuple(extra))[0] if quick else None
        if witness is not None:
            return Refuted(**common, seconds=time.perf_counter() - t0, witness=witness, exact_law="")
    too_big = [lbl for lbl, r in residuals if sp.count_ops(r) > budget_ops]
    if not too_big:
        expanded = [(lbl, sp.expand(r)) for lbl, r in residuals]
        # reduce_residual: exact zero test with the norm relations t**2 = B (identity otherwise)
        nonzero = [(lbl, r) for lbl, r in expanded if reduce_residual(r, net) != 0]
        if not nonzero:
            lbl, r = residuals[0]
            steps.append(Step(f"{lbl} = {_short(r)}", rule))
            steps.append(Step(f"every one of the {len(residuals)} entries expands to 0"
                              + (" (norm symbols t reduced by t**2 = B)" if net.relations else ""),
                              "polynomial identity in parameters, data, region symbols s and loss derivatives dl"
                              + (", auxiliary symbols t, e" if has_auxiliaries(net) else "")))
            return Proven(**common, seconds=time.perf_counter() - t0, steps=tuple(steps),
                          hypotheses=tuple(_hypotheses(model, n_data)))
        search = nonzero
    else:
        search = residuals
    witness, largest = find_witness(search, net, seed=seed, extra=tuple(extra))
    if witness is not None:
        law = _proportional_law({lbl: q for (lbl, _), (_, q) in zip(residuals, Q)}, search, net) if not too_big else ""
        return Refuted(**common, seconds=time.perf_counter() - t0, witness=witness, exact_law=law)
    reason = (f"residual of {len(too_big)} entries exceeds the budget of {budget_ops} operations"
              if too_big else "residual does not expand to 0, but no rational witness was found")
    return Undecided(**common, seconds=time.perf_counter() - t0, reason=reason,
                     evidence={"largest |residual| at sampled points": largest,
                               "residual (first entry)": _short(search[0][1])})
