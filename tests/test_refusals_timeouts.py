"""Issue 15: big input is refused before the work, in one line with the estimate, the budget and what
to do; --timeout stops a job as undecided and says where it was; report.md links work from its folder.

Every refusal has its negative control: the same kind of job under budget still proves, and a
timeout that does not fire leaves the verdict unchanged."""

from __future__ import annotations

import re
import time

import pytest
import sympy as sp

from verify._infra.deadline import deadline
from verify.errors import BudgetExceeded, JobTimeout, SpecError
from verify.jobs.cli import main
from verify.lang.quantity import parse_quantity
from verify.lang.spec import parse_spec
from verify.prove.cost import expanded_ops, forward_ops
from verify.testing.checking import check

MLP = 'input = {i}\n[[layer]]\ntype = "dense"\nout = {h}\n[[layer]]\ntype = "activation"\nname = "relu"\n' \
      '[[layer]]\ntype = "dense"\nout = {o}\n'
BALANCE = "sum(W1[i,:]**2) - sum(W2[:,i]**2)"


@pytest.fixture
def spec(tmp_path):
    def write(i=3, h=4, o=2, text=None):
        path = tmp_path / f"net{i}_{h}_{o}.toml"
        path.write_text(text if text is not None else MLP.format(i=i, h=h, o=o))
        return str(path)
    return write


def _one_line_refusal(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("verify: error: "), err
    assert re.search(r"estimated [\d.,e+]+ operations, above the budget of [\d,]+", err), err
    return err


# --- the cost estimate is an upper bound of the expansion it stands for ---------------------------
_a, _b, _c, _d = sp.symbols("a b c d")


@pytest.mark.parametrize("e", [(_a + _b + _c) ** 4, (_a + _b) * (_c + _d) * (_a + _d), (_a * _b + _c) ** 3 * (_a - _b),
                               (_a + _b) ** 2 - (_a - _b) ** 2, ((_a + _b) ** 2 + _c) ** 3,
                               _a * (_b + _c * (_d + _a * (_b + _c)))], ids=str)
def test_expanded_ops_bounds_the_expansion_from_above(e):
    assert expanded_ops([e]) >= sp.count_ops(sp.expand(e)), e


def test_multinomial_count_is_exact_for_a_power_of_distinct_symbols():
    # (a+b+c)**4 has C(6, 4) = 15 terms, each of at most 3 factors: 15 * (2 + 2 * 3) operations at most
    a, b, c = sp.symbols("a b c")
    assert expanded_ops([(a + b + c) ** 4]) == 15 * 8


def test_forward_ops_counts_dense_layers_and_attention_scores():
    small = parse_spec(MLP.format(i=3, h=4, o=2))
    assert forward_ops(small) == (3 * 4 + 3 + 4) + (4 + 4) + (4 * 2 + 4 + 2)
    att = parse_spec('input = 8\n[[layer]]\ntype = "attention"\ntokens = 4\n')
    assert forward_ops(att) >= 4 * 4 * 2  # T x T scores of width 2


# --- refusals, one per bomb family, each with its control under budget ----------------------------
def test_power_of_a_sum_is_refused_before_expansion_and_auto_proves_it_by_the_randomized_route(capsys, spec):
    q = f"({BALANCE})**32"  # conserved (a power of a conserved quantity), but C(T+31, 32) terms expanded
    t0 = time.perf_counter()
    err = _one_line_refusal(capsys, ["check", spec(), "--quantity", q, "--method", "symbolic"])
    assert "--method randomized" in err and "--budget" in err and time.perf_counter() - t0 >= 0
    v = check(parse_spec(MLP.format(i=3, h=4, o=2)), q)  # auto: over budget symbolically -> randomized
    assert v.verdict == "proven (randomized)" and "over budget" in v.title


def test_small_job_under_budget_still_proves(capsys, spec):
    assert main(["check", spec(), "--quantity", BALANCE, "--method", "symbolic"]) == 0
    assert "PROVEN" in capsys.readouterr().out


def test_budget_option_moves_the_limit_both_ways(capsys, spec):
    _one_line_refusal(capsys, ["check", spec(), "--quantity", BALANCE, "--method", "symbolic", "--budget", "50"])
    assert main(["check", spec(), "--quantity", BALANCE, "--method", "symbolic", "--budget", "10000000"]) == 0


def test_wide_symbolic_net_is_refused_before_it_is_built(capsys, spec):
    err = _one_line_refusal(capsys, ["check", spec(64, 64, 64), "--quantity", BALANCE, "--method", "symbolic"])
    assert "symbolic gradient" in err


def test_randomized_route_on_a_huge_layer_is_refused_and_a_wide_one_is_not(capsys, spec):
    err = _one_line_refusal(capsys, ["check", spec(65536, 65536, 1), "--quantity", BALANCE])
    assert "randomized route" in err and "--budget" in err
    assert main(["check", spec(3, 256, 2), "--quantity", BALANCE]) == 0  # 3-256-2: within budget, proven


def test_attention_over_many_tokens_is_refused(capsys, spec):
    text = 'input = 8192\n[[layer]]\ntype = "attention"\ntokens = 4096\n[[layer]]\ntype = "dense"\nout = 1\n'
    _one_line_refusal(capsys, ["check", spec(text=text), "--quantity", "Wq1.T @ Wq1 - Wk1.T @ Wk1"])


def test_gd_step_of_a_high_power_is_refused(capsys, spec):
    _one_line_refusal(capsys, ["check", spec(), "--quantity", "sum(W1**2)**32", "--dynamics", "gd"])


def test_discover_law_search_and_count_are_refused_over_budget_and_run_under_it(capsys, spec):
    err = _one_line_refusal(capsys, ["discover", spec(20, 20, 5), "--degree", "4"])
    assert "--degree 3" in err
    _one_line_refusal(capsys, ["discover", spec(200, 200, 5), "--count"])
    assert main(["discover", spec(3, 4, 2), "--degree", "2"]) == 0


def test_discover_refuses_a_network_of_huge_degree(capsys, spec):
    layer = '[[layer]]\ntype = "dense"\nout = 2\n[[layer]]\ntype = "activation"\nname = "relu_power"\nk = 16\n'
    code = main(["discover", spec(text="input = 2\n" + layer * 3 + '[[layer]]\ntype = "dense"\nout = 1\n')])
    err = capsys.readouterr().err
    assert code == 2 and "polynomial degree" in err and err.count("\n") == 1


# --- caps of the languages -------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["norm(W1)**100", "((W1**8)**8)**8", "W1" + " @ W1.T @ W1" * 40,
                                  "sum(W1)**65", "exp(exp(exp(exp(sum(W1)))))"])
def test_quantity_degree_and_nesting_caps(text):
    with pytest.raises(SpecError):
        parse_quantity(text)


@pytest.mark.parametrize("text", ["sum(W1)**64", "(W1**8)**8", "exp(exp(exp(sum(W1))))", "2**100*sum(W1)"])
def test_quantity_at_the_caps_is_accepted(text):
    assert parse_quantity(text).text == text


def test_formula_nested_exponents_multiply_to_the_cap():
    from verify.lang.formula import custom
    with pytest.raises(SpecError, match="nested exponents"):
        custom("((z**64)**64)**64")
    assert custom("(z**8)**8").name  # 64: at the cap


def test_complex_value_at_a_witness_point_is_no_traceback(capsys, spec):
    assert main(["check", spec(), "--quantity", "sum(W1)**(1/2)"]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err


# --- timeouts --------------------------------------------------------------------------------------
def test_timeout_stops_a_long_expansion_as_undecided_saying_where(capsys, spec):
    argv = ["check", spec(), "--quantity", "sum(W1**2)**4", "--budget", "100000000", "--method", "symbolic"]
    assert main(argv + ["--timeout", "0.3"]) == 1
    out = capsys.readouterr().out
    assert "UNDECIDED" in out and "timed out after 0.3 s while" in out


def test_timeout_that_does_not_fire_leaves_the_verdict_unchanged(capsys, spec):
    argv = ["check", spec(), "--quantity", BALANCE, "--json"]
    assert main(argv) == 0
    plain = capsys.readouterr().out
    assert main(argv + ["--timeout", "600"]) == 0
    timed = capsys.readouterr().out
    strip = lambda s: re.sub(r'"seconds": [\d.e-]+', "", s)
    assert strip(plain) == strip(timed) and '"verdict": "proven"' in timed


@pytest.mark.parametrize("job", [["discover", None, "--degree", "4", "--budget", "100000000"], ["prove", "all"],
                                 ["audit", "DU-10", "--quick", "--out", None]])
def test_every_job_has_a_timeout(capsys, spec, tmp_path, job):
    argv = [spec(6, 8, 4) if a is None and job[0] == "discover" else str(tmp_path / "a") if a is None else a
            for a in job]
    assert main(argv + ["--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "timed out after 0.2 s" in err and err.count("\n") == 1


def test_deadline_inside_a_longer_one_restores_it():
    with pytest.raises(JobTimeout) as outer:
        with deadline(0.5):
            with deadline(10):
                pass  # the inner limit ended without firing: the outer one is re-armed
            time.sleep(2)
    assert outer.value.seconds == 0.5
    with deadline(10):
        with pytest.raises(JobTimeout):
            with deadline(0.1):
                time.sleep(2)


@pytest.mark.parametrize("workers", [1, 2])  # inline, and armed inside the pool's worker processes
def test_verify_all_times_out_one_claim_and_the_others_go_on(tmp_path, workers):
    from verify.jobs.report import run_all
    records = run_all(out=tmp_path, ids={"DU-1", "DU-2"}, claim_timeout=0.05, workers=workers)
    assert [r.verdict for r in records] == ["undecided", "undecided"]
    assert all("timed out after 0.05 s" in r.evidence for r in records)
    control = run_all(out=tmp_path, ids={"DU-2"}, claim_timeout=600)
    assert [r.verdict for r in control] == ["proven"]


def test_timeout_option_values(capsys, spec):
    for bad in ("0", "-1", "nan", "inf", "abc", "1e9"):
        assert main(["check", spec(), "--quantity", BALANCE, "--timeout", bad]) == 2
        assert "--timeout" in capsys.readouterr().err


# --- report.md links (item 8) ----------------------------------------------------------------------
def test_report_md_links_figures_relative_to_its_folder_with_spaces_escaped(tmp_path, monkeypatch):
    from verify.jobs.report import ClaimRecord, write_report
    out = tmp_path / "my report"
    fig = out / "audits" / "DU 10 rate.png"
    fig.parent.mkdir(parents=True)
    fig.write_bytes(b"\x89PNG")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the report is read from its folder, not from where it was written
    rec = ClaimRecord("DU-10", "rate", "audit", "consistent", "e", 1.0, "details", (str(fig),))
    md = write_report([rec], out, seed=0, full=False)["md"].read_text()
    link = re.search(r"!\[DU 10 rate.png\]\(([^)]*)\)", md)
    assert link and link.group(1) == "audits/DU%2010%20rate.png"
    from urllib.parse import unquote
    assert (out / unquote(link.group(1))).exists()


def test_budget_exceeded_is_bad_input_with_its_numbers():
    exc = BudgetExceeded("x", estimate=3.0, limit=2.0)
    assert exc.estimate == 3.0 and exc.limit == 2.0 and isinstance(exc, SpecError.__mro__[1])


# --- item 6: messages stay one printable line ------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["check", "{tmp}/a\nb.toml", "--quantity", "W1"],  # a path with a line break
    ["check", "{tmp}/\x1b[31mred.toml", "--quantity", "W1"],  # an ANSI escape in a path
    ["audit", "X" * 10_000],  # a 10,000-character id
])
def test_error_lines_are_one_printable_cut_line(capsys, tmp_path, argv):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip("\n").isprintable() and len(err) <= 1100, err[:300]


def test_ansi_name_in_a_spec_is_refused_escaped(capsys, spec):
    text = 'name = "\\u001b[2Jgone"\n' + MLP.format(i=3, h=4, o=2)
    assert main(["check", spec(text=text), "--quantity", BALANCE]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b" in err
