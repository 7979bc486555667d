"""Command line: ``verify list | prove | audit``.

Exit codes: 0 success (proven / consistent), 1 refuted / undecided / inconsistent, 2 bad input.
Bad input never shows a traceback: any ``VerifyError`` becomes one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import json
import sys
import time

from verify.claims import CLAIMS
from verify.errors import BadInput, VerifyError, one_line

from verify.jobs.cli_examples import EXAMPLES
from verify.jobs.cli_limits import MAX_DEGREE, MAX_WORKERS, budget_arg as _budget_arg, \
    check_discover_budget as _check_discover_budget, positive_arg as _positive, seed_arg as _seed, \
    timed_out as _timed_out, timeout_arg as _timeout_arg, writable_folder as _writable_folder

__all__ = ["main", "DISTRIBUTION", "EXAMPLES"]

#: The distribution name on the package index (``pip install verify-implicit-reg``); the import
#: name and the command stay ``verify`` ("verify" on the index is an unrelated project).
DISTRIBUTION = "verify-implicit-reg"



_MODULE_HELP = ("a TOML spec, or path/to/model.py:ClassName for a PyTorch module (pip install -e '.[torch]'); "
                "that form IMPORTS AND RUNS the given Python file, then builds ClassName() with no arguments")
_SHAPE_HELP = "with model.py:ClassName: the example input's shape, batch first, e.g. 4,3 (random float64 data)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + exits 2; keep it to one clear line
        raise BadInput(f"{message}. Run 'verify --help' for usage.")


def _executor_args(p: argparse.ArgumentParser, workers_default: int | None = 1,
                   workers_help: str = "local processes for proofs and sweeps (default 1: this process)") -> None:
    """--workers / --scheduler: where proofs and sweep runs execute (numerics/sweep.py)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive("--workers", MAX_WORKERS), default=workers_default, metavar="N", help=workers_help)
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run proofs and sweeps on a Dask cluster, e.g. tcp://10.0.0.5:8786 "
                        "(pip install -e .[dask])")


def _progress(args) -> bool:
    # Bars only for a person watching: never in logs, pipes or CI (stderr not a terminal).
    return not args.quiet and sys.stderr.isatty()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="verify", description="Prove, property-test and audit implicit-regularization claims.",
                epilog=EXAMPLES["verify"], formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"{DISTRIBUTION} {_version()}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    al = sub.add_parser("all", help="run every job over the whole catalog and write a report",
                        epilog=EXAMPLES["all"], formatter_class=fmt)
    al.add_argument("--full", action="store_true", help="paper-sized experiments (default: quick tier)")
    al.add_argument("--out", default="verify-report",
                    help="report folder; per-run files under OUT/audits/runs make a rerun resume")
    al.add_argument("--seed", type=_seed, default=0, help="base seed of every run (default 0)")
    _executor_args(al)
    al.add_argument("--json", action="store_true", help="also print the records as JSON")
    al.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    _timeout_arg(al, per_claim=True)
    ls = sub.add_parser("list", help="list catalog ids", epilog=EXAMPLES["list"], formatter_class=fmt)
    ls.add_argument("--json", action="store_true")
    pr = sub.add_parser("prove", help="prove identity claims", epilog=EXAMPLES["prove"], formatter_class=fmt)
    pr.add_argument("ids", nargs="+", metavar="ID", help="catalog ids, or 'all'")
    pr.add_argument("--mode", choices=("all", "generic", "concrete"), default="all")
    pr.add_argument("--format", choices=("text", "markdown"), default="text")
    pr.add_argument("--json", action="store_true", help="machine-readable verdicts")
    pr.add_argument("--verbose", action="store_true", help="full derivations for concrete proofs too")
    _executor_args(pr, workers_default=None, workers_help="local processes (default: up to 2)")
    _timeout_arg(pr)
    ck = sub.add_parser("check", help="is a quantity conserved on an architecture? (TOML spec)",
                        epilog=EXAMPLES["check"], formatter_class=fmt)
    ck.add_argument("spec", metavar="SPEC.toml", help=_MODULE_HELP)
    ck.add_argument("--quantity", required=True, help="e.g. 'sum(W1[i,:]**2) - sum(W2[:,i]**2)'")
    ck.add_argument("--dynamics", choices=("flow", "gd", "momentum"), default="flow")
    ck.add_argument("--increment", default=None, metavar="EXPR",
                    help="with --dynamics gd: the claimed exact change of Q in one step (default 0), in the "
                         "quantity language plus G_<param> (the loss gradient dL/d<param>, e.g. G_W1) and eta "
                         "(the step), e.g. 'eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)'; proven over a batch of "
                         ">= 2 points, the certificate says which batches it covers")
    ck.add_argument("--weight-decay", default=None, metavar="LAMBDA",
                    help="a number, or 'lambda' for a symbolic weight decay")
    _budget_arg(ck, "the expanded residual (symbolic route) or the exact passes (randomized route)")
    _timeout_arg(ck)
    ck.add_argument("--method", choices=("auto", "symbolic", "randomized"), default="auto",
                    help="symbolic: expand the residual in SymPy (proven); randomized: exact evaluation at random "
                         "points of a prime field (proven (randomized), with its error probability); auto (default): "
                         "symbolic for small models, randomized above")
    ck.add_argument("--points", type=_positive("--points"), default=None, metavar="K",
                    help="points of the randomized test (default 2; the error bound is eps**K)")
    ck.add_argument("--generic", action="store_true",
                    help="prove the quantity for every width and any depth (symbolic widths; the layers below enter "
                         "through their output, the layers above through the gradient from above); where no generic "
                         "rule applies, say why and give the concrete verdict. Without it, a proven concrete check "
                         "also tries the generic proof and reports it in one line")
    ck.add_argument("--trajectory", action="store_true", help="also measure the drift along a numeric trajectory")
    ck.add_argument("--seed", type=_seed, default=0)
    ck.add_argument("--json", action="store_true")
    ck.add_argument("--input-shape", default=None, metavar="B,...", help=_SHAPE_HELP)
    dc = sub.add_parser("discover", help="find every polynomial conservation law and count all independent laws",
                        epilog=EXAMPLES["discover"], formatter_class=fmt)
    dc.add_argument("spec", metavar="SPEC.toml", help=_MODULE_HELP)
    dc.add_argument("--input-shape", default=None, metavar="B,...", help=_SHAPE_HELP)
    dc.add_argument("--degree", type=int, default=2, help="largest polynomial degree searched (default 2)")
    dc.add_argument("--count", action="store_true",
                    help="only the upper bound on the number of laws (skip the law search: lower bound 0)")
    dc.add_argument("--dynamics", choices=("flow", "momentum", "nesterov"), default="flow",
                    help="gradient flow, heavy-ball momentum (with --friction) or Nesterov's friction 3/t")
    dc.add_argument("--friction", default=None, metavar="TAU",
                    help="heavy-ball friction tau >= 0 for --dynamics momentum (default 0), e.g. 1 or 1/2")
    dc.add_argument("--kind", choices=("generic", "local", "paths"), default="generic",
                    help="ReLU-type nets: smallest bound over several theta0 (default), the patterns reached at "
                         "one theta0, or every path active")
    dc.add_argument("--tries", type=_positive("--tries", 64), default=4, metavar="N", help="theta0 tried by --kind generic (default 4)")
    dc.add_argument("--seed", type=_seed, default=0)
    dc.add_argument("--json", action="store_true")
    _budget_arg(dc, "the monomials of the law search and the count's rank work")
    _timeout_arg(dc)
    au = sub.add_parser("audit", help="run a GD experiment for a bound/rate/experiment claim",
                        epilog=EXAMPLES["audit"], formatter_class=fmt)
    au.add_argument("id", metavar="ID")
    au.add_argument("--quick", action="store_true", help="small instances, seconds")
    au.add_argument("--seed", type=_seed, default=0, help="base seed of every run (default 0)")
    au.add_argument("--out", default="audit-results",
                    help="results, figures and per-run files (OUT/runs; a rerun resumes from them)")
    _executor_args(au)
    au.add_argument("--json", action="store_true")
    au.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    _timeout_arg(au)
    return p


def _cmd_list(args) -> int:
    from verify.proofs import proof_summary
    rows = []
    for c in CLAIMS.values():
        if c.job == "proof":
            status = proof_summary(c.id)
        elif c.job == "audit":
            status = _audit_status(c.id)
        else:
            status = "note: nothing to run"
        rows.append({"id": c.id, "kind": c.kind, "job": c.job, "status": status,
                     "catalog": c.in_catalog, "source": c.source})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'id':8s} {'kind':11s} {'job':6s} status")
    for r in rows:
        extra = "" if r["catalog"] else "  (toolkit extension, not in CLAIMS.md)"
        print(f"{r['id']:8s} {r['kind']:11s} {r['job']:6s} {r['status']}{extra}")
    return 0


def _audit_status(cid: str) -> str:
    from verify.claims import CLAIMS
    return "audit available" if CLAIMS[cid].audit else "no audit"


def _cmd_prove(args) -> int:
    from verify.certificates import render, to_json
    from verify.proofs import run_tasks, tasks_for
    from verify.proofs.catalog import default_workers
    t0 = time.perf_counter()
    tasks = tasks_for(args.ids, args.mode)
    if not tasks:
        raise BadInput(f"No {args.mode} proofs registered for {' '.join(args.ids)}; try --mode all.")
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"Got --workers {args.workers}; need >= 1.")
    verdicts = run_tasks(tasks, args.workers if args.workers is not None else default_workers(),
                         scheduler=args.scheduler)
    good = [v.verdict == t.expect for t, v in zip(tasks, verdicts)]
    if args.json:
        print(json.dumps([{"task": t.key, "expect": t.expect, "as_expected": ok, **to_json(v)}
                          for t, v, ok in zip(tasks, verdicts, good)], indent=1))
    else:
        current = None
        for t, v, ok in zip(tasks, verdicts, good):
            if t.claim_id != current:
                current = t.claim_id
                print(f"\n{'## ' if args.format == 'markdown' else '== '}{current}: {CLAIMS[current].statement}")
            tag = "" if ok else f"   <-- expected {t.expect.upper()}"
            if t.mode == "generic" or t.expect != "proven" or args.verbose or not ok:
                label = "negative control, " if t.expect != "proven" else ""
                print(("" if args.format == "markdown" else "- ") + label + render(v, args.format) + tag)
            else:
                print(f"- {t.claim_id} [concrete, {v.dynamics}] {t.name}: {v.verdict.upper()} ({v.seconds:.2f} s){tag}")
        n_ok = sum(good)
        print(f"\n{n_ok}/{len(tasks)} as expected "
              f"({sum(t.expect == 'proven' for t in tasks)} proofs, {sum(t.expect != 'proven' for t in tasks)} "
              f"negative controls) in {time.perf_counter() - t0:.1f} s")
    return 0 if all(good) else 1


def _cmd_check(args) -> int:
    from verify.certificates import render, to_json
    from verify.testing.checking import as_quantity, check
    from verify.prove.concrete import DEFAULT_BUDGET_OPS
    from verify.lang.spec import load_spec
    wd = args.weight_decay
    if wd is not None:
        if wd == "lambda":
            wd = True
        else:
            from verify._infra.exact import exact_rational
            wd = exact_rational(wd, "--weight-decay", "0.01")  # exact: no inf, NaN or 1/0
    if _module_ref(args.spec):
        if args.generic:
            raise BadInput("--generic reads a TOML spec; a PyTorch module (model.py:ClassName) is checked at its own "
                           "sizes only. Write the architecture as a spec, or drop --generic.")
        from verify.torch.cli_hook import run_check
        return run_check(args, wd)
    model = load_spec(args.spec)
    q = as_quantity(args.quantity, model)
    if args.increment is not None and args.dynamics != "gd":
        raise BadInput(f"--increment is the change of Q in one GD step; add --dynamics gd (got --dynamics {args.dynamics}).")
    v = check(model, q, dynamics=args.dynamics, weight_decay=wd, seed=args.seed,
              budget_ops=args.budget or DEFAULT_BUDGET_OPS, increment=args.increment,
              method=args.method, points=args.points, mode="generic" if args.generic else "concrete")
    generic = None
    if not args.generic and v.verdict in ("proven", "proven (randomized)"):
        from verify.testing.generic_check import generic_proof
        generic = generic_proof(model, args.quantity, dynamics=args.dynamics, weight_decay=wd,
                                increment=args.increment)
    traj = None
    if args.trajectory:
        if args.dynamics == "momentum" or wd:
            raise BadInput("--trajectory supports plain flow and gd; drop --weight-decay / momentum.")
        from verify.prove.trajectory import flow_drift, gd_drift
        traj = (flow_drift if args.dynamics == "flow" else gd_drift)(model, q, seed=args.seed)
    if args.json:
        out = to_json(v)
        if traj:
            out["trajectory"] = traj.to_json()
        if generic is not None:
            out["generic"] = to_json(generic.verdict) if generic.proven else {"reason": generic.reason}  # type: ignore[arg-type]
        print(json.dumps(out, indent=1))
    else:
        print(render(v))
        if generic is not None:
            from verify.testing.generic_check import summary
            print(summary(generic))
        if traj:
            print(traj.render())
    from verify.certificates import exit_code
    return exit_code([v.verdict])


def _module_ref(arg: str) -> bool:
    """'path/to/model.py:ClassName' (the PyTorch route, verify.torch) rather than a TOML spec."""
    path, sep, cls = arg.rpartition(":")
    return bool(sep) and path.endswith(".py") and bool(cls)


def _cmd_all(args) -> int:
    from verify.certificates import exit_code
    from verify.jobs.report import run_all, write_report
    if args.workers < 1:
        raise BadInput(f"Got --workers {args.workers}; need >= 1.")
    t0 = time.perf_counter()
    out = _writable_folder(args.out)
    records = run_all(full=args.full, seed=args.seed, out=out, workers=args.workers,
                      scheduler=args.scheduler, progress=_progress(args), claim_timeout=args.timeout)
    where = (f"Dask scheduler {args.scheduler}" if args.scheduler else
             f"{args.workers} local processes" if args.workers > 1 else "this process")
    paths = write_report(records, out, seed=args.seed, full=args.full, executor=where)
    if args.json:
        from dataclasses import asdict
        print(json.dumps([asdict(r) for r in records], indent=1, default=str))
    else:
        for r in records:
            # "not run" rows show their reason in the evidence column, so the columns stay aligned.
            evidence = r.evidence if r.verdict != "not run" else f"reason: {r.reason}"
            print(f"{r.id:8s} {r.kind:11s} {r.verdict:13s} {r.seconds:7.2f} s  {evidence[:110]}")
        order = ("proven", "consistent", "undecided", "not run", "divergent", "refuted", "inconsistent")
        seen = sorted({r.verdict for r in records}, key=lambda v: order.index(v) if v in order else len(order))
        counts = ", ".join(f"{sum(r.verdict == v for r in records)} {v}" for v in seen)
        print(f"\n{len(records)} claims: {counts}; {time.perf_counter() - t0:.1f} s; report: {paths['html']}")
    return exit_code(r.verdict for r in records)


def _cmd_discover(args) -> int:
    from verify.laws.discovery import discover
    from verify.lang.spec import load_spec
    if _module_ref(args.spec):
        from verify.torch.cli_hook import run_discover
        return run_discover(args)
    model = load_spec(args.spec)
    if args.degree < 0 or args.degree > MAX_DEGREE:
        # the search space grows as D**degree monomials: degree 99 exhausted 7.9 GB (issue 15)
        raise BadInput(f"Got --degree {args.degree}; use an integer from 1 to {MAX_DEGREE} (or --count alone "
                       "for the count without a law search).")
    if args.friction is not None and args.dynamics != "momentum":
        raise BadInput(f"--friction applies to --dynamics momentum (got --dynamics {args.dynamics}); drop it "
                       "or add --dynamics momentum.")
    if args.tries < 1:
        raise BadInput(f"Got --tries {args.tries}; need >= 1.")
    _check_discover_budget(model, args)
    # --count reports the upper bound alone (no law search, lower bound 0).
    degree = 0 if args.count else args.degree
    r = discover(model, degree=degree, count=True, dynamics=args.dynamics, seed=args.seed,
                 friction=args.friction if args.friction is not None else 0, kind=args.kind, tries=args.tries)
    print(r.to_json() if args.json else r.render_text())
    return 0


def _cmd_audit(args) -> int:
    from verify.claims import get_claim, require_job
    from verify.numerics.run import run_audit
    claim = get_claim(args.id)
    if claim.audit is None:
        require_job(claim, "audit")
    if args.workers < 1:
        raise BadInput(f"Got --workers {args.workers}; need >= 1.")
    report = run_audit(claim.id, quick=args.quick, seed=args.seed, out=_writable_folder(args.out), workers=args.workers,
                       scheduler=args.scheduler, progress=_progress(args))
    print(json.dumps(report.to_json(), indent=1) if args.json else report.render_text())
    return 0 if report.verdict == "consistent" else 1


def main(argv=None) -> int:
    from verify.errors import JobTimeout
    from verify._infra.deadline import deadline
    args = None
    try:
        args = _parser().parse_args(argv)
        job = {"list": _cmd_list, "prove": _cmd_prove, "check": _cmd_check, "audit": _cmd_audit,
               "all": _cmd_all, "discover": _cmd_discover}[args.cmd]
        # verify all's --timeout is per claim (verify.jobs.report.run_all); every other job's is its own
        with deadline(getattr(args, "timeout", None) if args.cmd != "all" else None):
            return job(args)
    except JobTimeout as exc:
        return _timed_out(args, exc)
    except VerifyError as exc:
        # One line: the first line of the message names what, where (column / file:line) and what to do.
        print(f"verify: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (head, less) closed the pipe: nothing more to say, and no traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
