"""Audits of the companion papers (issue 6): JT (Ji-Telgarsky), GB (Gidel-Bach-Lacoste-Julien),
WN (Chou-Rauhut-Ward).

``COMPANION_AUDITS`` has the same shape as ``verify.numerics.audit.AUDITS`` (catalog id ->
``(AuditContext) -> AuditOutcome``), so the registry can take it in with one line:
``AUDITS = MappingProxyType({..., **COMPANION_AUDITS})``.

References:
    Issue 6; ../shared/papers/CLAIMS.md (JT-*, GB-*, WN-*).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType

from verify.errors import BadInput

from .auditing import AuditContext
from .gb_audits import audit_gb1, audit_gb2
from .jt_audits import audit_jt1, audit_jt2, audit_jt3, audit_jt4, audit_jt5
from .results import AuditReport, combine_verdicts, git_revision, library_versions, \
    write_json_atomic, write_text_atomic
from .wn_audit import audit_wn1

__all__ = ["COMPANION_AUDITS", "run_companion_audit"]

#: Read-only registry of the companion audits. JT-1 is an identity ('verify prove JT-1'); like
#: DU-6 its audit measures the identity in float64 along real GD runs. JT-6 is a note (no run).
COMPANION_AUDITS = MappingProxyType({
    "JT-1": audit_jt1,
    "JT-2": audit_jt2,
    "JT-3": audit_jt3,
    "JT-4": audit_jt4,
    "JT-5": audit_jt5,
    "GB-1": audit_gb1,
    "GB-2": audit_gb2,
    "WN-1": audit_wn1,
})


def run_companion_audit(claim_id: str, *, quick: bool, seed: int = 0, out: Path, workers: int = 1,
                        progress: bool = False) -> AuditReport:
    """Run one companion audit and write ``<ID>-<tier>.json`` and ``.md`` atomically to ``out``.

    The same steps as ``verify.numerics.audit.run_audit`` (which is the entry point once
    ``COMPANION_AUDITS`` is merged into ``AUDITS``); kept here so the benchmarks and the lead can
    run the companion audits before that merge.

    Raises:
        BadInput: ``claim_id`` is not one of :data:`COMPANION_AUDITS`, or ``workers < 1``.
    """
    cid = claim_id.upper()
    fn = COMPANION_AUDITS.get(cid)
    if fn is None:
        raise BadInput(f"Got claim {claim_id!r}; companion audits: {', '.join(COMPANION_AUDITS)}.")
    if workers < 1:
        raise BadInput(f"Got workers={workers}; need workers >= 1.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = AuditContext(claim_id=cid, quick=quick, seed=int(seed), out=out, workers=workers,
                       progress=progress)
    t0 = time.perf_counter()
    outcome = fn(ctx)
    report = AuditReport(
        claim_id=cid, verdict=combine_verdicts(outcome.subs), subs=tuple(outcome.subs),
        figures=tuple(outcome.figures), seed=int(seed), quick=quick, params=dict(outcome.params),
        versions=library_versions(), git_revision=git_revision(),
        wall_time_s=time.perf_counter() - t0, notes=tuple(outcome.notes))
    path = out / f"{cid}-{'quick' if quick else 'full'}.json"
    write_json_atomic(path, report.to_json())
    write_text_atomic(path.with_suffix(".md"), report.render_markdown())
    return report
