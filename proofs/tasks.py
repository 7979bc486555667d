"""A proof task: one generic or concrete proof (or negative control) of one catalog claim."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from verify.certificates import Verdict

__all__ = ["ProofTask"]


@dataclass(frozen=True)
class ProofTask:
    """``run()`` returns a verdict; ``expect`` is "proven", or "refuted" for a negative control."""

    claim_id: str
    name: str
    mode: str  # generic | concrete
    run: Callable[[], Verdict]
    expect: str = "proven"

    @property
    def key(self) -> str:
        return f"{self.claim_id}/{self.name}"
