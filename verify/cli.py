"""Command line: ``verify list | prove | audit``.

Exit codes: 0 success (proven / consistent), 1 refuted / undecided / inconsistent, 2 bad input.
Bad input never shows a traceback: any ``VerifyError`` becomes one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .claims import CLAIMS
from .errors import BadInput, VerifyError

__all__ = ["main"]

EXAMPLES = {
    "verify": """examples:
  verify list                       every catalog id with its kind, job and status
  verify prove DU-1                 generic + concrete proofs of Thm 2.1, with derivations
  verify prove all --json           every identity claim, machine-readable
  verify audit DU-10 --quick        measure the rank-1 linear rate with a 95% CI
  verify all --workers 2            the whole catalog -> verify-report/index.html, 2 processes
  verify all --full --scheduler tcp://10.0.0.5:8786   paper-sized sweeps on a Dask cluster
""",
    "prove": """examples:
  verify prove DU-1 DU-3            prove two claims (generic and concrete) and run their controls
  verify prove all --mode generic   only the symbolic-width proofs
  verify prove DU-6 --format markdown > du6.md
  verify prove all --scheduler tcp://10.0.0.5:8786   the proofs on a Dask cluster
""",
    "list": "examples:\n  verify list\n  verify list --json\n",
    "all": """examples:
  verify all                        quick tier of every claim -> ./verify-report/index.html
  verify all --full --out report/   paper-sized experiments
  verify all --workers 2            proofs and sweeps in 2 local processes
  verify all --full --scheduler tcp://10.0.0.5:8786
                                    sweeps on a running Dask cluster (pip install -e .[dask]);
                                    rerun the same line to resume: finished runs are read from --out
  verify all --json                 the records on stdout as well
""",
    "check": """examples:
  verify check examples/two_layer_relu_bias.toml --quantity "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"
  verify check my_net.toml --quantity "W1 @ W1.T - W2.T @ W2" --json
  verify check my_net.toml --quantity "norm(W1)**2 - norm(W2)**2" --weight-decay lambda
  verify check my_net.toml --quantity "sum(W1[i,:]**2) - sum(W2[:,i]**2)" --trajectory
""",
    "discover": """examples:
  verify discover examples/two_layer_relu_bias.toml            proven quadratic laws + certified count [lower, upper]
  verify discover examples/deep_linear_mixed.toml --count      only the upper bound (Lie-algebra rank); lower bound 0
  verify discover my_net.toml --dynamics momentum --friction 1 --json   heavy ball, laws of (t, theta, v)
  verify discover my_net.toml --dynamics nesterov              friction 3/t (Nesterov)
  verify discover my_net.toml --kind local --seed 3            the patterns reached at one theta0 only
""",
    "audit": """examples:
  verify audit DU-10 --quick        seconds; the full sweep without --quick
  verify audit DU-10 --workers 2    the full d x eps x seeds sweep in 2 local processes
  verify audit DU-10 --scheduler tcp://10.0.0.5:8786    the same sweep on a Dask cluster
  verify audit DU-12 --out results/ --seed 1
""",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + exits 2; keep it to one clear line
        raise BadInput(f"{message}. Run 'verify --help' for usage.")


def _executor_args(p: argparse.ArgumentParser, workers_default: int | None = 1,
                   workers_help: str = "local processes for proofs and sweeps (default 1: this process)") -> None:
    """--workers / --scheduler: where proofs and sweep runs execute (numerics/executor.py)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=workers_default, metavar="N", help=workers_help)
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run proofs and sweeps on a Dask cluster, e.g. tcp://10.0.0.5:8786 "
                        "(pip install -e .[dask])")


def _progress(args) -> bool:
    # Bars only for a person watching: never in logs, pipes or CI (stderr not a terminal).
    return not args.quiet and sys.stderr.isatty()


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="verify", description="Prove, property-test and audit implicit-regularization claims.",
                epilog=EXAMPLES["verify"], formatter_class=fmt)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    al = sub.add_parser("all", help="run every job over the whole catalog and write a report",
                        epilog=EXAMPLES["all"], formatter_class=fmt)
    al.add_argument("--full", action="store_true", help="paper-sized experiments (default: quick tier)")
    al.add_argument("--out", default="verify-report",
                    help="report folder; per-run files under OUT/audits/runs make a rerun resume")
    al.add_argument("--seed", type=int, default=0, help="base seed of every run (default 0)")
    _executor_args(al)
    al.add_argument("--json", action="store_true", help="also print the records as JSON")
    al.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    ls = sub.add_parser("list", help="list catalog ids", epilog=EXAMPLES["list"], formatter_class=fmt)
    ls.add_argument("--json", action="store_true")
    pr = sub.add_parser("prove", help="prove identity claims", epilog=EXAMPLES["prove"], formatter_class=fmt)
    pr.add_argument("ids", nargs="+", metavar="ID", help="catalog ids, or 'all'")
    pr.add_argument("--mode", choices=("all", "generic", "concrete"), default="all")
    pr.add_argument("--format", choices=("text", "markdown"), default="text")
    pr.add_argument("--json", action="store_true", help="machine-readable verdicts")
    pr.add_argument("--verbose", action="store_true", help="full derivations for concrete proofs too")
    _executor_args(pr, workers_default=None, workers_help="local processes (default: up to 2)")
    ck = sub.add_parser("check", help="is a quantity conserved on an architecture? (TOML spec)",
                        epilog=EXAMPLES["check"], formatter_class=fmt)
    ck.add_argument("spec", metavar="SPEC.toml")
    ck.add_argument("--quantity", required=True, help="e.g. 'sum(W1[i,:]**2) - sum(W2[:,i]**2)'")
    ck.add_argument("--dynamics", choices=("flow", "gd", "momentum"), default="flow")
    ck.add_argument("--weight-decay", default=None, metavar="LAMBDA",
                    help="a number, or 'lambda' for a symbolic weight decay")
    ck.add_argument("--budget", type=int, default=None, metavar="OPS", help="expansion budget (operations)")
    ck.add_argument("--trajectory", action="store_true", help="also measure the drift along a numeric trajectory")
    ck.add_argument("--seed", type=int, default=0)
    ck.add_argument("--json", action="store_true")
    dc = sub.add_parser("discover", help="find every polynomial conservation law and count all independent laws",
                        epilog=EXAMPLES["discover"], formatter_class=fmt)
    dc.add_argument("spec", metavar="SPEC.toml")
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
    dc.add_argument("--tries", type=int, default=4, metavar="N", help="theta0 tried by --kind generic (default 4)")
    dc.add_argument("--seed", type=int, default=0)
    dc.add_argument("--json", action="store_true")
    au = sub.add_parser("audit", help="run a GD experiment for a bound/rate/experiment claim",
                        epilog=EXAMPLES["audit"], formatter_class=fmt)
    au.add_argument("id", metavar="ID")
    au.add_argument("--quick", action="store_true", help="small instances, seconds")
    au.add_argument("--seed", type=int, default=0, help="base seed of every run (default 0)")
    au.add_argument("--out", default="audit-results",
                    help="results, figures and per-run files (OUT/runs; a rerun resumes from them)")
    _executor_args(au)
    au.add_argument("--json", action="store_true")
    au.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    return p


def _cmd_list(args) -> int:
    from .proofs import proof_summary
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
    try:
        from .numerics.audit import AUDITS
    except ImportError:
        return "audit not implemented yet"
    return "audit available" if cid in AUDITS else "audit not implemented yet"


def _cmd_prove(args) -> int:
    from .certificates import render, to_json
    from .proofs import run_tasks, tasks_for
    from .proofs.catalog import default_workers
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
    from .certificates import render, to_json
    from .checking import as_quantity, check
    from .prove import DEFAULT_BUDGET_OPS
    from .spec import load_spec
    model = load_spec(args.spec)
    wd = args.weight_decay
    if wd is not None:
        if wd == "lambda":
            wd = True
        else:
            try:
                wd = float(wd) if "/" not in wd else wd
            except ValueError:
                raise BadInput(f"--weight-decay {wd!r}: give a number or 'lambda'.") from None
    q = as_quantity(args.quantity, model)
    v = check(model, q, dynamics=args.dynamics, weight_decay=wd, seed=args.seed,
              budget_ops=args.budget or DEFAULT_BUDGET_OPS)
    traj = None
    if args.trajectory:
        if args.dynamics == "momentum" or wd:
            raise BadInput("--trajectory supports plain flow and gd; drop --weight-decay / momentum.")
        from .trajectory import flow_drift, gd_drift
        traj = (flow_drift if args.dynamics == "flow" else gd_drift)(model, q, seed=args.seed)
    if args.json:
        out = to_json(v)
        if traj:
            out["trajectory"] = traj.to_json()
        print(json.dumps(out, indent=1))
    else:
        print(render(v))
        if traj:
            print(traj.render())
    return 0 if v.verdict == "proven" else 1


def _cmd_all(args) -> int:
    from pathlib import Path

    from .report import BAD, run_all, write_report
    if args.workers < 1:
        raise BadInput(f"Got --workers {args.workers}; need >= 1.")
    t0 = time.perf_counter()
    out = Path(args.out)
    records = run_all(full=args.full, seed=args.seed, out=out, workers=args.workers,
                      scheduler=args.scheduler, progress=_progress(args))
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
    return 1 if any(r.verdict in BAD for r in records) else 0


def _cmd_discover(args) -> int:
    from .discovery import discover
    from .spec import load_spec
    model = load_spec(args.spec)
    if args.degree < 0:
        raise BadInput(f"Got --degree {args.degree}; use an integer >= 1 (or --count alone).")
    if args.friction is not None and args.dynamics != "momentum":
        raise BadInput(f"--friction applies to --dynamics momentum (got --dynamics {args.dynamics}); drop it "
                       "or add --dynamics momentum.")
    if args.tries < 1:
        raise BadInput(f"Got --tries {args.tries}; need >= 1.")
    # --count reports the upper bound alone (no law search, lower bound 0).
    degree = 0 if args.count else args.degree
    r = discover(model, degree=degree, count=True, dynamics=args.dynamics, seed=args.seed,
                 friction=args.friction if args.friction is not None else 0, kind=args.kind, tries=args.tries)
    print(r.to_json() if args.json else r.render_text())
    return 0


def _cmd_audit(args) -> int:
    from pathlib import Path

    from .claims import get_claim
    claim = get_claim(args.id)
    if claim.job != "audit":
        raise BadInput(f"{claim.id} is a {claim.kind} claim handled by 'verify {claim.job}'; "
                       f"run 'verify {claim.job} {claim.id}'.")
    try:
        from .numerics.audit import run_audit
    except ImportError:
        raise BadInput(f"The audit job for {claim.id} is not implemented in this version yet.") from None
    if args.workers < 1:
        raise BadInput(f"Got --workers {args.workers}; need >= 1.")
    report = run_audit(claim.id, quick=args.quick, seed=args.seed, out=Path(args.out), workers=args.workers,
                       scheduler=args.scheduler, progress=_progress(args))
    print(json.dumps(report.to_json(), indent=1) if args.json else report.render_text())
    return 0 if report.verdict == "consistent" else 1


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        return {"list": _cmd_list, "prove": _cmd_prove, "check": _cmd_check, "audit": _cmd_audit,
                "all": _cmd_all, "discover": _cmd_discover}[args.cmd](args)
    except VerifyError as exc:
        # One line: the first line of the message names what, where (column / file:line) and what to do.
        print(f"verify: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
