"""``verify audit ID``: the registry of audits and the function the CLI calls.

References:
    Issue 5 (interface); ../shared/DESIGN.md, "Numerics conventions".
"""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from importlib import import_module

from verify.claims import CLAIMS, get_claim, require_job
from verify.errors import BadInput

from verify.numerics.context import AuditContext
from verify._infra.pools import open_pool
from verify._infra.atomic import write_json_atomic, write_text_atomic
from verify._infra.provenance import git_revision, library_versions
from verify.numerics.audit_report import AuditReport, combine_verdicts

__all__ = ["AUDITS", "run_audit", "result_path"]

def _resolve(binding: str):
    module, function = binding.split(":")
    return getattr(import_module(f"verify.numerics.{module}"), function)


#: Read-only registry: catalog id -> audit function ``(AuditContext) -> AuditOutcome``, built from the
#: claim registry's ``Claim.audit`` bindings. DU-5 (the setting) is audited together with DU-11
#: (Figure 1). DU-6 and JT-1 are identities (``verify prove`` proves them); their audits measure the
#: identity in float64 along real GD trajectories.
AUDITS = MappingProxyType({c.id: _resolve(c.audit) for c in CLAIMS.values() if c.audit})


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
        require_job(claim, "audit")  # an identity or a note: names the command that handles it
        raise BadInput(f"{claim.id} has no audit in this version; 'verify list' shows what each id runs.")
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
