"""`verify all`: one record per catalog id, a self-contained page, Markdown and JSON, and the page
rendered in a real headless Chromium (every id in the DOM, every image decoded, every MathML formula
laid out, no console error; screenshots in test-artifacts/)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify._infra.mathml import pretty

from verify.claims import CLAIMS
from verify.jobs.cli import main
from verify.certificates import exit_code

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
    assert code == exit_code(r["verdict"] for r in records)
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


@pytest.mark.parametrize("verdicts, code", [
    (("proven", "consistent", "not run"), 0),
    (("proven", "undecided", "consistent"), 1),  # undecided is never a pass (issue 13's bug: it exited 0)
    (("proven", "refuted"), 1),
    (("consistent", "inconsistent"), 1),
])
def test_verify_all_exit_code_follows_the_verdicts(monkeypatch, tmp_path, verdicts, code):
    """Through the real CLI: the rows' verdicts alone decide the exit code."""
    import verify.jobs.report as rep
    records = [rep.ClaimRecord(f"X-{k}", "identity", "proof", v, "evidence", 0.0, reason="r")
               for k, v in enumerate(verdicts)]
    monkeypatch.setattr(rep, "run_all", lambda **kw: records)
    monkeypatch.setattr(rep, "write_report", lambda *a, **kw: {"html": tmp_path / "index.html"})
    assert main(["all", "--out", str(tmp_path), "--quiet"]) == code


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
    # Every MathML formula was laid out with a non-zero width and height (a browser without MathML
    # support, or markup it cannot read, gives empty boxes), and there are many of them.
    math = re.search(r'data-math="(\d+)/(\d+)"', dom.stdout)
    assert math, "the page's load handler did not run"
    assert math.group(1) == math.group(2) and int(math.group(2)) >= 50, math.group(0)
    console = [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
    assert not [l for l in console if "rror" in l or "Uncaught" in l], console
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"report.png": url}
    # Headless Chromium screenshots the top of a page only, so the proof and audit sections are also
    # shot on their own: the report's own head (styles) and the section's markup, cut from the page.
    page = (out / "index.html").read_text()
    head = page[:page.index("<body>") + len("<body>")]
    for name, cid in (("report-proof-DU-1.png", "DU-1"), ("report-audit-DU-12.png", "DU-12")):
        start = page.index(f'<section id="{cid}">')
        view = tmp_path / f"{cid}.html"
        view.write_text(head + page[start:page.index("</section>", start)] + "</section></body></html>")
        shots[name] = view.as_uri()
    for name, target in shots.items():
        shot = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=" + str(tmp_path / name), "--window-size=1400,1600",
                               "--screenshot=" + str(ARTIFACTS / name), target],
                              capture_output=True, text=True, timeout=180)
        assert shot.returncode == 0 and (ARTIFACTS / name).stat().st_size > 10_000, name


def test_report_page_has_a_summary_derivations_and_audit_tables(report):
    """The page as a document: counts by verdict linking to every row; each generic proof's steps
    as numbered MathML displays; each audit's evidence as one table row per sub-claim, with the
    paper's values and ours side by side."""
    _, out = report
    records = json.loads((out / "results.json").read_text())["claims"]
    page = (out / "index.html").read_text()
    summary = page[page.index('<section id="summary">'):page.index("</section>")]
    for verdict in {r["verdict"] for r in records}:
        ids = [r["id"] for r in records if r["verdict"] == verdict]
        assert f"{verdict.upper()}</span></td><td><b>{len(ids)}</b>" in summary, verdict
        assert all(f'href="#row-{i}"' in summary and f'id="row-{i}"' in page for i in ids)
    for r in records:
        start = page.index(f'<section id="{r["id"]}">')
        section = page[start:page.index("</section>", start)]
        if r["job"] == "proof":
            steps = sum(len(v.get("steps") or ()) for v in r["extra"]["verdicts"])
            assert section.count('<span class="vf-eqno">') == steps > 0, r["id"]
            assert section.count('<math displaystyle="true"') >= steps
            if any(v.get("witness") for v in r["extra"]["verdicts"]):
                assert 'class="vf-mat"' in section  # exact witness matrices
        elif "audit" in r["extra"]:
            subs = r["extra"]["audit"]["subs"]
            assert section.count('class="vf-table vf-audit"') == 1
            assert [f'id="{r["id"]}-{n}"' in section for n in range(1, len(subs) + 2)] == [True] * len(subs) + [False]
            for s in subs:
                for key in list(s["paper"]) + list(s["measured"]):
                    assert html.escape(pretty(key)) + ":</span>" in section, (r["id"], key)
            if r["figures"]:
                assert '<div class="vf-figures"><img' in section  # the figure beside the table


def test_mathml_typesets_scripts_and_escapes_any_text():
    from verify._infra.mathml import split_long, to_mathml
    got = to_mathml("G_(h+1) = delta*(a.T*W_h.T*D)")
    assert "<msub><mi>G</mi><mrow><mi>h</mi><mo>+</mo><mn>1</mn></mrow></msub>" in got
    assert "<mi>δ</mi>" in got and "<msubsup><mi>W</mi><mi>h</mi><mi>T</mi></msubsup>" in got
    assert "<msup><mo fence=\"true\" stretchy=\"false\">‖</mo><mn>2</mn></msup>" in to_mathml("||x||^2")
    # controls: markup in the text is escaped, never passed through
    assert "<script>" not in to_mathml("<script>alert(1)</script>") and "&lt;" in to_mathml("a < b")
    long = "dQ/dt = " + " + ".join(f"a_{k}*b_{k}" for k in range(40))
    lines = split_long(long, 60)
    assert len(lines) > 1 and all(len(l) <= 60 for l in lines[1:]) and " ".join(lines) == long
    assert split_long("f(a + b + c)", 5) == ["f(a + b + c)"]  # never inside brackets


@settings(max_examples=200, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(list("abWT_^*().,;|[]{}<>=+-/'0123 &\"")), max_size=60))
def test_mathml_of_any_text_is_well_formed_xml(text):
    from verify._infra.mathml import to_mathml
    ET.fromstring(to_mathml(text, display=True))  # raises on unbalanced or unescaped markup


def _numbers(out: Path):
    """What a rerun must reproduce: every row's verdict and evidence, and every audit's measured
    values (timings, versions and the revision excluded)."""
    rows = [(r["id"], r["verdict"], r["evidence"]) for r in json.loads((out / "results.json").read_text())["claims"]]
    audits = {p.name: [(s["name"], s["verdict"], s["measured"]) for s in json.loads(p.read_text())["subs"]]
              for p in sorted((out / "audits").glob("*.json"))}
    return rows, audits


def _floats_close(a, b, rtol: float, where: str = "") -> list[str]:
    """Paths where nested JSON values ``a`` and ``b`` differ beyond ``rtol`` (or in kind/shape)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [where]
        return [p for k in a for p in _floats_close(a[k], b[k], rtol, f"{where}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [where]
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _floats_close(x, y, rtol, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if a == b or abs(a - b) <= rtol * max(abs(a), abs(b)) else [where]
    return [] if a == b else [where]


def test_verify_all_rerun_with_two_workers_gives_the_same_verdicts_and_numbers(report, tmp_path):
    code, out = report
    assert main(["all", "--out", str(tmp_path), "--quiet", "--workers", "2"]) == code
    rows, audits = _numbers(tmp_path)
    rows1, audits1 = _numbers(out)
    assert rows == rows1  # verdicts and the evidence line (proof counts, flow drift, ...) exactly
    assert audits.keys() == audits1.keys() and len(audits) >= 14
    # Runs done inline use the process's BLAS threads, workers one: matrix products summed in
    # another order differ in the last bits (seen: JT-4's control, 4e-10 relative). Nothing else.
    assert _floats_close(audits1, audits, rtol=1e-8) == []
    # The control: a different seed changes the measured numbers, so the comparison can fail.
    assert main(["audit", "DU-10", "--quick", "--seed", "1", "--out", str(tmp_path / "s1"), "--quiet"]) in (0, 1)
    other = json.loads((tmp_path / "s1" / "DU-10-quick.json").read_text())["subs"]
    assert _floats_close([s["measured"] for s in other], [s[2] for s in audits1["DU-10-quick.json"]], 1e-8)


def test_verify_all_interrupted_midway_leaves_the_previous_report_whole(report, tmp_path, monkeypatch, capsys):
    _, out = report
    shutil.copytree(out, tmp_path / "r")

    def files():
        return {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}

    before = files()
    assert set(before) == {"index.html", "report.md", "results.json"}
    import verify._infra.atomic as results
    import verify.jobs.report as rep

    # 1. Ctrl-C during the first audit (DU-5), after DU-1 .. DU-4: nothing is written.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rep, "_audit_record", interrupted)
    assert main(["all", "--out", str(tmp_path / "r"), "--quiet"]) == 130
    assert "Traceback" not in capsys.readouterr().err
    assert files() == before
    # 2. Ctrl-C while the report itself is written (during the second of its three files): the
    #    previous three stay, none is mixed in, no temp file is left.
    records = [rep.ClaimRecord(c, "identity", "proof", "proven", "new", 0.0) for c in CLAIMS]
    calls = []
    real_fsync = results.os.fsync

    def fsync_then_interrupt(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(results.os, "fsync", fsync_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        rep.write_report(records, tmp_path / "r", seed=0, full=False)
    assert len(calls) == 2 and files() == before
    monkeypatch.setattr(results.os, "fsync", real_fsync)
    # The control: the same records without the interruption replace all three files.
    rep.write_report(records, tmp_path / "r", seed=0, full=False)
    after = files()
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)
    assert oct((tmp_path / "r" / "index.html").stat().st_mode & 0o777) != "0o600"  # readable by others


def test_report_math_is_unicode_but_words_containing_greek_names_are_kept():
    from verify.jobs.pretty import pretty
    assert pretty("||u_t v_t^T - M*||_F <= 1e-2 sigma_1, eta_t -> 0, lambda_min >= -eps") == \
        "‖u_t v_tᵀ - M*‖_F ≤ 1e-2 σ_1, η_t → 0, λ_min ≥ -ε"
    # controls: names inside words, and exponents followed by more of a token, stay as they are
    assert pretty("theta beta meta lambdas x^2t x^Tb x^2.5 epsilons") == "θ β meta lambdas x^2t x^Tb x^2.5 epsilons"


def test_report_evidence_is_cut_between_sub_verdicts_and_counts_the_rest():
    from verify.jobs.report import _summary
    parts = [f"sub-verdict {k}: " + "x" * 90 for k in range(5)]
    got = _summary(parts)
    assert got == "; ".join(parts[:2]) + "; ... 3 more in the section"
    assert _summary(parts[:1]) == parts[0] and _summary(["a", "b"]) == "a; b"


@pytest.mark.parametrize("cid", ["NM-1", "DU-1"])
def test_nm_1_du_1_report_flow_drift_checks_pass_and_their_controls_drift(cid):
    # The float64 trajectory check behind a proof row's "float64 flow drift" evidence, and the same
    # trajectory with one term of the quantity dropped (the bias), which must drift.
    from verify.testing.checking import as_quantity
    from verify.jobs.report import PROPERTY_TOL, _property
    from verify.prove.trajectory import flow_drift
    model, rep = _property(cid, 0)
    assert rep.relative_drift < PROPERTY_TOL
    quantity = CLAIMS[cid].property_check.quantity
    dropped = quantity.replace(" + norm(b1)**2", "").replace(" + b1[i]**2", "")
    assert dropped != quantity
    assert flow_drift(model, as_quantity(dropped, model), seed=0, max_evals=20_000).relative_drift > 1e-3


README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_verify_all_transcript_matches_a_real_run(report):
    """The README's `verify all` transcript (skipped by the README runner: it takes 30 s or more) is
    this run's output: every row (seconds masked, lines cut at 118 characters as the README says)
    and the counts of the summary line."""
    _, out = report
    records = json.loads((out / "results.json").read_text())["claims"]
    text = README.read_text()
    block = text[text.index("$ verify all --workers 2\n"):]
    block = block[:block.index("```")].splitlines()[1:]
    shown = [l for l in block if re.match(r"[A-Z]{2}-\w+ ", l)]

    def masked(line: str) -> str:
        return re.sub(r"^(.{35})\s*\d+\.\d+ s", r"\1 <T> s", line)

    expected = []
    for r in records:
        evidence = r["evidence"] if r["verdict"] != "not run" else f"reason: {r['reason']}"
        line = f"{r['id']:8s} {r['kind']:11s} {r['verdict']:13s} {0.0:7.2f} s  {evidence[:110]}"
        expected.append(masked(line if len(line) <= 118 else line[:117] + "…"))
    assert [masked(l) for l in shown] == expected
    counts = {v: sum(r["verdict"] == v for r in records) for v in {r["verdict"] for r in records}}
    summary = next(l for l in block if l.startswith(f"{len(records)} claims: "))
    parts = summary.split(": ", 1)[1].split(";")[0].split(", ")  # "13 proven", "1 not run", ...
    assert {p.split(" ", 1)[1]: int(p.split(" ", 1)[0]) for p in parts} == counts
