"""``verify audit ID``: the registry of audits and the function the CLI calls.

References:
    Issue 5 (interface); ../shared/DESIGN.md, "Numerics conventions".
"""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from verify.claims import get_claim
from verify.errors import BadInput

from .audit_du10 import audit_du10
from .audit_du12 import audit_du12
from .audit_du_matfact import audit_du5_du11, audit_du6, audit_du7, audit_du8, audit_du9
from .auditing import AuditContext
from .executor import open_pool
from .companion import COMPANION_AUDITS
from .results import AuditReport, combine_verdicts, git_revision, library_versions, \
    write_json_atomic, write_text_atomic

__all__ = ["AUDITS", "run_audit", "result_path"]

#: Read-only registry: catalog id -> audit function ``(AuditContext) -> AuditOutcome``.
#: DU-5 (the setting) is audited together with DU-11 (Figure 1). DU-6 is an identity (``verify
#: prove`` proves it); the audit measures it along real GD trajectories in float64.
AUDITS = MappingProxyType({
    "DU-5": audit_du5_du11,
    "DU-6": audit_du6,
    "DU-7": audit_du7,
    "DU-8": audit_du8,
    "DU-9": audit_du9,
    "DU-10": audit_du10,
    "DU-11": audit_du5_du11,
    "DU-12": audit_du12,
    **COMPANION_AUDITS,  # JT-1..JT-5, GB-1, GB-2, WN-1 (numerics/companion.py)
})


def result_path(out: Path, claim_id: str, quick: bool) -> Path:
    """Where :func:`run_audit` writes the result JSON of ``claim_id``."""
    return Path(out) / f"{claim_id}-{'quick' if quick else 'full'}.json"


def run_audit(claim_id: str, *, quick: bool, seed: int = 0, out: Path, workers: int = 1,
              progress: bool = False, scheduler: str | None = None, pool: Any = None) -> AuditReport:
    """Run the audit of ``claim_id`` and write its result JSON (and Markdown) atomically to ``out``.

    Args:
        claim_id: catalog id (case-insensitive), e.g. ``"DU-10"``.
        quick: reduced sizes that finish in seconds (what the tests run); False = paper-sized.
        seed: base seed; every run's seed is derived from it.
        out: output folder (created); figures, per-run files and ``<ID>-<tier>.json`` go there.
        workers: local processes for sweeps (one pool for the whole audit).
        progress: show tqdm progress bars.
        scheduler: address of a Dask scheduler; sweeps run on its cluster instead of locally.
        pool: an executor already opened by the caller (``verify all`` shares one across
            claims); overrides ``workers`` and ``scheduler``.

    Returns:
        The :class:`AuditReport`.

    Raises:
        UnknownName: ``claim_id`` is not in the catalog (message lists the closest ids).
        BadInput: a known id that is not audited here (identities are for ``verify prove``).
        DivergenceError: a run that must converge diverged; the message names the step to lower.
    """
    claim = get_claim(claim_id)
    fn = AUDITS.get(claim.id)
    if fn is None:
        if claim.job == "proof":
            where = f"it is an identity: run 'verify prove {claim.id}'"
        elif claim.job == "none":
            where = "it is a note with nothing to run"
        else:
            where = "its audit is not implemented yet (see issue 5 and its companions)"
        raise BadInput(f"Got claim {claim.id} ({claim.kind}); 'verify audit' handles "
                       f"{', '.join(AUDITS)}; {where}.")
    if workers < 1:
        raise BadInput(f"Got workers={workers}; need workers >= 1.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if pool is not None:
        outcome = fn(AuditContext(claim_id=claim.id, quick=quick, seed=int(seed), out=out,
                                  workers=workers, progress=progress, pool=pool))
    else:
        with open_pool(workers=workers, scheduler=scheduler) as own:
            outcome = fn(AuditContext(claim_id=claim.id, quick=quick, seed=int(seed), out=out,
                                      workers=workers, progress=progress, pool=own))
    wall = time.perf_counter() - t0
    report = AuditReport(
        claim_id=claim.id, verdict=combine_verdicts(outcome.subs), subs=tuple(outcome.subs),
        figures=tuple(outcome.figures), seed=int(seed), quick=quick, params=dict(outcome.params),
        versions=library_versions(), git_revision=git_revision(), wall_time_s=wall,
        notes=tuple(outcome.notes))
    path = result_path(out, claim.id, quick)
    write_json_atomic(path, report.to_json())
    write_text_atomic(path.with_suffix(".md"), report.render_markdown())
    return report
