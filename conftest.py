"""Every code example in README.md and docs/*.md runs in the test suite, verbatim (Sybil).

Blocks by info string:

* ``python``: run; a block that starts with ``>>>`` is a doctest (its printed output is compared;
  ``...`` elides, as in doctest, only what differs from run to run, e.g. timings);
* ``python test``: a block from a user's pytest suite. A document's ``python test`` blocks are
  written, in order, to one file (a user's test file) and run by pytest in a fresh process, as a
  user would: no conftest, this package's plugin loaded from its entry point,
  ``--hypothesis-profile=verify-ci`` (10 examples) so that it takes seconds; every test must pass;
* ``console``: ``$ verify ...`` lines are run by the CLI's ``main`` (in the repository root) and their
  output must match the lines below them; a line ``...`` matches any number of lines, and times
  (``0.30 s``) are not compared; ``$ echo $?`` checks the exit code of the previous command;
* ``toml``: a spec; it must load into a model.

Blocks in other languages are not run: ``tests/test_docs_examples.py`` lists the ones allowed and
why. ``<!-- skip: next "reason" -->`` skips one example and says why (pytest shows the reason).
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from doctest import ELLIPSIS, NORMALIZE_WHITESPACE
from pathlib import Path

ROOT = Path(__file__).resolve().parent

try:
    from sybil import Sybil
    from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser
except ImportError:  # the test extra is not installed: the documents are not collected
    Sybil = None


#: Times differ from run to run; everything else in a console example is compared.
_TIME = re.compile(r"\d+(?:\.\d+)? s\b")


def _pattern(expected: str) -> re.Pattern:
    parts = []
    for line in expected.rstrip("\n").split("\n"):
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(re.escape(_TIME.sub("<T> s", line.rstrip())) + r"\n")
    return re.compile("".join(parts) + r"\Z")


def _normal(text: str) -> str:
    return "".join(_TIME.sub("<T> s", line.rstrip()) + "\n" for line in text.rstrip("\n").split("\n"))


def _sessions(source: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block."""
    out: list[tuple[str, str]] = []
    for line in source.splitlines(keepends=True):
        if line.startswith("$ "):
            out.append((line[2:].strip(), ""))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + line)
        elif line.strip():
            raise ValueError(f"console example: output before the first '$ ' command: {line!r}")
    return out


def evaluate_console(example) -> None:
    from verify.jobs.cli import main
    code = None
    for command, expected in _sessions(example.parsed):
        argv = shlex.split(command)
        if argv == ["echo", "$?"]:
            got = f"{code}\n"
        elif argv[0] == "verify":
            out = io.StringIO()
            cwd = os.getcwd()
            try:
                os.chdir(ROOT)
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                    code = main(argv[1:])
            finally:
                os.chdir(cwd)
            got = out.getvalue()
        else:
            raise ValueError(f"console example: only 'verify ...' and 'echo $?' are run, got {command!r}")
        if not _pattern(expected).match(_normal(got)):
            raise AssertionError(f"$ {command}\n--- expected ---\n{expected}--- got ---\n{got}")


def evaluate_toml(example) -> None:
    import tempfile

    from verify.lang.spec import load_spec
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "example.toml"
        path.write_text(example.parsed)
        model = load_spec(path)
    assert model.params, "the spec builds a model without parameters"


def evaluate_pytest_block(example) -> None:
    """Collect the block; at the document's last ``python test`` block, run them all with pytest in
    one fresh process (one interpreter start instead of one per block; see the module docstring)."""
    import tempfile
    sources = example.namespace.setdefault("_pytest_sources", [])
    sources.append(example.parsed)
    names = [n.name for n in ast.parse(example.parsed).body
             if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
    assert names, "a 'python test' block defines no test function"
    example.namespace.setdefault("_pytest_names", []).extend(names)
    if len(sources) < len(re.findall(r"^```python test\s*$", example.document.text, re.M)):
        return  # checked with the last block
    names = example.namespace["_pytest_names"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS", "PYTEST"))}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_example.py").write_text("\n\n".join(sources))
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
                              "--hypothesis-profile=verify-ci", "test_example.py"],
                             cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and f"{len(names)} passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]


if Sybil is not None:
    pytest_collect_file = Sybil(
        parsers=[
            PythonCodeBlockParser(doctest_optionflags=ELLIPSIS | NORMALIZE_WHITESPACE),
            CodeBlockParser("python test", evaluate_pytest_block),
            CodeBlockParser("console", evaluate_console),
            CodeBlockParser("toml", evaluate_toml),
            SkipParser(),
        ],
        patterns=["README.md", "docs/*.md"],
    ).pytest()
