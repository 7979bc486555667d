"""The CLI's limits (issue 15): option values checked before any work (``--seed``, counts, ``--out``),
``--timeout`` on every job, ``--budget`` where a job's cost is estimated before the work
(``verify.prove.cost``), and what a timed-out job prints."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from verify.errors import BadInput, echo

__all__ = ["timeout_arg", "budget_arg", "timed_out", "check_discover_budget", "COUNT_OPS_PER_UNIT", "MAX_NET_DEGREE",
           "seed_arg", "positive_arg", "writable_folder", "MAX_DEGREE", "MAX_WORKERS"]


def seed_arg(text: str) -> int:
    """--seed: a non-negative integer (NumPy's generators refuse negative seeds)."""
    if not re.fullmatch(r"\d{1,18}", text.strip()):
        raise argparse.ArgumentTypeError(f"--seed {text[:40]!r}: give an integer >= 0")
    return int(text)


def positive_arg(flag: str, cap: int | None = None):
    def parse(text: str) -> int:
        if not re.fullmatch(r"\d{1,18}", text.strip()) or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{flag} {text[:40]!r}: give an integer >= 1")
        if cap is not None and int(text) > cap:
            raise argparse.ArgumentTypeError(f"{flag} {text}: at most {cap} here (4 x the {os.cpu_count() or 1} "
                                             "cores); more processes only contend for them")
        return int(text)
    return parse


#: Largest law degree `verify discover` searches (monomials grow as D**degree).
MAX_DEGREE = 4

#: --workers above this many processes per core only adds contention (issue 15: 1,000 were forked).
MAX_WORKERS = 4 * (os.cpu_count() or 1)


def writable_folder(path: str, flag: str = "--out"):
    """The output folder, created and probed before any work (not after 38 s of proofs)."""
    import tempfile
    from pathlib import Path
    out = Path(path)
    shown = str(out) if str(out).isprintable() else echo(str(out), 200)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{flag} {shown} is a file; give a folder (it is created if missing).")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise BadInput(f"{flag} {shown}: cannot write there ({exc.strerror}); give a writable folder.") from None
    return out


def _seconds(text: str) -> float:
    """--timeout: seconds > 0, finite, at most a week."""
    from verify._infra.deadline import MAX_TIMEOUT
    try:
        value = float(text) if re.fullmatch(r"\s*[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?\s*", text) else float("nan")
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"--timeout {text[:40]!r}: give seconds > 0 and at most {MAX_TIMEOUT:.0f}, "
                                         "e.g. --timeout 60")
    return value


def timeout_arg(p: argparse.ArgumentParser, per_claim: bool = False) -> None:
    """--timeout SECONDS (issue 15): a job over time stops as undecided and says where it was."""
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help=("per claim: a claim over time becomes an undecided row ('timed out after N s') and the "
                         "others go on" if per_claim else "wall-clock limit: over it the job stops, undecided "
                         "(exit 1), saying how far it got"))


def budget_arg(p: argparse.ArgumentParser, what: str) -> None:
    from verify.prove.cost import DEFAULT_BUDGET_OPS
    p.add_argument("--budget", type=positive_arg("--budget"), default=None, metavar="OPS",
                   help=f"largest estimated cost accepted (default {DEFAULT_BUDGET_OPS:,}): {what}; a job over it "
                        "is refused before any work, saying the estimate")


def timed_out(args, exc) -> int:
    """A job stopped by --timeout: check prints an undecided verdict, the other jobs one line."""
    from verify._infra.deadline import reached
    where = f" while {reached()}" if reached() else ""
    if args.cmd == "check":
        from verify.certificates import Undecided, render, to_json
        v = Undecided("check", f"{args.quantity[:200]} on {args.spec[:200]}", "concrete", args.dynamics,
                      f"Q = {args.quantity[:200]} is conserved", float(exc.seconds), reason=f"{exc}{where} (--timeout)")
        print(json.dumps(to_json(v), indent=1) if args.json else render(v))
    else:
        print(f"verify: {args.cmd}: {exc}{where} (--timeout {exc.seconds:g}); undecided: raise --timeout or "
              "ask for less", file=sys.stderr)
    return 1


def check_discover_budget(model, args) -> None:
    """Refuse a law search or count over budget before any work (``verify.prove.cost``)."""
    from verify.errors import BadInput
    from verify.laws.lie_rank import check_supported, net_degree
    from verify.prove.cost import DEFAULT_BUDGET_OPS, check_budget, forward_ops, law_search_size, symbol_count
    budget = args.budget or DEFAULT_BUDGET_OPS
    check_supported(model)  # its own one-line refusal first: net_degree needs homogeneous activations
    if net_degree(model) > MAX_NET_DEGREE:
        # the law search and the count evaluate the net in float64 jets: x**degree overflows far sooner
        raise BadInput(f"the network {model.name!r} has polynomial degree {net_degree(model)} in its parameters, "
                       f"above the cap {MAX_NET_DEGREE} of discover; use fewer layers or a lower relu_power k.")
    fwd = forward_ops(model) * POINTS_PER_BATCH
    check_budget(f"evaluating {model.name!r} for discover ({POINTS_PER_BATCH} points a batch)", fwd, budget,
                 f"use a smaller model, or raise --budget to {fwd:.2g}")
    if not args.count:
        check_budget(f"the degree-{args.degree} law search on {model.name!r} (monomials in D = {symbol_count(model)} "
                     "parameters)", law_search_size(model, args.degree), budget,
                     f"use --degree {max(args.degree - 1, 1)}, --count alone, a smaller model, or raise --budget")
    count = symbol_count(model) ** 3 / COUNT_OPS_PER_UNIT
    check_budget(f"the law count on {model.name!r} (rank of D x D matrices mod p, D = {symbol_count(model)})",
                 count, budget, f"use a smaller model, or raise --budget to {count:.2g}")


#: Largest polynomial degree of the network in its parameters that discover accepts.
MAX_NET_DEGREE = 64
#: Points of one batch of discover's evaluations (a size unit of its budget, not a setting).
POINTS_PER_BATCH = 16

#: The law count's rank computations are NumPy-vectorised: about this many multiply-adds mod p per
#: budget operation (measured: D = 2,000 parameters counted in 5.4 s, D = 500 in 0.9 s).
COUNT_OPS_PER_UNIT = 4096
