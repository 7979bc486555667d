"""Meta-tests: the registry matches CLAIMS.md, every identity claim has generic and concrete
proofs, and every catalog id has tests (or an explicit xfail naming why)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verify.claims import CLAIMS, get_claim
from verify.errors import UnknownName
from verify.proofs import ALL_TASKS

CATALOG = Path(__file__).resolve().parents[2] / "shared" / "papers" / "CLAIMS.md"
TESTS = Path(__file__).resolve().parent


def _catalog_ids():
    text = CATALOG.read_text()
    return re.findall(r"^\| ((?:DU|JT|GB|WN|EX)-\w+) \|", text, flags=re.M)


@pytest.mark.skipif(not CATALOG.exists(), reason="shared/papers/CLAIMS.md is not beside this checkout")
def test_registry_matches_catalog():
    catalog = _catalog_ids()
    ours = [c.id for c in CLAIMS.values() if c.in_catalog]
    assert sorted(catalog) == sorted(ours)
    # identity rows of the catalog are handled by the proof job
    text = CATALOG.read_text()
    for cid in catalog:
        row = re.search(rf"^\| {re.escape(cid)} \| (\w+)", text, flags=re.M).group(1)
        if row == "identity" or cid.startswith("EX-"):
            assert CLAIMS[cid].job == "proof", cid


def test_every_identity_claim_has_generic_and_concrete_proofs():
    for claim in CLAIMS.values():
        if claim.kind != "identity":
            continue
        modes = {t.mode for t in ALL_TASKS if t.claim_id == claim.id and t.expect == "proven"}
        assert modes == {"generic", "concrete"}, f"{claim.id}: {modes}"


def _slug(cid):
    return cid.lower().replace("-", "_")


# Audit claims whose audit job is not implemented in this checkout. Each entry says why.
PENDING = {
    "JT-6": "a note: the paper proves no rates; nothing to run",
}


def test_every_catalog_id_has_tests_or_a_stated_reason():
    names = set(re.findall(r"def (test_\w+)", "".join(p.read_text() for p in TESTS.glob("test_*.py"))))
    missing = [cid for cid in CLAIMS if cid not in PENDING and not any(_slug(cid) + "_" in n + "_" for n in names)]
    assert not missing, f"claims without tests named after them: {missing}"


def test_every_audit_claim_has_an_audit_unless_pending():
    """Strict both ways: an audit claim is audited, or pending with its reason (and not audited)."""
    from verify.numerics.run import AUDITS
    for claim in CLAIMS.values():
        if claim.job == "audit":
            assert (claim.id in AUDITS) != (claim.id in PENDING), claim.id


def test_unknown_id_suggests_closest():
    with pytest.raises(UnknownName, match="DU-1"):
        get_claim("DU1")


def test_registry_bindings_resolve_and_agree_with_the_jobs():
    """The claim registry is the one place that binds ids to jobs: every proof binding's module
    holds tasks of exactly its claims, every audit binding resolves, and the derived registries
    (proof tasks, audits) hold nothing else."""
    from importlib import import_module

    from verify.numerics.run import AUDITS
    from verify.proofs import ALL_TASKS
    for claim in CLAIMS.values():
        if claim.proofs:
            module = import_module(f"verify.proofs.{claim.proofs}")
            assert any(t.claim_id == claim.id for t in module.TASKS), claim.id
        if claim.job == "proof":
            assert claim.proofs and claim.expects == "proven"
    assert {t.claim_id for t in ALL_TASKS} == {c.id for c in CLAIMS.values() if c.proofs}
    assert set(AUDITS) == {c.id for c in CLAIMS.values() if c.audit}
    assert all(callable(fn) for fn in AUDITS.values())


def test_require_job_names_the_command_that_handles_an_id():
    from verify.claims import get_claim, require_job
    from verify.errors import BadInput
    require_job(get_claim("DU-10"), "audit")  # its own job: no error
    with pytest.raises(BadInput, match=r"'verify prove DU-1'"):
        require_job(get_claim("DU-1"), "audit")
    with pytest.raises(BadInput, match=r"'verify audit DU-10'"):
        require_job(get_claim("DU-10"), "proof")
    with pytest.raises(BadInput, match="nothing to run"):
        require_job(get_claim("JT-6"), "audit")
