"""Sweeps: run many independent runs in parallel local processes, resuming from disk.

A sweep is a list of :class:`Task` (a unique key, a picklable top-level function and its keyword
arguments). Each finished run is written atomically to ``runs_dir/<key>.json``. On the next call
every key whose file is already there is read back instead of recomputed, so an interrupted sweep
resumes where it stopped and a finished run is never recomputed.

Local worker processes get one BLAS thread each (see ``_one_blas_thread_per_worker``).
The pool is anything with ``submit(fn, *args, **kwargs) -> future`` and ``future.result()``: by
default a :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
(``fork`` from a process with BLAS threads can deadlock and warns on Python >= 3.12). A Dask
``distributed.Client`` has the same ``submit``/``result`` shape and can be passed as ``pool``.

References:
    ../shared/DESIGN.md, "Numerics conventions": atomic writes, interrupted sweeps resume.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from contextlib import contextmanager
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.errors import BadInput

from .results import read_json, to_jsonable, write_json_atomic

__all__ = ["Task", "SweepResult", "run_tasks", "run_file"]

_KEY = re.compile(r"^[A-Za-z0-9_.=+-]+$")


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
    """Results of a sweep, in task order, and how many were reused from disk."""

    results: tuple[dict, ...]
    keys: tuple[str, ...]
    reused: int
    computed: int

    def by_key(self) -> dict[str, dict]:
        return dict(zip(self.keys, self.results))


def run_file(runs_dir: Path, key: str) -> Path:
    """Path of the result file of run ``key``."""
    return Path(runs_dir) / f"{key}.json"


#: BLAS thread-count variables pinned to 1 in worker processes (OpenBLAS, OpenMP, MKL).
_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _one_blas_thread_per_worker():
    """Spawned workers inherit ``os.environ`` at start: give each one BLAS thread.

    N workers x N BLAS threads on N cores oversubscribes the machine; with OpenBLAS's busy-waiting
    threads we measured the DU-12 iteration 27x slower (191 ms instead of 7 ms). Variables the
    user set explicitly are left alone; the parent's environment is restored afterwards.
    """
    saved = {k: os.environ.get(k) for k in _BLAS_VARS}
    for k in _BLAS_VARS:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _call(fn, kwargs):
    return to_jsonable(dict(fn(**kwargs)))


def run_tasks(tasks: Sequence[Task], *, runs_dir: Path | None, workers: int = 1,
              progress: bool = False, desc: str = "runs", pool: Any = None) -> SweepResult:
    """Run ``tasks``, reusing results already in ``runs_dir``; write each new result atomically.

    Args:
        tasks: the runs; keys must be unique.
        runs_dir: folder for per-run JSON files; ``None`` keeps results in memory only.
        workers: local processes; 1 runs in this process (no pickling, easiest to debug).
        progress: show a tqdm bar (only when True; callers pass ``sys.stderr.isatty()``).
        desc: label of the progress bar.
        pool: an executor-like object with ``submit``; overrides ``workers``.

    Returns:
        :class:`SweepResult` in task order.

    Raises:
        BadInput: duplicate keys or ``workers < 1``.
        Any exception raised by a run (for example ``DivergenceError``) propagates; runs that
        finished before it are already on disk.
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise BadInput(f"Got duplicate task keys {dup}; every run needs its own key.")
    if workers < 1:
        raise BadInput(f"Got workers={workers}; need workers >= 1.")
    done: dict[str, dict] = {}
    if runs_dir is not None:
        for t in tasks:
            got = read_json(run_file(runs_dir, t.key))
            if isinstance(got, dict):
                done[t.key] = got
    reused = len(done)
    todo = [t for t in tasks if t.key not in done]

    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), initial=reused, desc=desc, unit="run")

    def finish(t: Task, res: dict):
        done[t.key] = res
        if runs_dir is not None:
            write_json_atomic(run_file(runs_dir, t.key), res)
        if bar is not None:
            bar.update(1)

    try:
        if pool is None and (workers == 1 or len(todo) <= 1):
            for t in todo:
                finish(t, _call(t.fn, t.kwargs))
        else:
            own = pool is None
            ex = pool if not own else ProcessPoolExecutor(
                max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"))
            try:
                with _one_blas_thread_per_worker():
                    futs = {ex.submit(_call, t.fn, t.kwargs): t for t in todo}
                pending = set(futs)
                while pending:
                    if own:
                        fin, pending = wait(pending, return_when=FIRST_COMPLETED)
                    else:  # foreign pools: collect in submission order
                        fin, pending = {next(iter(pending))}, set(list(pending)[1:])
                    for f in fin:
                        finish(futs[f], f.result())
            finally:
                if own:
                    ex.shutdown(wait=True, cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()
    return SweepResult(results=tuple(done[k] for k in keys), keys=tuple(keys), reused=reused,
                       computed=len(todo))
