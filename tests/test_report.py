"""`verify all`: one record per catalog id, a self-contained page, Markdown and JSON, and the page
rendered in a real headless Chromium (every id in the DOM, every image decoded, no console error)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from verify.claims import CLAIMS
from verify.cli import main
from verify.report import BAD

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = main(["all", "--out", str(out), "--quiet"])
    return code, out


def test_verify_all_quick_report_covers_every_claim(report):
    code, out = report
    records = json.loads((out / "results.json").read_text())["claims"]
    assert [r["id"] for r in records] == list(CLAIMS)
    assert code == (1 if any(r["verdict"] in BAD for r in records) else 0)
    page = (out / "index.html").read_text()
    for cid in CLAIMS:
        assert f'id="{cid}"' in page and f'href="#{cid}"' in page
    assert "http://" not in page and "https://" not in page  # no network: nothing fetched
    assert re.search(r'src="data:image/png;base64,', page)  # audit figures are embedded
    md = (out / "report.md").read_text()
    assert all(f"| {cid} |" in md for cid in CLAIMS)
    proof_rows = [r for r in records if r["job"] == "proof"]
    assert proof_rows and all(r["verdict"] == "proven" for r in proof_rows)
    assert all(r["reason"] for r in records if r["verdict"] == "not run")  # every "not run" says why


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    _, out = report
    url = (out / "index.html").resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *FLAGS, *profile, "--virtual-time-budget=10000", "--enable-logging=stderr",
                          "--v=0", "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for cid in CLAIMS:
        assert f'id="{cid}"' in dom.stdout, cid
    marks = re.search(r'data-images="(\d+)/(\d+)"', dom.stdout)
    assert marks, "the page's load handler did not run"
    assert marks.group(1) == marks.group(2) and int(marks.group(2)) > 0, marks.group(0)
    console = [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
    assert not [l for l in console if "rror" in l or "Uncaught" in l], console
    ARTIFACTS.mkdir(exist_ok=True)
    shot = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=" + str(tmp_path / "p2"), "--window-size=1280,1600",
                           "--screenshot=" + str(ARTIFACTS / "report.png"), url],
                          capture_output=True, text=True, timeout=180)
    assert shot.returncode == 0 and (ARTIFACTS / "report.png").stat().st_size > 10_000
