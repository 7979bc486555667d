"""Issue 18: the README's example table has a `--generic` column; every row of it is checked here
against a real run of check(..., mode="generic") (the column is read from README.md, not copied)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verify.certificates import Proven, Refuted
from verify.lang.spec import load_spec
from verify.testing.checking import check

ROOT = Path(__file__).resolve().parents[1]


def readme_rows() -> list[tuple[str, str, str, str]]:
    """(spec, quantity, verdict, --generic column) of the README's example table."""
    text = (ROOT / "README.md").read_text()
    start = text.index("| spec | quantity | verdict | `--generic` |")
    rows = []
    for line in text[start:text.index("\n\n", start)].splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        quantity = re.search(r"`([^`]+)`", cells[1])
        assert quantity is not None, line
        rows.append((cells[0].split()[0], quantity.group(1), cells[2], cells[3]))
    return rows


def test_readme_table_is_read():
    rows = readme_rows()
    assert len(rows) == 27 and sum(r[3].startswith("proven, every width") for r in rows) == 14


@pytest.mark.parametrize("spec, quantity, verdict, generic", readme_rows())
def test_readme_generic_column_matches_a_real_run(spec, quantity, verdict, generic):
    v = check(load_spec(ROOT / "examples" / f"{spec}.toml"), quantity, mode="generic")
    if generic.startswith("proven, every width"):
        assert isinstance(v, Proven) and v.mode == "generic" and verdict.startswith("proven")
    elif generic.startswith("refuted"):
        assert isinstance(v, Refuted) and v.witness is not None and verdict == "refuted"
        assert "[no generic proof:" in v.title
    else:
        assert generic.startswith("proven at the spec's sizes only")
        assert isinstance(v, Proven) and v.mode == "concrete" and "[no generic proof:" in v.title
