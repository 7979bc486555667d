"""Bad spec input gets one line and exit 2, never a traceback, never silent acceptance (issue 15,
spec part): each case below crashed with a traceback, or was silently used, before."""

from __future__ import annotations

import pytest

from verify.jobs.cli import main

DENSE = 'input = 2\n[[layer]]\ntype = "dense"\nout = 2\n'


def _act(extra: str) -> str:
    return DENSE + f'[[layer]]\ntype = "activation"\n{extra}\n[[layer]]\ntype = "dense"\nout = 1\n'


CASES = {
    "alpha text": (_act('name = "leaky_relu"\nalpha = "x"'), "leaky_relu alpha"),
    "alpha inf": (_act('name = "leaky_relu"\nalpha = inf'), "finite number"),
    "alpha nan": (_act('name = "leaky_relu"\nalpha = nan'), "finite number"),
    "alpha bool": (_act('name = "leaky_relu"\nalpha = true'), "finite number"),
    "alpha list": (_act('name = "leaky_relu"\nalpha = [1]'), "finite number"),
    "alpha 1/0": (_act('name = "leaky_relu"\nalpha = "1/0"'), "finite number"),
    "alpha on relu": (_act('name = "relu"\nalpha = 0.2'), "takes no alpha"),
    "k on tanh": (_act('name = "tanh"\nk = 2'), "takes no k"),
    "formula 5": (_act("formula = 5"), "non-empty text"),
    "formula 1e999": (_act('formula = "1e999*z"'), "infinity"),
    "formula sqrt(-1)": (_act('formula = "sqrt(-1)*z"'), "finite real"),
    "formula 10**400": (_act(f'formula = "{10**400}*z"'), "256 bits"),
    "type list": ('input = 2\n[[layer]]\ntype = ["dense"]\nout = 2\n', "unknown layer type"),
    "type 10k chars": ('input = 2\n[[layer]]\ntype = "' + "x" * 10_000 + '"\nout = 2\n', "unknown layer type"),
    "name int": ("name = 5\n" + DENSE, "text label"),
    "name ANSI": ('name = "\\u001b[31mred"\n' + DENSE, "control characters"),
    "pattern bool": ('input = 2\n[[layer]]\ntype = "shared"\npattern = [[true, 1], [1, 0]]\n', "integers >= 0"),
    # size bombs: refused before any work (each took minutes or GiBs before the caps)
    "padding 10**9": ('input = 8\n[[layer]]\ntype = "conv1d"\nkernel = 2\npadding = 1000000000\n', "above the cap"),
    "pattern 15M entries": ('input = 1000\n' + '[[layer]]\ntype = "conv1d"\nkernel = 2\npadding = 1000\n' * 2,
                            "sharing pattern would have"),
    "out 10**7": ('input = 2\n[[layer]]\ntype = "dense"\nout = 10000000\n', "above the cap 65536"),
    "diagonal depth 10**6": ('input = 2\n[[layer]]\ntype = "diagonal"\ndepth = 1000000\n', "above the cap 64"),
    "TOML nesting 5000": ("input = 2\nx = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "residual nesting 40": ("input = 2\n" + "".join("[[layer" + ".block" * i + ']]\ntype = "residual"\n'
                                                    for i in range(40)), "nested more than 16"),
}


def _run(capsys, path) -> tuple[int, str, str]:
    code = main(["check", str(path), "--quantity", "norm(W1)**2"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES)
def test_bad_spec_is_one_line_exit_2(case, tmp_path, capsys):
    text, needle = CASES[case]
    path = tmp_path / "spec.toml"
    path.write_text(text)
    code, out, err = _run(capsys, path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err and len(err) < 400, err
    assert "\x1b" not in err  # no escape sequence reaches the terminal


def test_non_utf8_spec_is_one_line(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(DENSE.encode() + b'name = "\xff\xfe"\n')
    code, _, err = _run(capsys, path)
    assert code == 2 and "not UTF-8" in err and err.count("\n") == 1


def test_path_with_a_line_break_stays_one_line(tmp_path, capsys):
    path = tmp_path / "two\nlines.toml"
    path.write_text("input = 0\n")
    code, _, err = _run(capsys, path)
    assert code == 2 and err.count("\n") == 1 and "\\n" in err


def test_valid_keys_still_accepted(tmp_path, capsys):
    """Control: the refusals above do not catch the keys an activation does take."""
    path = tmp_path / "ok.toml"
    path.write_text(_act('name = "leaky_relu"\nalpha = "1/10"'))
    code, out, err = _run(capsys, path)
    assert code in (0, 1) and err == "" and "'1/10'" in out  # the region value alpha = 1/10 is used
