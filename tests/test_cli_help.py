"""Issue 8: every command's --help ends with worked examples, and the examples point at real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verify.jobs.cli import EXAMPLES, main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["all", "list", "prove", "check", "discover", "audit"]


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in COMMANDS])
def test_help_shows_worked_examples(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    examples = out.split("examples:", 1)[1]
    cmd = argv[0] if argv[0] != "--help" else None
    lines = [l.strip() for l in examples.splitlines() if l.strip().startswith("verify ")]
    assert lines, out
    if cmd:
        assert all(l.startswith(f"verify {cmd}") for l in lines), lines


def test_every_command_has_examples_and_they_name_existing_specs():
    assert set(EXAMPLES) == {"verify", *COMMANDS}
    for text in EXAMPLES.values():
        for spec in re.findall(r"examples/[\w.-]+\.toml", text):
            assert (ROOT / spec).exists(), spec


def test_sweep_commands_show_workers_and_scheduler_examples():
    for cmd in ("all", "audit"):
        assert "--workers" in EXAMPLES[cmd] and "--scheduler" in EXAMPLES[cmd]


def test_ci_runs_the_readme_test_command_with_every_extra():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    ci_last = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert block[1] == ci_last == ("pip install torch==2.13.0 && pip install -e '.[dask,torch,test]' && "
                                   "HYPOTHESIS_PROFILE=ci python -m pytest -q")
