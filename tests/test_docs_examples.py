"""The documents' examples: every fenced block of README.md and docs/*.md is run by the Sybil
runners in ``conftest.py`` (or is a listed exception), the runners fail on a wrong example, the
pytest plugin's Hypothesis profile, and one distribution name everywhere."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Languages the runners execute (conftest.py).
RUN = {"python", "python test", "console", "toml"}
#: Blocks that are not run, by their first line, and why.
NOT_RUN = {
    "pip install -e . && verify all": "the set-up commands themselves: .ci/run runs the second line, "
                                      "and the first is verify all, run by tests/test_report.py",
    "pip install torch==2.13.0 && pip install -e '.[torch]'": "an install command: .ci/run installs the same "
                                                               "torch wheel and extra",
    "# on the scheduler machine": "needs a Dask cluster; tests/test_executor_dask.py runs --scheduler "
                                  "on a loopback LocalCluster",
}


def _root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, first line) of every fenced block."""
    return [(m.group(1).strip(), m.group(2).split("\n", 1)[0])
            for m in re.finditer(r"^```([^\n]*)\n(.*?)^```\s*$", text, re.M | re.S)]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.name)
def test_every_fenced_block_is_run_or_listed_with_a_reason(doc):
    blocks = fenced_blocks(doc.read_text())
    odd = [(lang, first) for lang, first in blocks if lang not in RUN and first not in NOT_RUN]
    assert odd == [], f"{doc.name}: blocks no runner executes (give them a runnable language or list them)"


def test_fence_scan_sees_an_unrun_block():
    text = (ROOT / "README.md").read_text()
    fences = re.findall(r"^```", text, re.M)
    assert len(fenced_blocks(text)) == len(fences) // 2 >= 12  # the scan finds every block
    # control: a block in another language is reported
    assert fenced_blocks("x\n```sh\nrm -rf /\n```\n") == [("sh", "rm -rf /")]


@pytest.fixture(scope="module")
def runners():
    pytest.importorskip("sybil", reason="the test extra: pip install -e '.[test]'")
    return _root_conftest()


LIST_HEAD = "$ verify list\nid       kind        job    status\n...\n"


def test_console_runner_accepts_real_output_and_rejects_a_changed_line(runners):
    real = LIST_HEAD + "JT-6     note        none   note: nothing to run\n...\n"
    runners.evaluate_console(SimpleNamespace(parsed=real))
    with pytest.raises(AssertionError, match="expected"):
        runners.evaluate_console(SimpleNamespace(parsed=real.replace("nothing to run", "nothing to do")))


def test_console_runner_checks_the_exit_code(runners):
    cmd = '$ verify check examples/tanh_two_layer.toml --quantity "sum(W1[i,:]**2) - sum(W2[:,i]**2)"\n...\n'
    runners.evaluate_console(SimpleNamespace(parsed=cmd + "$ echo $?\n1\n"))  # refuted: exit 1
    with pytest.raises(AssertionError):
        runners.evaluate_console(SimpleNamespace(parsed=cmd + "$ echo $?\n0\n"))


def test_console_runner_compares_everything_but_times(runners):
    pattern = runners._pattern("PROVEN (0.30 s)\n...\nin 1.0 s\n")
    assert pattern.match(runners._normal("PROVEN (12.5 s)\nx\ny\nin 3 s\n"))
    assert not pattern.match(runners._normal("REFUTED (0.30 s)\nin 1.0 s\n"))


def test_pytest_block_runner_fails_on_a_law_that_does_not_hold(runners):
    block = textwrap.dedent("""\
        from verify import mlp
        from verify.testing import assert_conserved

        def test_wrong_law():
            assert_conserved(mlp((1, 1, 1), "relu"), "W1[0,0]**2")
        """)
    doc = SimpleNamespace(text="```python test\n")
    with pytest.raises(AssertionError, match="1 failed"):
        runners.evaluate_pytest_block(SimpleNamespace(parsed=block, namespace={}, document=doc))


def _pytest_in(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_profile.py").write_text(source)
    env = {"PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_profile.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_pytest_plugin_loads_the_verify_profile_without_a_deadline(tmp_path):
    source = textwrap.dedent("""\
        from datetime import timedelta
        from hypothesis import settings

        def test_profile():
            assert settings.default.deadline is None and settings.default.max_examples == 100
            assert settings.get_profile("verify-ci").max_examples == 10
        """)
    run = _pytest_in(tmp_path, source)
    assert run.returncode == 0, run.stdout + run.stderr
    # control: without the plugin Hypothesis's own 200 ms deadline is in force
    off = _pytest_in(tmp_path, source.replace("deadline is None", "deadline == timedelta(milliseconds=200)")
                     .replace('    assert settings.get_profile("verify-ci").max_examples == 10\n', ""), "-p", "no:verify")
    assert off.returncode == 0, off.stdout + off.stderr
    # and a user's own profile (conftest.py) wins over the plugin's
    (tmp_path / "conftest.py").write_text("from hypothesis import settings\n"
                                          "settings.register_profile('mine', deadline=1000)\nsettings.load_profile('mine')\n")
    mine = _pytest_in(tmp_path, source.replace("deadline is None", "deadline == timedelta(seconds=1)"))
    assert mine.returncode == 0, mine.stdout + mine.stderr


def test_distribution_name_agrees_in_pyproject_cli_pip_and_readme():
    from importlib.metadata import version

    from verify.jobs.cli import DISTRIBUTION
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name == DISTRIBUTION == "verify-implicit-reg"
    cli = subprocess.run([sys.executable, "-m", "verify", "--version"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and cli.stdout.strip() == f"{name} {version(name)}"
    show = subprocess.run([sys.executable, "-m", "pip", "show", name], capture_output=True, text=True, timeout=120)
    assert show.returncode == 0, show.stderr
    assert f"Name: {name}\n" in show.stdout and f"Version: {version(name)}\n" in show.stdout
    readme = (ROOT / "README.md").read_text()
    assert f"pip show {name}" in readme and "verify --version" in readme
