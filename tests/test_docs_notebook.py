"""Notebook displays: verdicts, discovery results and audit reports render themselves (HTML with
MathML, and Markdown), and examples/tour.ipynb runs headless in a real Jupyter kernel (nbclient)
with every code cell giving its rich output."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from verify import check, discover, mlp
from verify.certificates import Proven, Refuted, Undecided
from verify.numerics.audit_report import AuditReport, SubVerdict

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def _xml(fragment: str) -> ET.Element:
    """The fragment as XML (the style block dropped): proves it is well-formed markup."""
    body = fragment[fragment.index("</style>") + len("</style>"):-len("</div>")]
    return ET.fromstring(f"<div>{body}</div>")


def test_du_1_proven_verdict_displays_its_derivation_as_numbered_mathml_equations():
    v = check(mlp((2, 2, 1), "relu"), "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert isinstance(v, Proven)
    page = v._repr_html_()
    tree = _xml(page)
    assert len(tree.findall(".//{*}math") or tree.findall(".//math")) >= len(v.steps)
    assert page.count('<span class="vf-eqno">') == len(v.steps) and "PROVEN" in page
    assert all(f"({n})" in page for n in range(1, len(v.steps) + 1))
    assert v._repr_markdown_().startswith("### ") and "PROVEN" in v._repr_markdown_()


def test_du_1_refuted_verdict_displays_its_exact_witness():
    v = check(mlp((2, 2, 1), "relu", bias=True), "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
    assert isinstance(v, Refuted) and v.witness is not None
    page = v._repr_html_()
    _xml(page)
    assert "REFUTED" in page and page.count('class="vf-mat"') == len(v.witness.params) + 1  # + the data x
    assert "<mfrac>" in page or v.witness.value.lstrip("-").isdigit()
    assert "Witness" in v._repr_markdown_()


def test_undecided_verdict_displays_reason_and_evidence():
    v = Undecided("X-1", "t", "concrete", "flow", "s", 0.0, reason="budget exceeded", evidence={"drift": 1e-3})
    page = v._repr_html_()
    _xml(page)
    assert "UNDECIDED" in page and "budget exceeded" in page and "drift" in page


def test_audit_report_displays_one_row_per_sub_claim_with_paper_beside_ours():
    subs = (SubVerdict("rate", "consistent", "CI contains the paper's slope", {"slope": {"value": -0.105, "ci95": [-0.11, -0.10]}},
                       {"slope": -0.1054}),
            SubVerdict("control", "inconsistent", "must fail", {"slope": 0.3}, control=True, expected="inconsistent"))
    rep = AuditReport("DU-10", "consistent", subs, (), 0, True, {"d": 10}, {}, "abc", 1.0)
    page = rep._repr_html_()
    _xml(page)
    assert page.count('<tr id="DU-10-') == 2 and "control: must be inconsistent, as required" in page
    row = page[page.index('<tr id="DU-10-1"'):page.index("</tr>", page.index('<tr id="DU-10-1"'))]
    assert "-0.1054" in row and "95% CI" in row  # paper and ours (with its CI) in the same row
    assert rep._repr_markdown_() == rep.render_markdown()


def test_discovery_result_displays_its_proven_laws_and_count():
    r = discover(mlp((2, 2, 1), "relu"), degree=2)
    page = r._repr_html_()
    _xml(page)
    assert page.count("<tr><td>hidden unit") == len(r.laws) == 2 and "PROVEN" in page
    assert r.exact and f"<b>exactly {r.count}</b>" in page  # a certified count: its bounds met
    md = r._repr_markdown_()
    assert all(f"`{l.text}`" in md for l in r.laws)


def test_tour_notebook_runs_headless_and_every_cell_displays(monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the test extra: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="the test extra: pip install -e '.[test]'")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs for c in code)  # the notebook is stored without outputs
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path-migration warning otherwise
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    shown = []
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cell.source, errors)
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert results, cell.source
        data = results[-1]["data"]
        assert {"text/html", "text/markdown"} <= set(data), cell.source
        shown.append(data["text/html"])
    verdicts = ["PROVEN", "REFUTED", "PROVEN"]
    for page, verdict in zip(shown, verdicts):
        assert f">{verdict}</span>" in page and "<math" in page
    assert "hidden unit" in shown[3] and "Independent conservation laws" in shown[3]
    assert 'class="vf-table vf-audit"' in shown[4] and 'src="data:image/png;base64,' in shown[4]
