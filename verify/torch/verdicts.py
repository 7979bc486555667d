"""The numeric verdicts of ``verify.torch``: their own kinds, never ``Proven`` or ``Refuted``.

``NumericallyConserved``: every Hypothesis draw (parameters, data, loss gradient, step sizes) gave a
float64 residual within ``tolerance`` of the size of its terms. ``NumericViolation``: a draw did not;
it carries the shrunk draw as a float64 witness and, when the module maps onto the model definition,
the exact engine's verdict on the same question (``exact``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ._bridge import Verdict, render as render_exact, to_json as exact_json

__all__ = ["NumericWitness", "NumericallyConserved", "NumericViolation", "render", "to_json"]


@dataclass(frozen=True)
class NumericWitness:
    """A float64 draw where the residual is not round-off.

    ``params``: name -> nested list in PyTorch's layout, or a one-line description when the module is
    too large to print (then ``draw`` says how to regenerate it).
    """

    params: dict
    data: list
    loss: str
    entry: str
    residual: float
    scale: float
    relative: float
    draw: str = ""
    atol: float = 0.0  # round-off allowance of the computed gradient (0: not needed, RTOL alone decided)


@dataclass(frozen=True)
class _NumericBase:
    claim_id: str
    title: str
    dynamics: str
    statement: str
    seconds: float
    draws: int  # draws made (conserved); index of the first violating draw (violation)
    max_relative_residual: float
    tolerance: float
    notes: tuple[str, ...] = ()
    mode: str = "numeric"


@dataclass(frozen=True)
class NumericallyConserved(_NumericBase):
    @property
    def verdict(self) -> str:
        return "numerically conserved"

    @property
    def kind(self) -> str:
        return (f"numerically conserved ({self.draws} draws, max relative residual "
                f"{self.max_relative_residual:.1e})")


@dataclass(frozen=True)
class NumericViolation(_NumericBase):
    # A violation always carries the draw that shows it (keyword-only: the base has defaulted fields).
    witness: NumericWitness = field(kw_only=True)
    exact: Verdict | None = None

    @property
    def verdict(self) -> str:
        return "numerically violated"

    @property
    def kind(self) -> str:
        return (f"numerically violated (draw {self.draws}: relative residual "
                f"{self.witness.relative:.2e} > {self.tolerance:.0e})")


def _short(value, limit: int = 300) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def render(v) -> str:
    """Text form; exact verdicts are rendered by the core."""
    if not isinstance(v, (NumericallyConserved, NumericViolation)):
        return render_exact(v)
    lines = [f"{v.claim_id} [numeric, {v.dynamics}] {v.title}: {v.kind.upper()} ({v.seconds:.2f} s)",
             f"  claim: {v.statement}"]
    lines += [f"  note: {n}" for n in v.notes]
    if isinstance(v, NumericViolation):
        w = v.witness
        lines.append("  witness (float64, shrunk by Hypothesis):")
        for name, val in w.params.items():
            lines.append(f"    {name} = {_short(val)}")
        lines.append(f"    x = {_short(w.data)}")
        lines.append(f"    loss: {w.loss}")
        if w.draw:
            lines.append(f"    draw: {w.draw}")
        lines.append(f"    {w.entry}: residual {w.residual:.6g}, size of its terms {w.scale:.6g}"
                     + (f", round-off of the gradient (atol) {w.atol:.3g}" if w.atol else "")
                     + f", relative {w.relative:.3g}")
        if v.exact is not None:
            lines.append("  re-checked exactly on the mapped model:")
            lines += ["    " + ln for ln in render_exact(v.exact).splitlines()]
    return "\n".join(lines)


def to_json(v) -> dict:
    if not isinstance(v, (NumericallyConserved, NumericViolation)):
        return exact_json(v)
    d = asdict(v)
    d["verdict"] = v.verdict
    d["kind"] = v.kind
    if isinstance(v, NumericViolation) and v.exact is not None:
        d["exact"] = exact_json(v.exact)
    return d


