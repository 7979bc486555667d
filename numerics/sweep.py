"""Sweeps: run many independent runs on one executor, resuming from disk.

A sweep is a list of :class:`Task` (a unique key, a picklable top-level function and its keyword
arguments). Each finished run is written atomically to ``runs_dir/<key>.json`` by *this* process
(never by a worker), as soon as it finishes. On the next call a key whose file is already there is
read back instead of recomputed, so an interrupted sweep resumes where it stopped.

A stored run is reused only when it is provably the run asked for (issue 15): the file records the
schema version, the run function and every keyword argument (the seeds among them), and a SHA-256
digest of all of it with the result. A file from another seed, other parameters, another run
function or an older schema, a file edited by hand (numbers, NaN, a missing key), or any file that
does not parse, is recomputed and overwritten, and the sweep says so on stderr in one line.

Where the runs execute (this process, local processes, Dask) is ``verify._infra.pools``. Local
processes and Dask give bit-identical run results for the same seeds: a run's result depends only
on its keyword arguments (every stochastic run takes its own ``seed``) and on the BLAS thread
count, which is one in both. Inline runs use this process's BLAS threads (1.7x faster for DU-12's
paper-sized products on 2 cores); a matrix product summed by another number of threads can differ in
the last bits (seen: JT-4's control, 4e-10 relative), never in a verdict (tests/test_report.py).

References:
    ../shared/DESIGN.md, "Numerics conventions": atomic writes, interrupted sweeps resume.
    Issue 8: sweeps that scale out on Dask. Issue 15: run files keyed by what determines them.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify._infra.atomic import clean_stale_temps, read_json, to_jsonable, write_json_atomic
from verify._infra.pools import as_completed, local_processes, pool_slots
from verify.errors import BadInput

__all__ = ["Task", "SweepResult", "run_tasks", "run_file", "RUN_SCHEMA", "run_record", "check_run_record"]

_KEY = re.compile(r"^[A-Za-z0-9_.=+-]+$")

#: Version of the run-file format and of the meaning of run results. Raise it when a run
#: function's output changes for the same keyword arguments: every stored run is then recomputed.
RUN_SCHEMA = 2


@dataclass(frozen=True)
class Task:
    """One run of a sweep.

    Attributes:
        key: unique, filename-safe id of the run (letters, digits, ``_ . = + -``); it names the
            result file, so it must encode every parameter that changes the result.
        fn: a top-level (picklable) function returning a JSON-able dict.
        kwargs: its keyword arguments (picklable).
    """

    key: str
    fn: Callable[..., Mapping[str, Any]]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not _KEY.match(self.key):
            raise BadInput(f"Got task key {self.key!r}; keys may use letters, digits and _ . = + - "
                           "only, because they name files.")


@dataclass(frozen=True)
class SweepResult:
    """Results of a sweep, in task order, how many were reused from disk, and which stored runs
    were refused (``(key, reason)``: they were recomputed)."""

    results: tuple[dict, ...]
    keys: tuple[str, ...]
    reused: int
    computed: int
    refused: tuple[tuple[str, str], ...] = ()

    def by_key(self) -> dict[str, dict]:
        return dict(zip(self.keys, self.results))


def run_file(runs_dir: Path, key: str) -> Path:
    """Path of the result file of run ``key``."""
    return Path(runs_dir) / f"{key}.json"


def _fn_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def run_record(task: Task, result: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON record of a finished run: what determines it, its result, and their digest."""
    body = {"schema": RUN_SCHEMA, "key": task.key, "fn": _fn_name(task.fn),
            "params": to_jsonable(dict(task.kwargs)), "result": to_jsonable(dict(result))}
    return {**body, "sha256": _digest(body)}


def check_run_record(task: Task, record: Any) -> tuple[dict | None, str]:
    """``(result, "")`` when ``record`` is this task's run, intact; else ``(None, reason)``."""
    if not isinstance(record, dict) or not {"schema", "key", "fn", "params", "result", "sha256"} <= set(record):
        return None, "not a run record"
    if record["schema"] != RUN_SCHEMA:
        return None, f"schema {record['schema']!r}, now {RUN_SCHEMA}"
    body = {k: record[k] for k in ("schema", "key", "fn", "params", "result")}
    try:
        intact = record["sha256"] == _digest(body)
    except (TypeError, ValueError):  # NaN or an unserialisable value written in by hand
        intact = False
    if not intact:
        return None, "contents do not match their digest (edited or damaged)"
    if record["key"] != task.key or record["fn"] != _fn_name(task.fn):
        return None, f"it is the run {record['key']} of {record['fn']}"
    asked = to_jsonable(dict(task.kwargs))
    if not isinstance(record["params"], dict):
        return None, "parameters are not an object"
    if record["params"] != asked:
        diff = sorted(k for k in set(asked) | set(record["params"]) if asked.get(k) != record["params"].get(k))
        return None, "parameters differ: " + ", ".join(diff)
    if not isinstance(record["result"], dict):
        return None, "result is not an object"
    return record["result"], ""


def _call(fn, kwargs):
    return to_jsonable(dict(fn(**kwargs)))


def _call_many(jobs):
    """Run several ``(fn, kwargs)`` in one submission; stop at the first error.

    Returns ``(results, error)``: the results of the runs that finished (so the caller can still
    write them to disk) and the exception of the run that failed, or ``None``.
    """
    out = []
    for fn, kwargs in jobs:
        try:
            out.append(_call(fn, kwargs))
        except Exception as exc:  # handed back, re-raised by the caller after saving `out`
            return out, exc
    return out, None


#: Runs are sent to an executor in chunks, about this many per worker slot. One submission costs
#: ~1 ms with local processes and ~5-10 ms with Dask (scheduler round trip), comparable to a
#: whole DU-10 run (~10 ms): one run per submission made the 280-run DU-10 sweep slower on Dask
#: than in one process (benchmarks/bench_executor.py). 8 per slot still balances uneven runs and
#: gives the progress bar and the resume files a fine enough grain.
CHUNKS_PER_SLOT = 8


def _chunks(todo: Sequence[Task], slots: int) -> list[list[Task]]:
    n = min(len(todo), CHUNKS_PER_SLOT * slots)
    # Strided, not contiguous: sweeps list their runs by size, so neighbours cost alike and a
    # contiguous chunk of the largest runs would finish last.
    return [list(todo[i::n]) for i in range(n)]


def run_tasks(tasks: Sequence[Task], *, runs_dir: Path | None, workers: int = 1,
              progress: bool = False, desc: str = "runs", pool: Any = None) -> SweepResult:
    """Run ``tasks``, reusing results already in ``runs_dir``; write each new result atomically.

    Args:
        tasks: the runs; keys must be unique.
        runs_dir: folder for per-run JSON files; ``None`` keeps results in memory only. A stored
            file is reused only if :func:`check_run_record` accepts it for its task.
        workers: local processes for this call alone when no ``pool`` is given; 1 runs in this
            process.
        progress: show a tqdm bar: ``desc``, runs done / total (reused runs count as done), rate
            and time left. Only when True; callers pass ``not quiet and sys.stderr.isatty()``.
        desc: label of the progress bar; name the claim in it (``"DU-10 sweep"``).
        pool: an executor from :func:`open_pool` (or anything with ``submit``); overrides
            ``workers``. It is not shut down here: one pool serves every sweep of a command.

    Returns:
        :class:`SweepResult` in task order.

    Raises:
        BadInput: duplicate keys or ``workers < 1``.
        Exception: whatever a run raises (for example ``DivergenceError``) propagates; the runs
            not yet started are cancelled and those that finished before it are already on disk.
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise BadInput(f"Got duplicate task keys {dup}; every run needs its own key.")
    if workers < 1:
        raise BadInput(f"Got workers={workers}; need workers >= 1.")
    done: dict[str, dict] = {}
    refused: list[tuple[str, str]] = []
    if runs_dir is not None:
        clean_stale_temps(Path(runs_dir))
        for t in tasks:
            path = run_file(runs_dir, t.key)
            if not path.exists():
                continue
            got, why = check_run_record(t, read_json(path))
            if got is None:
                refused.append((t.key, why))
            else:
                done[t.key] = got
    if refused:
        key, why = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        print(f"{desc}: {len(refused)} stored run(s) in {runs_dir} not reused, recomputing: "
              f"{key}: {why}{more}", file=sys.stderr)
    reused = len(done)
    todo = [t for t in tasks if t.key not in done]

    bar = None
    if progress and todo:
        from tqdm import tqdm
        # tqdm's rate (and so its time estimate) counts only runs done after `initial`: reused
        # runs do not make the estimate optimistic.
        bar = tqdm(total=len(tasks), initial=reused, desc=desc, unit="run", leave=False)

    def finish(t: Task, res: dict):
        done[t.key] = res
        if runs_dir is not None:
            write_json_atomic(run_file(runs_dir, t.key), run_record(t, res))
        if bar is not None:
            bar.update(1)

    try:
        if pool is None and (workers == 1 or len(todo) <= 1):
            for t in todo:
                finish(t, _call(t.fn, t.kwargs))
        else:
            own = pool is None
            ex = local_processes(min(workers, len(todo))) if own else pool
            futs = {}
            try:
                for chunk in _chunks(todo, pool_slots(ex)):
                    futs[ex.submit(_call_many, [(t.fn, t.kwargs) for t in chunk])] = chunk
                for f in as_completed(list(futs)):
                    results, error = f.result()
                    for t, res in zip(futs[f], results):
                        finish(t, res)
                    if error is not None:
                        raise error
            except BaseException:
                for f in futs:  # a shared pool keeps serving other sweeps: drop only ours
                    f.cancel()
                raise
            finally:
                if own:
                    ex.shutdown()
    finally:
        if bar is not None:
            bar.close()
    return SweepResult(results=tuple(done[k] for k in keys), keys=tuple(keys), reused=reused,
                       computed=len(todo), refused=tuple(refused))
