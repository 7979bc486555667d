"""``verify all``: one audit report of the whole catalog (index.html, report.md, results.json).

Every catalog id gets one record: proofs for identity claims (plus a float64 property check on a
random network where one is defined), audits for bound / rate / asymptotic / experiment claims,
"not run" with its reason otherwise. The HTML page is one self-contained document (inline CSS,
figures embedded as data URIs, formulas as MathML, no script but a load check, no network): a
summary with the counts by verdict and links to every row, the table of claims, then one section
per claim. A proof section shows each derivation as numbered displayed equations with the
justification beside each step (``verify._infra.html``, the renderer notebooks use too); an audit
section shows its evidence as a table, one row per sub-claim (quantity | paper | ours (95% CI) |
rule | verdict), with the figures beside it.
"""

from __future__ import annotations

import html
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verify._infra import html as fragments
from verify._infra.mathml import pretty
from verify.certificates import render, to_json
from verify.claims import CLAIMS

__all__ = ["ClaimRecord", "run_all", "write_report"]


#: Float64 property checks along a gradient-flow trajectory (solve_ivp, rtol 1e-10; the networks and
#: quantities are the claims' ``property_check`` bindings): the drift of Q relative to the scale of
#: its terms must stay below PROPERTY_TOL (round-off and integration error are ~1e-12 here; a
#: non-conserved quantity drifts by ~1e-2).
PROPERTY_TOL = 1e-8


@dataclass(frozen=True)
class ClaimRecord:
    id: str
    kind: str
    job: str
    verdict: str  # proven / refuted / consistent / inconsistent / divergent / undecided / not run
    evidence: str
    seconds: float
    details: str = ""
    figures: tuple[str, ...] = ()
    reason: str = ""
    extra: dict = field(default_factory=dict)


def _property(cid: str, seed: int):
    from verify.testing.checking import as_quantity
    from verify.model import diagonal_net, mlp, normalized_mlp
    from verify.prove.trajectory import flow_drift
    pc = CLAIMS[cid].property_check
    assert pc is not None, cid
    a, b, c, q = pc.shape, pc.activation, pc.bias, pc.quantity
    from verify.errors import DivergenceError
    model = (mlp(a, b, bias=c) if pc.builder == "mlp" else diagonal_net(*a) if pc.builder == "diagonal"
             else normalized_mlp(a, "layer", b, c, name=f"layernorm {'-'.join(map(str, a))} {b}" + (" +bias" if c else "")))
    # A piecewise-linear flow can slide along a kink, where no explicit solver makes progress; the
    # next seeds are tried (at most 4) and the seed used is part of the report.
    for s in range(seed, seed + 4):
        try:
            return model, flow_drift(model, as_quantity(q, model), seed=s, max_evals=20_000)
        except DivergenceError as exc:
            last = exc
    raise last


def _control_kinds(tasks, verdicts) -> str:
    """" (2 refuted, 1 undecided)": what the negative controls gave (a generic control cannot be
    refuted, only left open: its residual is not 0 under the declared properties)."""
    got = [v.verdict for t, v in zip(tasks, verdicts) if t.expect != "proven"]
    kinds = ", ".join(f"{got.count(k)} {k}" for k in sorted(set(got)))
    return f" ({kinds})" if kinds else ""


def _proof_record(cid: str, seed: int, timeout: float | None = None) -> ClaimRecord:
    if timeout:
        # the limit is armed here, in the process that runs the proofs (a pool worker's main thread)
        return _timed(timeout, _proof_record, cid, seed)
    from verify.proofs import run_tasks, tasks_for
    t0 = time.perf_counter()
    tasks = tasks_for([cid])
    verdicts = run_tasks(tasks, 1)
    ok = [v.verdict == t.expect for t, v in zip(tasks, verdicts)]
    n_proofs = sum(t.expect == "proven" for t in tasks)
    shown = [(t, v) for t, v in zip(tasks, verdicts) if t.mode == "generic" or t.expect != "proven" or v.verdict != t.expect]
    details = "\n\n".join(render(v) for _, v in shown)
    concrete = [t.name for t in tasks if t.mode == "concrete" and t.expect == "proven"]
    details += "\n\nconcrete instances proven: " + "; ".join(concrete)
    evidence = (f"{sum(o for t, o in zip(tasks, ok) if t.expect == 'proven')}/{n_proofs} proofs "
                f"({sum(t.mode == 'generic' for t in tasks if t.expect == 'proven')} generic), "
                f"{sum(o for t, o in zip(tasks, ok) if t.expect != 'proven')}/{len(tasks) - n_proofs} controls as "
                f"expected{_control_kinds(tasks, verdicts)}")
    verdict = "proven" if all(ok) else ("refuted" if any(v.verdict == "refuted" and t.expect == "proven"
                                                        for t, v in zip(tasks, verdicts)) else "undecided")
    # The verdicts in full (derivation steps, witnesses) for the HTML page, with what each task expected.
    extra: dict = {"verdicts": [dict(to_json(v), expect=t.expect, task=t.name) for t, v in shown],
                   "concrete": concrete}
    if CLAIMS[cid].property_check is not None:
        from verify.errors import DivergenceError
        try:
            model, rep = _property(cid, seed)
        except DivergenceError as exc:
            return ClaimRecord(cid, CLAIMS[cid].kind, "proof", "undecided" if verdict == "proven" else verdict,
                               evidence + f"; property check stalled: {exc}", time.perf_counter() - t0, details,
                               extra=extra)
        passed = rep.relative_drift < PROPERTY_TOL
        evidence += f"; float64 flow drift {rep.relative_drift:.1e} (< {PROPERTY_TOL:g})"
        details += f"\n\nproperty check on {model.name}: {rep.render()}"
        extra["property"] = rep.to_json()
        extra["property_text"] = f"property check on {model.name}: {rep.render()}"
        if not passed:
            verdict = "inconsistent"
    return ClaimRecord(cid, CLAIMS[cid].kind, "proof", verdict, evidence, time.perf_counter() - t0, details,
                       extra=extra)


def _audit_record(cid: str, seed: int, full: bool, out: Path, workers: int, progress: bool,
                  pool=None) -> ClaimRecord:
    c = CLAIMS[cid]
    from verify.numerics.run import run_audit
    if c.audit is None:
        return ClaimRecord(cid, c.kind, c.job, "not run", "", 0.0, reason="audit not implemented yet")
    t0 = time.perf_counter()
    rep = run_audit(cid, quick=not full, seed=seed, out=out / "audits", workers=workers, progress=progress,
                    pool=pool)
    key = _summary([f"{s.name}: {s.verdict}" for s in rep.subs])
    return ClaimRecord(cid, c.kind, c.job, rep.verdict, key, time.perf_counter() - t0, rep.render_text(),
                       tuple(f for f in rep.figures if f.endswith(".png")), extra={"audit": rep.to_json()})


def _summary(parts: list[str], limit: int = 300) -> str:
    """The sub-verdicts joined by "; ", cut between parts (never inside one) to about ``limit``
    characters, saying how many more the claim's section holds."""
    shown: list[str] = []
    for k, part in enumerate(parts):
        if shown and len("; ".join(shown + [part])) > limit:
            return "; ".join(shown) + f"; ... {len(parts) - k} more in the section"
        shown.append(part)
    return "; ".join(shown)


def _timed(seconds: float | None, fn, cid: str, *args) -> ClaimRecord:
    """``fn(cid, *args)`` under a per-claim limit: over it, an undecided row that says so."""
    from verify._infra.deadline import deadline, reached
    from verify.errors import JobTimeout
    t0 = time.perf_counter()
    try:
        with deadline(seconds):
            return fn(cid, *args)
    except JobTimeout as exc:
        where = f" while {reached()}" if reached() else ""
        c = CLAIMS[cid]
        return ClaimRecord(cid, c.kind, c.job, "undecided", f"{exc}{where} (--timeout)", time.perf_counter() - t0,
                           reason=f"{exc} (--timeout)")


def _result(fut, cid: str, seconds: float | None) -> ClaimRecord:
    """A pool job's record; the wait is bounded where the worker could not arm its own limit (Dask threads)."""
    import concurrent.futures
    try:
        return fut.result(timeout=None if seconds is None else 2 * seconds + 60)
    except concurrent.futures.TimeoutError:
        fut.cancel()
        c = CLAIMS[cid]
        return ClaimRecord(cid, c.kind, c.job, "undecided", f"timed out after {seconds:g} s (--timeout)",
                           float(seconds or 0), reason=f"timed out after {seconds:g} s (--timeout)")


def run_all(*, full: bool = False, seed: int = 0, out: Path, workers: int = 1, progress: bool = False,
            ids=None, scheduler: str | None = None, claim_timeout: float | None = None) -> list[ClaimRecord]:
    """One record per catalog id (or per id in ``ids``), in catalog order.

    With ``workers > 1`` or a Dask ``scheduler`` one executor serves the whole run. The audits run
    here one after another and send their sweeps to it; the proof claims (proofs and property
    check, one job per claim) go to it too, at most one per worker slot at a time while an audit
    runs, so a sweep waits behind at most one proof job per slot instead of behind all of them
    (executors run jobs first come, first served). The proofs left over are sent together once the
    audits are done. An audit's own bookkeeping (fits, figures) runs in this process. Inline
    (``workers=1``) everything runs here in catalog order.

    Args:
        claim_timeout: seconds per claim (``--timeout``): a claim over time is an ``undecided`` row,
            "timed out after N s", and the others go on (inline under SIGALRM, in a process pool
            inside the worker; on a Dask cluster the wait for its result is bounded).
        progress: one bar over the claims (``verify all: 12/27 claims``, the current claim id and
            the time left), and below it a bar per sweep (runs done / total, time left).
    """
    from tqdm import tqdm

    from verify._infra.pools import open_pool, pool_slots
    chosen = [c for c in CLAIMS.values() if ids is None or c.id in ids]
    records: dict[str, ClaimRecord] = {}
    with open_pool(workers=workers, scheduler=scheduler) as pool, \
            tqdm(total=len(chosen), desc="verify all", disable=not progress, unit="claim") as bar:
        waiting = [c.id for c in chosen if c.job == "proof"] if pool is not None else []
        sent: dict = {}

        def send(limit: int | None):
            while waiting and (limit is None or sum(not f.done() for f in sent.values()) < limit):
                cid = waiting.pop(0)
                sent[cid] = pool.submit(_proof_record, cid, seed, claim_timeout)

        def done(rec: ClaimRecord):
            records[rec.id] = rec
            bar.update(1)

        try:
            for c in chosen:
                if pool is not None and c.job == "proof":
                    continue
                bar.set_postfix_str(c.id)
                if c.job == "proof":
                    done(_proof_record(c.id, seed, claim_timeout))
                elif c.job == "audit":
                    if pool is not None:
                        send(pool_slots(pool))
                    done(_timed(claim_timeout, _audit_record, c.id, seed, full, out, workers, progress, pool))
                else:
                    done(ClaimRecord(c.id, c.kind, c.job, "not run", "", 0.0, reason=c.statement))
            send(None)
            for cid, fut in sent.items():
                bar.set_postfix_str(cid)
                done(_result(fut, cid, claim_timeout))
        except BaseException:
            for fut in sent.values():
                fut.cancel()
            raise
    return [records[c.id] for c in chosen]


def _header(seed: int, full: bool, executor: str) -> dict:
    from verify._infra.provenance import git_revision, library_versions
    return {"seed": seed, "tier": "full" if full else "quick", "executor": executor, "git_revision": git_revision(),
            "versions": library_versions(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "generated": time.strftime("%Y-%m-%d %H:%M:%S")}


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1440px;line-height:1.4}table{border-collapse:collapse}
table.claims td,table.claims th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}table.claims th{background:#eee}
.proven,.consistent{background:#e3f6e3}.refuted,.inconsistent,.divergent{background:#fbe0e0}
.undecided{background:#fff5d6}.notrun{background:#f0f0f0}pre{background:#f7f7f7;padding:8px;overflow-x:auto;
white-space:pre-wrap}img{max-width:100%;border:1px solid #ddd;margin:4px 0}td:first-child{white-space:nowrap}
table.head{margin-bottom:1em}table.head td{border:none;padding:1px 8px}table.head td:first-child{color:#555}
.summary td{padding:2px 10px 2px 0;vertical-align:top}.summary a{margin-right:6px}section{margin-top:2.5em}
section>h2{border-bottom:1px solid #ddd;padding-bottom:4px}:target{outline:2px solid #88f}"""


def _header_rows(head: dict) -> list[tuple[str, str]]:
    """The header as (label, value) lines: seed, tier, executor, revision, versions, machine, time."""
    versions = ", ".join(f"{k} {v}" for k, v in head["versions"].items())
    return [("seed", str(head["seed"])), ("tier", head["tier"]), ("executor", head["executor"]),
            ("git revision", head["git_revision"]), ("versions", versions), ("machine", head["machine"]),
            ("generated", head["generated"])]


#: Marks on <body> how many images decoded and how many MathML formulas were laid out with a
#: non-zero size, so a headless browser test can read both from the DOM.
CHECK_JS = ("window.addEventListener('load',function(){var im=document.images,ok=0;"
            "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}"
            "document.body.setAttribute('data-images',ok+'/'+im.length);"
            "var m=document.querySelectorAll('math'),mo=0;"
            "for(var j=0;j<m.length;j++){var r=m[j].getBoundingClientRect();if(r.width>0&&r.height>0)mo++;}"
            "document.body.setAttribute('data-math',mo+'/'+m.length);});")

#: Order of the verdicts in the summary: passes first, then what needs a reader's attention.
ORDER = ("proven", "consistent", "not run", "undecided", "divergent", "refuted", "inconsistent")


def _summary_html(records: list[ClaimRecord]) -> str:
    """Counts by verdict, each with links to its rows of the claims table."""
    seen = sorted({r.verdict for r in records}, key=lambda v: ORDER.index(v) if v in ORDER else len(ORDER))
    lines = []
    for v in seen:
        ids = [r.id for r in records if r.verdict == v]
        links = "".join(f'<a href="#row-{i}">{i}</a>' for i in ids)
        lines.append(f"<tr><td>{fragments.badge(v)}</td><td><b>{len(ids)}</b></td><td>{links}</td></tr>")
    return (f'<section id="summary"><h2>Summary: {len(records)} claims</h2><table class="summary">{"".join(lines)}'
            "</table></section>")


def _proof_section(r: ClaimRecord) -> str:
    """The proofs shown (generic ones, negative controls, anything not as expected), each with its
    derivation or witness; the concrete instances by name; the float64 property check."""
    parts = []
    for d in r.extra["verdicts"]:
        role = "proof" if d["expect"] == "proven" else f"negative control (expected {d['expect']})"
        ok = "as expected" if d["verdict"] == d["expect"] else f"NOT as expected: {d['verdict']}"
        parts.append(f'<p class="vf-muted">{html.escape(role)}: {html.escape(ok)}</p>' + fragments.verdict_html(d))
    if r.extra.get("concrete"):
        parts.append(f"<p><i>Concrete instances proven.</i> {fragments.esc('; '.join(r.extra['concrete']))}</p>")
    if r.extra.get("property_text"):
        parts.append(f"<p><i>Float64 property check.</i> {fragments.esc(r.extra['property_text'])}</p>")
    return "".join(parts)


def _section(r: ClaimRecord) -> str:
    from verify.numerics.audit_report import format_measured
    c = CLAIMS[r.id]
    head = (f'<section id="{r.id}"><h2>{r.id}: {fragments.esc(c.statement)}</h2>'
            f"<p>{html.escape(c.paper)}, {html.escape(c.source)} · {fragments.badge(r.verdict)} · "
            f'<a href="#row-{r.id}">back to the table</a></p>')
    if r.job == "proof" and "verdicts" in r.extra:
        body = _proof_section(r)
    elif "audit" in r.extra:
        body = fragments.audit_html(r.extra["audit"], format_measured, anchor=r.id, figures=r.figures)
    else:  # a note (reason) or a record without structured evidence
        details = r.details or r.reason
        body = f"<pre>{html.escape(details if r.job == 'proof' else pretty(details))}</pre>" + \
            "".join(fragments.img_tag(f) for f in r.figures)
    return head + body + "</section>"


def _md_target(figure: str, out: Path) -> str:
    """A figure's link in report.md: relative to the report's folder (not to the current directory),
    percent-encoded so that spaces and parentheses do not end the Markdown link (issue 15, item 8)."""
    import os
    from urllib.parse import quote
    rel = os.path.relpath(Path(figure).resolve(), Path(out).resolve())
    return quote(rel.replace(os.sep, "/"))


def write_report(records: list[ClaimRecord], out: Path, *, seed: int, full: bool,
                 executor: str = "this process") -> dict[str, Path]:
    """Write index.html, report.md and results.json atomically into ``out``."""
    from verify._infra.atomic import json_text, write_texts_atomic
    head = _header(seed, full, executor)
    head_rows = _header_rows(head)
    rows, md_sections = [], []
    md = ["# verify report\n", *(f"- {k}: {v}" for k, v in head_rows),
          "\n| id | kind | job | verdict | evidence | time (s) |\n|---|---|---|---|---|---|"]
    for r in records:
        shown = r.verdict if r.verdict != "not run" else f"not run ({r.reason[:80]})"
        cls = r.verdict.replace(" ", "")
        # Proof derivations stay as SymPy printed them; audit texts get Unicode math.
        details = r.details or r.reason
        details = details if r.job == "proof" else pretty(details)
        rows.append(f'<tr id="row-{r.id}" class="{cls}"><td><a href="#{r.id}">{r.id}</a></td><td>{r.kind}</td>'
                    f"<td>{r.job}</td><td>{html.escape(shown)}</td><td>{html.escape(pretty(r.evidence))}</td>"
                    f"<td>{r.seconds:.2f}</td></tr>")
        md.append(f"| {r.id} | {r.kind} | {r.job} | {shown} | {pretty(r.evidence).replace('|', '/')} | {r.seconds:.2f} |")
        md_sections.append(f"\n## {r.id}\n\n{CLAIMS[r.id].statement}\n\n```\n{details}\n```\n"
                           + "".join(f"\n![{Path(f).name}]({_md_target(f, out)})\n" for f in r.figures))
    head_html = "".join(f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in head_rows)
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>verify report</title>"
            f"<style>{CSS}\n{fragments.CSS}</style></head><body><h1>verify report</h1><table class='head'>{head_html}"
            f"</table>{_summary_html(records)}<h2>Claims</h2><table class='claims'><tr><th>id</th><th>kind</th><th>job</th>"
            f"<th>verdict</th><th>key evidence</th><th>time (s)</th></tr>{''.join(rows)}</table>"
            f"{''.join(_section(r) for r in records)}<script>{CHECK_JS}</script></body></html>")
    out = Path(out)
    # The three files are one report: all are rendered (JSON included, which can fail on a NaN)
    # before any is written, and written as a set.
    files = {out / "index.html": page, out / "report.md": "\n".join(md + md_sections) + "\n",
             out / "results.json": json_text({"header": head, "claims": [asdict(r) for r in records]})}
    html_path, md_path, json_path = write_texts_atomic(files)
    return {"html": html_path, "md": md_path, "json": json_path}
