"""MkDocs hook: the claim catalog page is generated from the claim registry (``verify.claims``), so
it lists exactly the ids the tool runs, with the job and the verdict each must give."""

from __future__ import annotations

import html

MARKER = "<!-- claim-catalog -->"


def catalog_table() -> str:
    """The registry as an HTML table (statements with their ASCII math in Unicode)."""
    from verify._infra.mathml import pretty
    from verify.claims import CLAIMS
    rows = []
    for c in CLAIMS.values():
        origin = "toolkit extension" if not c.in_catalog else c.paper
        rows.append(f'<tr id="{c.id}"><td><b>{c.id}</b></td><td>{html.escape(origin)}, {html.escape(c.source)}</td>'
                    f"<td>{c.kind}</td><td>{c.job}</td><td>{c.expects}</td><td>{html.escape(pretty(c.statement))}</td></tr>")
    return ("<table><thead><tr><th>id</th><th>paper, source</th><th>kind</th><th>job</th><th>must be</th>"
            "<th>statement</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(MARKER, catalog_table()) if MARKER in markdown else markdown
