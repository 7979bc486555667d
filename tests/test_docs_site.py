"""The documentation site: ``mkdocs build --strict`` passes (any warning fails it: a broken link, a
missing API object, a bad docstring parameter), the claim catalog page lists the registry, the API
pages are generated, and the spec and quantity references cover every layer key and every function
with an example (their examples run in conftest.py's Sybil runners)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verify.claims import CLAIMS
from verify.lang.quantity import FUNCTIONS
from verify.model.activations import ACTIVATIONS
from verify.model.layers import SPEC_RULES

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL_KEYS = ("name", "input", "loss", "layer")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]' (also in '.[test]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    run = _build(ROOT / "mkdocs.yml", out)
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def test_docs_build_strict_with_tour_references_catalog_and_api(site):
    for page in ("tour", "spec", "quantity", "claims", "api/certificates", "api/audits", "api/testing"):
        assert (site / page / "index.html").is_file(), page
    catalog = (site / "claims" / "index.html").read_text()
    assert all(f'<tr id="{cid}">' in catalog for cid in CLAIMS)
    api = {p: (site / "api" / p / "index.html").read_text() for p in ("certificates", "audits", "testing", "checks")}
    for page, name in (("certificates", "verify.certificates.Proven"), ("certificates", "verify.certificates.exit_code"),
                       ("audits", "numerics.audit_report.AuditReport"), ("audits", "verify.jobs.report.write_report"),
                       ("testing", "verify.testing.strategies.networks"), ("testing", "verify.testing.pytest_plugin"),
                       ("checks", "verify.testing.checking.check")):
        assert f'id="{name}"' in api[page], (page, name)


def test_docs_build_fails_on_a_broken_link(site, tmp_path):
    """The control: the same configuration with one broken link must not build (strict)."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for folder in ("verify", "numerics", "proofs"):  # the API pages read the sources
        (tmp_path / folder).symlink_to(ROOT / folder)
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [the missing page](missing.md).\n")
    run = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert run.returncode != 0 and "missing.md" in run.stderr


def sections(text: str) -> dict[str, str]:
    """``## `name` `` heading -> the section's text."""
    parts = re.split(r"^## `([^`]+)`\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def uncovered_keys(text: str) -> list[str]:
    """Layer types without a section, and keys no TOML example of their section sets."""
    found = sections(text)
    missing = []
    for kind, rule in SPEC_RULES.items():
        body = found.get(kind)
        if body is None or f'type = "{kind}"' not in body:
            missing.append(kind)
            continue
        examples = "\n".join(re.findall(r"^```toml\n(.*?)^```", body, re.M | re.S))
        missing += [f"{kind}.{k}" for k in sorted(rule.keys)
                    if not re.search(rf"^{k} = " if k != "block" else r"^\[\[layer\.block\]\]", examples, re.M)]
    return missing


def test_spec_reference_has_an_example_for_every_layer_type_and_key():
    text = (ROOT / "docs" / "spec.md").read_text()
    assert uncovered_keys(text) == []
    top = text[text.index("## Top-level keys"):text.index("## `dense`")]
    assert all(f"`{k}`" in top for k in TOP_LEVEL_KEYS)
    activation = sections(text)["activation"]
    assert [a for a in ACTIVATIONS if f"`{a}`" not in activation] == []


def test_spec_coverage_check_sees_a_missing_key_and_type():
    text = (ROOT / "docs" / "spec.md").read_text()
    assert uncovered_keys(text.replace("value_dim = 3\n", "")) == ["attention.value_dim"]
    assert "scale" in uncovered_keys(text.replace("## `scale`", "## `gain`"))


def uncovered_functions(text: str) -> list[str]:
    return [f for f in FUNCTIONS if not re.search(rf'^>>> show\("[^"]*\b{f}\(', text, re.M)]


def test_quantity_reference_has_an_example_for_every_function():
    text = (ROOT / "docs" / "quantity.md").read_text()
    assert uncovered_functions(text) == []
    assert uncovered_functions(text.replace('show("trace(W)")', 'show("W[0, 0] + W[1, 1]")')) == ["trace"]  # control
