"""`verify all`: one record per catalog id, a self-contained page, Markdown and JSON."""

from __future__ import annotations

import json
import re

from verify.claims import CLAIMS
from verify.cli import main
from verify.report import BAD


def test_verify_all_quick_report_covers_every_claim(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["all", "--out", str(out), "--quiet"])
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
    not_run = [r for r in records if r["verdict"] == "not run"]
    assert all(r["reason"] for r in not_run)  # every "not run" says why
