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
from sympy.polys.domains import QQ
from sympy.polys.polyerrors import BasePolynomialError
from sympy.polys.rings import PolyRing

from verify.certificates import Proven, Refuted, Step, Undecided, Verdict
from verify.model.chosen_loss import constraint, formula
from verify.prove.dynamics import DYNAMICS, ETA, GAMMA, LAMBDA, flow_derivative, gd_increment, momentum_derivative, velocities
from verify.interpret.auxiliary import clearly_nonzero, has_auxiliaries, reduce_residual
from verify.prove.batch import GD_MIN_POINTS, BatchCoverage, gd_coverage
from verify.model import Model, walk
from verify.interpret.symbolic import param_matrices, symbolic_net
from verify._infra.deadline import deadline, reach, reached
from verify.prove.cost import DEFAULT_BUDGET_OPS, cpu_seconds, expansion_estimate, forward_ops, refuse, symbol_count, \
    tree_ops
from verify.prove.witness import WITNESS_MAX_DEGREE, find_witness

__all__ = ["QuantityFn", "Increment", "prove_conserved", "entries", "DEFAULT_BUDGET_OPS", "SYMBOLIC_ADVICE"]

#: What to do when the expansion is over budget (the CLI's options; the API's are the same names).
SYMBOLIC_ADVICE = ("use --method randomized (exact evaluation at random points), a smaller model or exponent, "
                   "or raise --budget to {need} to expand anyway")


@dataclass(frozen=True)
class QuantityFn:
    """A quantity Q(params): ``build`` maps name -> sympy.Matrix to a scalar, a Matrix, or a dict
    label -> scalar (one entry per free index value)."""

    text: str
    build: Callable[[Mapping[str, sp.Matrix]], object]


@dataclass(frozen=True)
class Increment:
    """A claimed exact change of Q in one GD step: ``build(P, G, eta)`` from the parameters P, the
    loss gradients G (name -> dL/d<name>, same shapes; without weight decay) and the step eta,
    giving a value shaped like the quantity's (same labels), or a scalar for every entry.

    Built only from P, G and eta, the claim lets ``verify.prove.batch`` show which batches a proof covers."""

    text: str
    build: Callable[[Mapping[str, sp.Matrix], Mapping[str, sp.Matrix], sp.Expr], object]


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


def _hypotheses(model: Model, n_data: int, coverage: BatchCoverage | None) -> list[str]:
    ell = ("an undefined differentiable ell(f(x))" if model.loss is None else
           f"the chosen {model.loss} loss ({formula(model.loss)}), through its derivatives dl only")
    hyp = [f"loss L = sum over {n_data} data point(s) of {ell}"
           + ("; dQ/dt is linear in L (affine in dL/dtheta under momentum) and the proof also holds with "
              "dl = 0, so it covers any data set" if coverage is None else "")]
    if coverage is not None:
        hyp.append(coverage.hypothesis(n_data))
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


def _claimed(increment: Increment | None, Q, P, G) -> list:
    """The claimed increment's entries aligned with Q's labels (a scalar claim applies to every entry)."""
    if increment is None:
        return [sp.Integer(0)] * len(Q)
    got = entries(increment.build(P, G, ETA))
    if len(got) == 1 and got[0][0] == "":
        return [got[0][1]] * len(Q)
    by_label = dict(got)
    labels = [label for label, _ in Q]
    if set(by_label) != set(labels) or len(got) != len(labels):
        from verify.errors import ShapeMismatch
        raise ShapeMismatch(
            f"increment {increment.text!r} has entries {', '.join(list(by_label)[:4]) or '(scalar)'} but the quantity "
            f"has {', '.join(labels[:4]) or '(scalar)'}: give the increment the quantity's free indices and shape, "
            "or a scalar.")
    return [by_label[label] for label in labels]


def _expands_to_zero(r: sp.Expr, net) -> bool:
    """Exact: does ``r`` expand to the zero polynomial (modulo the norm relations t**2 = B)?

    A polynomial residual with rational coefficients is built in a sparse polynomial ring over QQ
    (10x faster than ``sp.expand`` on GD residuals, the same answer); anything else (closed-form
    activations, norms, floats) is expanded and reduced by ``reduce_residual``.
    """
    if r.free_symbols and not has_auxiliaries(net) and not r.has(sp.Float):
        try:
            return PolyRing(sorted(r.free_symbols, key=str), QQ).from_expr(r) == 0
        except (ValueError, BasePolynomialError):
            pass
    return reduce_residual(sp.expand(r), net) == 0


def prove_conserved(
    model: Model,
    quantity: QuantityFn,
    *,
    dynamics: str = "flow",
    increment: Increment | None = None,
    claim_id: str = "user",
    title: str = "",
    statement: str = "",
    n_data: int | None = None,
    seed: int = 0,
    budget_ops: int = DEFAULT_BUDGET_OPS,
    weight_decay=None,
) -> Verdict:
    """Decide conservation of ``quantity`` on ``model`` under ``dynamics`` ("flow", "gd", "momentum").

    For "gd", ``increment`` (an ``Increment``) is the claimed exact change of Q in one step
    (default 0); the residual is Q(theta - eta G) - Q(theta) - increment, on a batch of ``n_data``
    points (default: as many as the residual's degree in G, at least 2; see ``verify.prove.batch``,
    whose argument the certificate's hypotheses state). Flow and momentum use one point by default
    (dQ/dt is linear in L). For "momentum" the quantity may also use the velocities
    ``<param>_dot``. ``weight_decay`` adds lambda*theta to the gradient (``True`` for a symbolic
    lambda, or a number). When Q is not conserved but dQ/dt = c*Q exactly (e.g. -2 lambda Q under
    weight decay), the ``Refuted`` verdict says so.

    References:
        Du, Hu & Lee (2018), Thm 2.1-2.3 (flow) and the [derived] GD identities of the catalog.
    """
    t0 = time.perf_counter()
    from verify.errors import JobTimeout
    try:
        with deadline(cpu_seconds(budget_ops), cpu=True):
            return _prove(model, quantity, dynamics, increment, claim_id, title, statement, n_data, seed, budget_ops,
                          weight_decay, t0)
    except JobTimeout as exc:
        if not exc.cpu:
            raise
        return Undecided(claim_id=claim_id, title=title or f"{quantity.text} on {model.name}", mode="concrete",
                         dynamics=dynamics, statement=statement or f"Q = {quantity.text} is conserved",
                         seconds=time.perf_counter() - t0,
                         reason=f"the symbolic route outgrew its budget of {budget_ops:,} operations ({exc.seconds:g} s "
                                f"of CPU) while {reached() or 'building the residual'}; use --method randomized or "
                                "raise --budget", evidence={"budget (operations)": budget_ops})


def _prove(model, quantity, dynamics, increment, claim_id, title, statement, n_data, seed, budget_ops, weight_decay,
           t0) -> Verdict:
    from verify.errors import BadInput
    if dynamics not in DYNAMICS:
        raise BadInput(f"Got dynamics={dynamics!r}; use one of {', '.join(DYNAMICS)}.")
    if increment is not None and dynamics != "gd":
        raise BadInput(f"An increment is the claimed change of Q in one GD step; use dynamics 'gd', not {dynamics!r}.")
    decay = LAMBDA if weight_decay is True else sp.Rational(str(weight_decay)) if weight_decay else 0
    coverage = None
    if dynamics == "gd":
        P = param_matrices(model)  # the same symbols as the symbolic net's parameters
        Q = entries(quantity.build(P))
        coverage = gd_coverage(Q, P, lambda G: _claimed(increment, Q, P, G), decay, budget_ops)
        n_data = coverage.default_points() if n_data is None else n_data
        if n_data < GD_MIN_POINTS:
            raise BadInput(f"Got n_data={n_data} for GD; a GD proof needs >= {GD_MIN_POINTS} points (one point's "
                           "gradient has structure a batch lacks, see verify.prove.batch). Omit n_data for the default.")
    n_data = 1 if n_data is None else n_data
    if n_data < 1:
        raise BadInput(f"Got n_data={n_data}; use >= 1 data points.")
    # Refused before building anything: the gradient differentiates each of the O outputs (forward_ops
    # terms each) by each of the D parameter entries; that work predicts the build time.
    build = symbol_count(model) * model.output_dim * forward_ops(model) * n_data
    if build > budget_ops:
        raise refuse(f"the symbolic gradient of {model.name!r} ({n_data} point(s))", build, budget_ops,
                     SYMBOLIC_ADVICE.format(need=f"{build:.2g}"))
    reach(f"building the symbolic net of {model.name!r} ({build:.2g} estimated operations)")
    net = symbolic_net(model, n_data)
    reach("deriving the residual")
    vel = velocities(net) if dynamics == "momentum" else {}
    if dynamics != "gd":
        Q = entries(quantity.build({**net.params, **vel}))
    common = dict(claim_id=claim_id, title=title or f"{quantity.text} on {model.name}", mode="concrete",
                  dynamics=dynamics, statement=statement or (f"Q = {quantity.text} is conserved" if dynamics != "gd" else
                                                   "one GD step changes Q = {} by {}".format(
                                                       quantity.text, increment.text if increment else "0")))
    wd = f" with weight decay {decay}*theta" if decay else ""
    if dynamics == "flow":
        residuals = [(f"dQ{label}/dt", flow_derivative(q, net, decay)) for label, q in Q]
        rule = f"gradient flow theta' = -dL/dtheta{wd}; dQ/dt = -sum dQ/dtheta * theta' (SymPy derivatives)"
    elif dynamics == "gd":
        grads = {name: net.grad_matrix(name) for name in net.params}
        claimed = _claimed(increment, Q, net.params, grads)
        residuals = [(f"DeltaQ{label} - claimed", gd_increment(q, net, ETA, decay) - c)
                     for (label, q), c in zip(Q, claimed)]
        rule = (f"one GD step theta -> theta - eta*dL/dtheta{wd} on {n_data} points substituted into Q by SymPy; "
                f"claimed increment {increment.text if increment else '0'}")
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
    too_big = [lbl for lbl, r in residuals if tree_ops(r) > budget_ops]
    estimate, degree = expansion_estimate(r for _, r in residuals) if not too_big else (0.0, 0.0)
    if estimate > budget_ops:
        # A power of a sum is small before expansion and explodes inside it (issue 15): refuse,
        # unless an exact witness (evaluation, no expansion) already refutes the claim. Exact
        # numbers at a rational point grow with the degree: no witness search past WITNESS_MAX_DEGREE.
        witness = find_witness(residuals, net, seed=seed, extra=tuple(extra))[0] if degree <= WITNESS_MAX_DEGREE else None
        if witness is not None:
            return Refuted(**common, seconds=time.perf_counter() - t0, witness=witness, exact_law="")
        raise refuse(f"the residual of {quantity.text!r} on {model.name!r} ({len(residuals)} entries) expanded",
                     estimate, budget_ops, SYMBOLIC_ADVICE.format(need=f"{estimate * 2:.2g}"))
    if not too_big:
        nonzero: list[tuple[str, sp.Expr]] = []
        for k, (lbl, r) in enumerate(residuals, 1):
            reach(f"expanding residual entry {k} of {len(residuals)} ({len(nonzero)} non-zero so far; "
                  f"estimated {estimate:.2g} operations in all)")
            if not _expands_to_zero(r, net):
                nonzero.append((lbl, sp.expand(r)))
        if not nonzero:
            lbl, r = residuals[0]
            steps.append(Step(f"{lbl} = {_short(r)}", rule))
            steps.append(Step(f"every one of the {len(residuals)} entries expands to 0"
                              + (" (norm symbols t reduced by t**2 = B)" if net.relations else ""),
                              "polynomial identity in parameters, data, region symbols s and loss derivatives dl"
                              + (", auxiliary symbols t, e" if has_auxiliaries(net) else "")))
            return Proven(**common, seconds=time.perf_counter() - t0, steps=tuple(steps),
                          hypotheses=tuple(_hypotheses(model, n_data, coverage)))
        search = nonzero
    else:
        search = residuals
    witness, largest = find_witness(search, net, seed=seed, extra=tuple(extra))
    if witness is not None:
        law = _proportional_law({lbl: q for (lbl, _), (_, q) in zip(residuals, Q)}, search, net) if not too_big else ""
        return Refuted(**common, seconds=time.perf_counter() - t0, witness=witness, exact_law=law)
    reason = (f"residual of {len(too_big)} entries exceeds the budget of {budget_ops} operations"
              if too_big else "residual does not expand to 0, but no rational witness was found")
    evidence: dict = {"largest |residual| at sampled points": largest, "residual (first entry)": _short(search[0][1])}
    for layer in walk(model.layers):
        act = getattr(layer, "activation", None)
        if act is not None and act.homogeneity is not None and act.degree is None:
            # a user formula kept as a closed form: what SymPy derived about it, and why it is not on regions
            evidence[f"activation {act.name}"] = act.property_text()
    return Undecided(**common, seconds=time.perf_counter() - t0, reason=reason, evidence=evidence)
