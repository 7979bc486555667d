"""What every audit function receives and returns (shared by the DU, JT, GB and WN audits).

An audit function takes an :class:`AuditContext` and returns an :class:`AuditOutcome`;
``verify.numerics.run.run_audit`` adds timing, versions and the git revision, combines the
sub-verdicts and writes the report.

References:
    ../shared/DESIGN.md, "Numerics conventions".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.numerics.audit_report import SubVerdict

__all__ = ["AuditContext", "AuditOutcome", "seed_for"]


@dataclass(frozen=True)
class AuditContext:
    """Everything an audit needs to know about how it is run.

    Attributes:
        claim_id: catalog id being audited.
        quick: reduced sizes (seconds) instead of the paper-sized run.
        seed: base seed; every run derives its own seed from it with :func:`seed_for`.
        out: output folder of this audit (figures, per-run files, result JSON).
        workers: local processes for sweeps (used when ``pool`` is None).
        progress: show tqdm bars.
        pool: the executor every sweep of this command shares (``executor.open_pool``): None
            runs inline (or in ``workers`` processes per sweep), else local processes or a Dask
            client. Sweeps pass it to ``run_tasks(..., pool=ctx.pool)``.
    """

    claim_id: str
    quick: bool
    seed: int
    out: Path
    workers: int = 1
    progress: bool = False
    pool: Any = field(default=None, compare=False, repr=False)

    @property
    def tier(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def runs_dir(self) -> Path:
        """Per-run result files of this claim (see :meth:`runs_for`)."""
        return self.runs_for(self.claim_id)

    def runs_for(self, sweep: str) -> Path:
        """Per-run result files of ``sweep`` (a claim id, or a name several claims share): one folder
        per sweep, tier and base seed, so a rerun with another seed never meets this seed's runs
        (each file is also checked against its parameters, ``verify.numerics.sweep``)."""
        return Path(self.out) / "runs" / f"{sweep}-{self.tier}-seed{self.seed}"


@dataclass(frozen=True)
class AuditOutcome:
    """What an audit function returns: sub-verdicts, figures, parameters and notes."""

    subs: tuple[SubVerdict, ...]
    figures: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def seed_for(base: int, *parts: int | str) -> int:
    """A reproducible 63-bit seed for one run, derived from the base seed and the run's labels.

    Uses ``numpy.random.SeedSequence`` on the base seed and a stable hash of the labels (not
    Python's ``hash``, which is salted per process), so parallel workers agree.
    """
    import zlib

    import numpy as np

    words = [zlib.crc32(str(p).encode()) for p in parts]
    lo, hi = (int(w) for w in np.random.SeedSequence([int(base), *words]).generate_state(2))
    return (hi << 32 | lo) & ((1 << 63) - 1)
