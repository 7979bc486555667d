"""Audit results: verdicts and reports (their files are written by ``verify._infra.atomic``).

Every audit returns one frozen :class:`AuditReport`. It serialises to plain JSON, records the
claim id, seed, parameters, library versions and git revision, and renders as text or Markdown.

References:
    ../shared/DESIGN.md, "Numerics conventions" and "Verdicts and certificates".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verify._infra.atomic import to_jsonable
from verify.certificates import AUDIT_VERDICTS

__all__ = ["VERDICTS", "SubVerdict", "AuditReport", "combine_verdicts", "format_measured"]

#: The four audit verdicts. "divergent" means the run blew up (NaN/inf or exploding loss).
VERDICTS = AUDIT_VERDICTS  # the one vocabulary (verify.certificates)


@dataclass(frozen=True)
class SubVerdict:
    """The verdict on one sub-claim, with the rule that produced it and the evidence.

    Attributes:
        name: short name of the sub-claim, e.g. ``"(i) balancedness"``.
        verdict: one of :data:`VERDICTS`.
        rule: the decision rule, written out in words, that maps the measurement to the verdict.
        measured: what we measured. Rates are ``{"value": x, "ci95": [lo, hi]}``.
        paper: the paper's number(s) for the same quantity (empty when the paper gives none).
        control: True for a negative control (an instance on which the claim must *fail*).
        expected: for a control, the verdict it must produce (``"inconsistent"`` or
            ``"divergent"``); a control that comes out otherwise means the audit cannot fail.
        note: free-text remark (differences from the paper and why).
        secondary: True for a row reported beside the claim but outside the overall verdict
            (e.g. our GD discretisation of a gradient-flow theorem, WN-1); its name says so.
    """

    name: str
    verdict: str
    rule: str
    measured: Mapping[str, Any] = field(default_factory=dict)
    paper: Mapping[str, Any] = field(default_factory=dict)
    control: bool = False
    expected: str | None = None
    note: str = ""
    secondary: bool = False

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"Got verdict {self.verdict!r}; allowed: {', '.join(VERDICTS)}.")
        if self.control and self.expected is None:
            raise ValueError(f"Control {self.name!r} needs the verdict it is expected to produce.")
        if self.control and self.secondary:
            raise ValueError(f"Control {self.name!r} cannot be secondary: controls always count.")

    @property
    def control_ok(self) -> bool:
        """For a control: did it produce the failure it must produce?"""
        return self.control and self.verdict == self.expected

    def to_json(self) -> dict:
        """Plain JSON-able dict."""
        return to_jsonable({
            "name": self.name, "verdict": self.verdict, "rule": self.rule,
            "measured": dict(self.measured), "paper": dict(self.paper),
            "control": self.control, "expected": self.expected,
            "control_ok": self.control_ok if self.control else None, "note": self.note,
            "secondary": self.secondary,
        })


def combine_verdicts(subs: Sequence[SubVerdict]) -> str:
    """Overall verdict from sub-verdicts.

    Rule (in this order): any non-control sub-claim inconsistent -> "inconsistent"; any control
    that did not produce its expected failure -> "undecided" (the audit could not have failed,
    so a pass would mean nothing); any non-control undecided -> "undecided"; any non-control
    divergent -> "divergent"; otherwise "consistent". Secondary rows (``secondary=True``) are
    reported but take no part.
    """
    claims = [s for s in subs if not s.control and not s.secondary]
    controls = [s for s in subs if s.control]
    if any(s.verdict == "inconsistent" for s in claims):
        return "inconsistent"
    if any(not s.control_ok for s in controls):
        return "undecided"
    if not claims or any(s.verdict == "undecided" for s in claims):
        return "undecided"
    if any(s.verdict == "divergent" for s in claims):
        return "divergent"
    return "consistent"


@dataclass(frozen=True)
class AuditReport:
    """The result of one ``verify audit ID`` run.

    Attributes:
        claim_id: catalog id, e.g. ``"DU-10"``.
        verdict: overall verdict, :func:`combine_verdicts` of ``subs``.
        subs: the sub-verdicts, each with its rule, measurement and the paper's number.
        figures: paths (as strings) of the figures written, PNG and SVG.
        seed: the base seed.
        quick: True for the reduced-size quick tier.
        params: every parameter of the experiment (sizes, steps, initialisation, ...).
        versions: python/numpy/scipy/matplotlib versions and platform.
        git_revision: ``git rev-parse HEAD`` of the package (``"unknown"`` outside a checkout).
        wall_time_s: wall-clock time of the audit.
        notes: free text (choices made where the paper is silent, differences, caveats).
    """

    claim_id: str
    verdict: str
    subs: tuple[SubVerdict, ...]
    figures: tuple[str, ...]
    seed: int
    quick: bool
    params: Mapping[str, Any]
    versions: Mapping[str, str]
    git_revision: str
    wall_time_s: float
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"Got verdict {self.verdict!r}; allowed: {', '.join(VERDICTS)}.")

    def to_json(self) -> dict:
        """Plain JSON-able dict (non-finite floats become the strings "inf", "-inf", "nan")."""
        return to_jsonable({
            "claim_id": self.claim_id, "verdict": self.verdict,
            "subs": [s.to_json() for s in self.subs], "figures": list(self.figures),
            "seed": self.seed, "quick": self.quick, "params": dict(self.params),
            "versions": dict(self.versions), "git_revision": self.git_revision,
            "wall_time_s": self.wall_time_s, "notes": list(self.notes),
        })

    def render_text(self) -> str:
        """Human-readable plain text: one block per sub-claim, rule beside verdict."""
        tier = "quick" if self.quick else "full"
        lines = [f"{self.claim_id}: {self.verdict.upper()}  ({tier} tier, seed {self.seed}, "
                 f"{self.wall_time_s:.1f} s, git {self.git_revision[:12]})"]
        for s in self.subs:
            tag = f" [control, must be {s.expected}: {'ok' if s.control_ok else 'FAILED'}]" \
                if s.control else (" [secondary: not in the overall verdict]" if s.secondary else "")
            lines.append(f"  - {s.name}: {s.verdict}{tag}")
            lines.append(f"      rule: {s.rule}")
            for k, v in s.measured.items():
                lines.append(f"      ours  {k} = {format_measured(v)}")
            for k, v in s.paper.items():
                lines.append(f"      paper {k} = {format_measured(v)}")
            if s.note:
                lines.append(f"      note: {s.note}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        for f in self.figures:
            lines.append(f"  figure: {f}")
        return "\n".join(lines)

    def render_markdown(self) -> str:
        """Markdown: a summary table, then one section per sub-claim."""
        tier = "quick" if self.quick else "full"
        out = [f"## {self.claim_id}: {self.verdict}", "",
               f"Tier: {tier}; seed {self.seed}; wall time {self.wall_time_s:.1f} s; "
               f"git `{self.git_revision[:12]}`; "
               + ", ".join(f"{k} {v}" for k, v in self.versions.items()), "",
               "| sub-claim | verdict | rule |", "|---|---|---|"]
        for s in self.subs:
            v = s.verdict + (f" (control, expected {s.expected})" if s.control else
                             " (secondary, not in the overall verdict)" if s.secondary else "")
            out.append(f"| {_md(s.name)} | {v} | {_md(s.rule)} |")
        for s in self.subs:
            out += ["", f"### {s.name}", "", "| quantity | ours | paper |", "|---|---|---|"]
            keys = list(s.measured) + [k for k in s.paper if k not in s.measured]
            for k in keys:
                ours = format_measured(s.measured[k]) if k in s.measured else ""
                paper = format_measured(s.paper[k]) if k in s.paper else ""
                out.append(f"| {_md(k)} | {_md(ours)} | {_md(paper)} |")
            if s.note:
                out += ["", s.note]
        if self.notes:
            out += ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        if self.figures:
            out += [""] + [f"![{Path(f).name}]({f})" for f in self.figures if f.endswith(".png")]
        return "\n".join(out) + "\n"

    # Notebook displays: the report's evidence table (figures beside it, embedded) and the Markdown.
    def _repr_html_(self) -> str:
        from verify._infra.html import audit_html, fragment
        return fragment(audit_html(self.to_json(), format_measured))

    def _repr_markdown_(self) -> str:
        return self.render_markdown()


def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _ci_digits(value, lo, hi) -> int:
    """Significant digits that keep a CI's ends and value apart: 4, or more for a CI narrower than
    1e-3 of the value (a fitted slope -0.105332 with CI -0.105334 .. -0.105330 would print as
    -0.1053 three times with 4)."""
    try:
        width = abs(float(hi) - float(lo))
        size = max(abs(float(value)), abs(float(lo)), abs(float(hi)))
    except (TypeError, ValueError):
        return 4
    if not (math.isfinite(width) and math.isfinite(size)) or width == 0 or size == 0:
        return 4
    return int(min(15, max(4, math.ceil(math.log10(size / width)) + 2)))


def format_measured(v: Any, sig: int = 4) -> str:
    if isinstance(v, Mapping) and "value" in v and "ci95" in v:
        lo, hi = v["ci95"]
        return f"{format_measured(v['value'], _ci_digits(v['value'], lo, hi))} (95% CI " \
               f"{format_measured(lo, _ci_digits(v['value'], lo, hi))} .. {format_measured(hi, _ci_digits(v['value'], lo, hi))})"
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.{sig - 1}e}"
        return f"{v:.{sig}g}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(format_measured(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {format_measured(x)}" for k, x in v.items()) + "}"
    return str(v)
