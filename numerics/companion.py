"""Audits of the companion papers (issue 6): Ji & Telgarsky, Gidel-Bach-Lacoste-Julien, Chou-Rauhut-Ward.

``COMPANION_AUDITS`` has the same shape as ``verify.numerics.audit.AUDITS`` (catalog id ->
``(AuditContext) -> AuditOutcome``), so the registry can take it in with one line:
``AUDITS = MappingProxyType({..., **COMPANION_AUDITS})``.

References:
    Issue 6; ../shared/papers/CLAIMS.md (JT-*, GB-*, WN-*).
"""

from __future__ import annotations

from types import MappingProxyType

from .gb_audits import audit_gb1, audit_gb2
from .jt_audits import audit_jt1, audit_jt2, audit_jt3, audit_jt4, audit_jt5
from .wn_audit import audit_wn1

__all__ = ["COMPANION_AUDITS"]

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
