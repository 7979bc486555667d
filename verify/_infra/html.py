"""HTML fragments for verdicts, audit reports and discovery results: one renderer for the report
page (``verify all``) and for notebook displays (``_repr_html_``).

Every function takes the plain-JSON form of its object (``verify.certificates.to_json``,
``AuditReport.to_json()``, ``DiscoveryResult.to_json()``), so this module imports nothing of the
package above it and a saved ``results.json`` renders the same as a live object. Formulas are
Presentation MathML (:mod:`verify._infra.mathml`), figures are embedded as data URIs: a fragment
needs no JavaScript and no network.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from verify._infra.mathml import fraction_mathml, pretty, split_long, to_mathml

__all__ = ["CSS", "badge", "verdict_html", "witness_html", "audit_html", "discovery_html", "discovery_markdown",
           "img_tag", "fragment", "esc"]

#: Styles of every fragment (classes prefixed ``vf-``), shared by the report page and notebooks.
CSS = """.vf-badge{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600;font-size:90%}
.vf-proven,.vf-consistent{background:#e3f6e3}.vf-refuted,.vf-inconsistent,.vf-divergent{background:#fbe0e0}
.vf-undecided{background:#fff5d6}.vf-notrun{background:#f0f0f0}
.vf-verdict{border-left:3px solid #ccc;padding:2px 0 2px 12px;margin:12px 0}.vf-proven-edge{border-color:#6b6}
.vf-refuted-edge{border-color:#d66}.vf-undecided-edge{border-color:#db4}
.vf-derivation{display:grid;grid-template-columns:3.2em minmax(0,3fr) minmax(14em,2fr);gap:2px 12px;align-items:center}
.vf-eqno{color:#555;text-align:right}.vf-eq{overflow-x:auto;overflow-y:hidden;padding:3px 0}
.vf-cont{padding-left:3em}mtable.vf-mat{padding:1px 5px;border-left:1.5px solid #333;border-right:1.5px solid #333;
background:linear-gradient(#333,#333) left top/5px 1.5px no-repeat,linear-gradient(#333,#333) left bottom/5px 1.5px no-repeat,
linear-gradient(#333,#333) right top/5px 1.5px no-repeat,linear-gradient(#333,#333) right bottom/5px 1.5px no-repeat}math{font-size:112%}.vf-badge{white-space:nowrap}
.vf-why{color:#444;font-size:92%;border-left:1px solid #ddd;padding-left:8px}
.vf-evidence{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.vf-evidence>table{flex:3 1 640px;min-width:0}.vf-figures{flex:2 1 360px;min-width:0}
table.vf-audit,table.vf-witness{table-layout:fixed;width:100%}table.vf-audit .vf-badge{font-size:75%}table.vf-witness td{overflow-x:auto}table.vf-audit td{overflow-wrap:anywhere}
.vf-figures img{max-width:100%;border:1px solid #ddd;margin:0 0 8px 0}
table.vf-table{border-collapse:collapse}table.vf-table td,table.vf-table th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top;text-align:left}table.vf-table th{background:#eee}.vf-kv{margin-bottom:3px}
.vf-kv .vf-k{color:#555}.vf-note{color:#555;font-size:92%}.vf-muted{color:#666}"""


def esc(text: Any) -> str:
    """Escaped text with ASCII math in Unicode (``||W||^2 <= eps`` -> ``‖W‖² ≤ ε``)."""
    return html.escape(pretty(str(text)))


def badge(verdict: str) -> str:
    cls = "vf-" + verdict.replace(" ", "")
    return f'<span class="vf-badge {cls}">{html.escape(verdict.upper())}</span>'


def _matrix(rows: Any) -> str:
    """A list of lists of exact numbers (text) as a bracketed MathML table."""
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return fraction_mathml(str(rows))
    body = "".join("<mtr>" + "".join(f"<mtd>{fraction_mathml(str(x))}</mtd>" for x in r) + "</mtr>" for r in rows)
    # The brackets are drawn by CSS (class vf-mat): a stretched "[" needs an OpenType math font,
    # which a plain system may not have.
    return f'<mtable class="vf-mat">{body}</mtable>'


def _assign(name: str, value_markup: str) -> str:
    return f'<math alttext="{html.escape(name)}"><mrow><mi>{html.escape(name)}</mi><mo>=</mo>{value_markup}</mrow></math>'


def witness_html(w: Mapping[str, Any]) -> str:
    """An exact witness: parameter matrices and data as MathML matrices, the value as a fraction."""
    rows = [f"<tr><td>{html.escape(k)}</td><td>{_assign(k, _matrix(v))}</td></tr>" for k, v in w["params"].items()]
    rows.append(f"<tr><td>x</td><td>{_assign('x', _matrix(w['data']))}</td></tr>")
    rows.append(f"<tr><td>loss</td><td>{esc(w['loss'])}</td></tr>")
    if w.get("regions"):
        regions = ", ".join(f"{k} = {v}" for k, v in w["regions"].items())
        rows.append(f"<tr><td>activation regions</td><td>{to_mathml(regions)}</td></tr>")
    lines = split_long(str(w["value"]))
    value = "".join(f'<div class="{"vf-cont" if j else "vf-line"}"><math><mrow>{fraction_mathml(line)}</mrow></math></div>'
                    for j, line in enumerate(lines))
    rows.append(f"<tr><td>{esc(w['entry'])}</td><td><div class=\"vf-eq\">{value}</div>(≈ {float(w['value_float']):.6g}; "
                f"{esc(w['certified'])})</td></tr>")
    return (f'<table class="vf-table vf-witness"><colgroup><col style="width:11em"/><col/></colgroup>{"".join(rows)}'
            "</table>")


def verdict_html(d: Mapping[str, Any], *, heading: str = "h4") -> str:
    """A proof verdict: head line, claim, hypotheses, the derivation as numbered displayed
    equations with their justification beside them, or the witness / the undecided evidence."""
    v = d["verdict"]
    out = [f'<div class="vf-verdict vf-{v}-edge"><{heading}>{badge(v)} {html.escape(d["claim_id"])} '
           f'[{html.escape(d["mode"])}, {html.escape(d["dynamics"])}] {esc(d["title"])} '
           f'<span class="vf-muted">({float(d["seconds"]):.2f} s)</span></{heading}>',
           f"<p><i>Claim.</i> {esc(d['statement'])}</p>"]
    if d.get("hypotheses"):
        out.append("<p><i>Hypotheses.</i></p><ul>" + "".join(f"<li>{esc(h)}</li>" for h in d["hypotheses"]) + "</ul>")
    if d.get("steps"):
        cells = []
        for n, s in enumerate(d["steps"], 1):
            lines = split_long(s["text"])
            eq = "".join(f'<div class="{"vf-cont" if j else "vf-line"}">{to_mathml(line, display=True)}</div>'
                         for j, line in enumerate(lines))
            cells.append(f'<span class="vf-eqno">({n})</span><div class="vf-eq">{eq}</div>'
                         f'<div class="vf-why">{esc(s["reason"])}</div>')
        out.append('<p><i>Derivation.</i></p><div class="vf-derivation">' + "".join(cells) + "</div>")
    if d.get("witness"):
        out.append("<p><i>Witness (exact).</i></p>" + witness_html(d["witness"]))
    if d.get("exact_law"):
        out.append(f"<p><i>Exact derivative.</i> {to_mathml(d['exact_law'])}</p>")
    if v == "undecided":
        out.append(f"<p><i>Reason.</i> {esc(d.get('reason', ''))}</p>")
        if d.get("evidence"):
            out.append('<table class="vf-table">' + "".join(f"<tr><td>{esc(k)}</td><td>{esc(x)}</td></tr>"
                                                             for k, x in d["evidence"].items()) + "</table>")
    return "".join(out) + "</div>"


def img_tag(path: str) -> str:
    """A PNG embedded as a data URI (the file name as alt text); a missing file says so."""
    try:
        data = base64.b64encode(Path(path).read_bytes()).decode()
    except OSError:
        return f"<p>(figure missing: {html.escape(str(path))})</p>"
    return f'<img alt="{html.escape(Path(path).name)}" src="data:image/png;base64,{data}">'


def _kv(values: Mapping[str, Any], order: list[str], fmt: Callable[[Any], str]) -> str:
    return "".join(f'<div class="vf-kv"><span class="vf-k">{esc(k)}:</span> {esc(fmt(values[k]))}</div>'
                   for k in order if k in values)


def audit_html(d: Mapping[str, Any], fmt: Callable[[Any], str], *, anchor: str | None = None,
               figures: Sequence[str] | None = None) -> str:
    """An audit report: one table row per sub-claim (quantity | paper | ours (95% CI) | rule |
    verdict), the figures beside the table (``figures``, default the report's PNGs), then the
    notes. ``fmt`` formats a measured value (``verify.numerics.audit_report`` owns the CI format); row
    ids are ``{anchor}-{n}``."""
    anchor = anchor or d["claim_id"]
    tier = "quick" if d.get("quick") else "full"
    rows = []
    for n, s in enumerate(d["subs"], 1):
        measured, paper = s.get("measured") or {}, s.get("paper") or {}
        # Quantities both sides report come first and in the same order, so they line up.
        order = [k for k in measured if k in paper] + [k for k in measured if k not in paper]
        porder = [k for k in measured if k in paper] + [k for k in paper if k not in measured]
        verdict = badge(s["verdict"])
        if s.get("control"):
            ok = "as required" if s.get("control_ok") else "NOT as required"
            verdict += f'<div class="vf-note">control: must be {html.escape(str(s.get("expected")))}, {ok}</div>'
        note = f'<div class="vf-note">{esc(s["note"])}</div>' if s.get("note") else ""
        rows.append(f'<tr id="{html.escape(anchor)}-{n}" class="vf-{s["verdict"]}"><td>{n}</td>'
                    f"<td><b>{esc(s['name'])}</b>{note}</td><td>{_kv(paper, porder, fmt) or '—'}</td>"
                    f"<td>{_kv(measured, order, fmt) or '—'}</td><td>{esc(s['rule'])}</td><td>{verdict}</td></tr>")
    cols = "".join(f'<col style="width:{w}%"/>' for w in (4, 17, 20, 24, 21, 14))
    table = (f'<table class="vf-table vf-audit"><colgroup>{cols}</colgroup><thead><tr><th>#</th><th>quantity (sub-claim)</th><th>paper</th>'
             "<th>ours (95% CI)</th><th>rule</th><th>verdict</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    paths = figures if figures is not None else [f for f in d.get("figures", ()) if str(f).endswith(".png")]
    figs = "".join(img_tag(f) for f in paths)
    head = (f'<p>{badge(d["verdict"])} <b>{html.escape(d["claim_id"])}</b> <span class="vf-muted">{tier} tier, '
            f'seed {d.get("seed")}, {float(d.get("wall_time_s", 0.0)):.1f} s, git {html.escape(str(d.get("git_revision", ""))[:12])}'
            "</span></p>")
    notes = "".join(f"<li>{esc(n)}</li>" for n in d.get("notes", ()))
    params = ", ".join(f"{k} = {fmt(v)}" for k, v in (d.get("params") or {}).items())
    return (head + f'<div class="vf-evidence">{table}' + (f'<div class="vf-figures">{figs}</div>' if figs else "")
            + "</div>" + (f"<p><i>Notes.</i></p><ul>{notes}</ul>" if notes else "")
            + (f"<details><summary>parameters</summary><p>{esc(params)}</p></details>" if params else ""))


def discovery_html(d: Mapping[str, Any]) -> str:
    """A discovery result: the proven laws (typeset), the independent-law count with the rank
    decision behind it, and the notes."""
    out = [f"<p><b>discover {html.escape(d['model'])}</b> <span class=\"vf-muted\">[{html.escape(d['dynamics'])}, "
           f"degree ≤ {d['degree']}, seed {d['seed']}]; state dimension D = {d['state_dim']}</span></p>"]
    if d["degree"]:
        rows = "".join(f"<tr><td>{esc(l['group'])}</td><td>{to_mathml(l['text'])}</td>"
                       f"<td>{badge(l['certificate']['verdict'])}</td></tr>" for l in d["laws"])
        out.append(f"<p>Polynomial laws: {len(d['laws'])}</p>")
        if rows:
            out.append('<table class="vf-table"><tr><th>group</th><th>law</th><th>certificate</th></tr>' + rows + "</table>")
    if d.get("count") is not None:
        out.append(f"<p>Independent conservation laws: <b>{esc(_count_text(d['count']))}</b> "
                   f"(state dimension {d['state_dim']}; {esc(d['count'].get('kind', ''))} count)</p>")
        hist = "".join(f"<tr><td>{h.get('depth')}</td><td>{h.get('dim')}</td><td>{h.get('samples')}</td></tr>"
                       for h in d.get("rank_history", ()))
        out.append('<table class="vf-table"><tr><th>bracket length ≤</th><th>rank of Lie(W) sampled (mod p)</th>'
                   f"<th>samples</th></tr>{hist}</table>")
        if d.get("region"):
            out.append(f'<p class="vf-note">region: {esc(d["region"])}</p>')
    out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in d.get("notes", ())) + "</ul>")
    return "".join(out)


def _count_text(c: Mapping[str, Any]) -> str:
    """The certified count: "exactly N" only when the bounds meet, else the interval and what closes it."""
    if c.get("exact"):
        return f"exactly {c['lower']}"
    closing = f"; {c['closing']}" if c.get("closing") else ""
    return f"between {c['lower']} and {c['upper']}{closing}"


def discovery_markdown(d: Mapping[str, Any]) -> str:
    """The same as Markdown: laws as code, the count, the notes."""
    out = [f"**discover {d['model']}** [{d['dynamics']}, degree <= {d['degree']}, seed {d['seed']}]; "
           f"state dimension D = {d['state_dim']}", ""]
    if d["degree"]:
        out.append(f"Polynomial laws ({len(d['laws'])}, each {'/'.join(sorted({l['certificate']['verdict'] for l in d['laws']})) or 'none'}):")
        out += [f"- {l['group']}: `{l['text']}`" for l in d["laws"]]
    if d.get("count") is not None:
        out += ["", f"Independent conservation laws: **{_count_text(d['count'])}** (state dimension {d['state_dim']})"]
    out += [""] + [f"- note: {n}" for n in d.get("notes", ())]
    return "\n".join(out) + "\n"


def fragment(body: str) -> str:
    """``body`` with the styles it needs, for a notebook cell's output."""
    return f'<div class="vf-display"><style>{CSS}</style>{body}</div>'
