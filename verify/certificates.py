"""Verdicts: one vocabulary for proofs, checks, audits, ``verify all``, JSON and exit codes.

Proofs and checks give ``Proven``, ``Refuted`` or ``Undecided``; audits give ``consistent``,
``inconsistent``, ``divergent`` or ``undecided``; a note is ``not run``. :data:`VERDICT_NAMES` lists
them all and :func:`exit_code` is the one rule from verdicts to the CLI's exit code.

A ``ProvenRandomized`` (verdict "proven (randomized)") is a randomized exact identity test: the
residual vanished at k random points of a prime field, with the error probability epsilon derived
from a degree bound; text and JSON always say so, with k and epsilon. A ``Proven`` carries the derivation (each equality and the property used at that step) and the
hypotheses it relied on. A ``Refuted`` carries an exact witness: a rational parameter point, a data
point and a concrete loss, with the exact non-zero value. An ``Undecided`` carries the numeric
evidence and is never reported as a pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

__all__ = ["Step", "Witness", "Proven", "ProvenRandomized", "Refuted", "Undecided", "Verdict", "render", "to_json", "VerdictName",
           "VERDICT_NAMES", "AUDIT_VERDICTS", "PASSING", "exit_code", "Dynamics", "Mode"]

#: Every verdict any job reports.
VerdictName = Literal["proven", "proven (randomized)", "refuted", "undecided", "consistent", "inconsistent",
                      "divergent", "not run", "numerically conserved", "numerically violated"]
VERDICT_NAMES: tuple[str, ...] = get_args(VerdictName)
#: The verdicts an audit (a GD experiment) can give.
AUDIT_VERDICTS: tuple[str, ...] = ("consistent", "inconsistent", "divergent", "undecided")
#: Verdicts that let a command exit 0. Undecided is never a pass; "not run" is a catalog note
#: with nothing to check (JT-6).
#: "proven (randomized)" passes: its error probability is printed with it (``ProvenRandomized``).
#: "numerically conserved" (verify.torch's float64 route) passes too: its kind says it is numeric.
PASSING = frozenset({"proven", "proven (randomized)", "consistent", "not run", "numerically conserved"})

Dynamics = Literal["flow", "gd", "momentum"]
Mode = Literal["generic", "concrete"]


def exit_code(verdicts: Iterable[str]) -> int:
    """0 when every verdict passes, 1 otherwise (the CLI's rule; 2 is kept for bad input)."""
    return 0 if all(v in PASSING for v in verdicts) else 1


@dataclass(frozen=True)
class Step:
    """One line of a derivation: an equality (plain text and LaTeX) and the reason it holds."""

    text: str
    reason: str
    latex: str = ""


@dataclass(frozen=True)
class Witness:
    """An exact counterexample. All numbers are exact rationals written as strings."""

    params: dict[str, list]
    data: list[list[str]]
    loss: str
    regions: dict[str, str]
    entry: str
    value: str
    value_float: float
    certified: str


@dataclass(frozen=True)
class _Base:
    claim_id: str
    title: str
    mode: str  # "generic" (symbolic widths) or "concrete" (given sizes, every entry symbolic)
    dynamics: str  # "flow" or "gd"
    statement: str
    seconds: float

    @property
    def verdict(self) -> str:
        return type(self).__name__.lower()

    def to_dict(self) -> dict:
        """Plain JSON-ready form (``verdict`` key added)."""
        return to_json(self)  # type: ignore[arg-type]

    def render(self, fmt: str = "text") -> str:
        return render(self, fmt)  # type: ignore[arg-type]

    # Notebook displays (Jupyter calls these): the report's renderer, MathML derivations and witnesses.
    def _repr_html_(self) -> str:
        from verify._infra.html import fragment, verdict_html
        return fragment(verdict_html(self.to_dict()))

    def _repr_markdown_(self) -> str:
        return render(self, "markdown")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Proven(_Base):
    steps: tuple[Step, ...] = ()
    hypotheses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProvenRandomized(_Base):
    """Randomized exact identity test (Schwartz-Zippel): the residual was 0 at ``points`` points drawn
    uniformly from GF(p), one random prime per point (``primes``); were it not identically 0, that
    happens with probability at most ``epsilon`` (derived from the degree bound in ``steps``). Never
    merged with ``Proven``."""

    points: int = 0
    epsilon: float = 1.0
    epsilon_per_point: float = 1.0
    degree_bound: int = 0
    denominator_degree: int = 0
    primes: tuple[int, ...] = ()
    steps: tuple[Step, ...] = ()
    hypotheses: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return "proven (randomized)"


@dataclass(frozen=True)
class Refuted(_Base):
    witness: Witness | None = None
    exact_law: str = ""  # e.g. "dQ/dt = (-2*lambda)*Q exactly": the exact non-zero derivative


@dataclass(frozen=True)
class Undecided(_Base):
    reason: str = ""
    evidence: dict = field(default_factory=dict)


Verdict = Proven | ProvenRandomized | Refuted | Undecided


def to_json(v: Verdict) -> dict:
    """Plain-JSON form of a verdict (``verdict`` key added)."""
    d = asdict(v)
    d["verdict"] = v.verdict
    return d


def render(v: Verdict, fmt: str = "text") -> str:
    """Human-readable verdict; ``fmt`` is ``text`` or ``markdown`` (LaTeX formulas)."""
    md = fmt == "markdown"
    head = f"{v.claim_id} [{v.mode}, {v.dynamics}] {v.title}: {v.verdict.upper()} ({v.seconds:.2f} s)"
    lines = [f"### {head}" if md else head, f"  claim: {v.statement}" if not md else f"*Claim:* {v.statement}"]
    if isinstance(v, ProvenRandomized):
        lines.append(f"  randomized identity test: {v.points} points, each in GF(p) for a random 61-bit prime p; error probability "
                     f"<= {v.epsilon:.3g} (degree bound {v.degree_bound}"
                     + (f", denominators of degree <= {v.denominator_degree}" if v.denominator_degree else "") + ")")
    if isinstance(v, (Proven, ProvenRandomized)):
        if v.hypotheses:
            lines.append("*Hypotheses:*" if md else "  hypotheses:")
            lines += [f"- {h}" if md else f"    - {h}" for h in v.hypotheses]
        lines.append("*Derivation:*" if md else "  derivation:")
        for n, s in enumerate(v.steps, 1):
            if md:
                formula = f"$${s.latex}$$" if s.latex else f"`{s.text}`"
                lines.append(f"{n}. {formula} — *{s.reason}*")
            else:
                lines.append(f"    ({n}) {s.text}")
                lines.append(f"        [{s.reason}]")
    elif isinstance(v, Refuted) and v.witness is not None:
        w = v.witness
        lines.append("*Witness:*" if md else "  witness (exact):")
        ind = "- " if md else "    "
        for name, val in w.params.items():
            lines.append(f"{ind}{name} = {val}")
        lines.append(f"{ind}x = {w.data}")
        lines.append(f"{ind}loss: {w.loss}")
        if w.regions:
            lines.append(f"{ind}activation regions: {w.regions}")
        lines.append(f"{ind}{w.entry} = {w.value}  (~ {w.value_float:.6g}; {w.certified})")
        if v.exact_law:
            lines.append(f"  exact derivative: {v.exact_law}")
    elif isinstance(v, Undecided):
        lines.append(f"  reason: {v.reason}")
        for key, val in v.evidence.items():
            lines.append(f"    {key}: {val}")
    return "\n".join(lines)
