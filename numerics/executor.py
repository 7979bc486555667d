"""Sweeps: run many independent runs on one executor, resuming from disk.

A sweep is a list of :class:`Task` (a unique key, a picklable top-level function and its keyword
arguments). Each finished run is written atomically to ``runs_dir/<key>.json`` by *this* process
(never by a worker), as soon as it finishes. On the next call every key whose file is already there
is read back instead of recomputed, so an interrupted sweep resumes where it stopped and a finished
run is never recomputed, whatever executed it.

The executor ("pool") is chosen in one place, :func:`open_pool`:

* ``workers=1``: no pool, runs execute in this process (no pickling, easiest to debug);
* ``workers=N``: N local processes started with ``spawn`` (``fork`` from a process with BLAS
  threads can deadlock and warns on Python >= 3.12), one BLAS thread each
  (see ``_one_blas_thread_per_worker``);
* ``scheduler=ADDRESS``: a Dask ``distributed.Client`` connected to a running scheduler (optional
  extra: ``pip install -e .[dask]``). Dask's nanny already starts workers with one BLAS thread
  (``distributed.nanny.pre-spawn-environ``).

Local processes and Dask give bit-identical run results for the same seeds: a run's result depends
only on its keyword arguments (every stochastic run takes its own ``seed``) and on the BLAS thread
count, which is one in both. Inline runs use this process's BLAS threads (1.7x faster for DU-12's
paper-sized products on 2 cores); a matrix product summed by another number of threads can differ in
the last bits (seen: JT-4's control, 4e-10 relative), never in a verdict (tests/test_report.py).

References:
    ../shared/DESIGN.md, "Numerics conventions": atomic writes, interrupted sweeps resume.
    Issue 8: sweeps that scale out on Dask.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.errors import BadInput

from .results import read_json, to_jsonable, write_json_atomic

__all__ = ["Task", "SweepResult", "run_tasks", "run_file", "open_pool", "describe_pool", "pool_slots",
           "CONNECT_TIMEOUT_S"]

_KEY = re.compile(r"^[A-Za-z0-9_.=+-]+$")

#: Seconds to wait for a Dask scheduler before giving up with a one-line error. Dask's own default
#: (``distributed.comm.timeouts.connect``, 30 s) is long for a typo in an address.
CONNECT_TIMEOUT_S = 10.0


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


class _LocalProcesses:
    """N ``spawn`` processes with one BLAS thread each.

    ``ProcessPoolExecutor`` starts ``spawn`` workers lazily, inside ``submit``, so the BLAS
    variables are set around every ``submit`` (not only around the constructor).
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._ex = cf.ProcessPoolExecutor(max_workers=workers,
                                          mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, *args, **kwargs) -> cf.Future:
        with _one_blas_thread_per_worker():
            return self._ex.submit(fn, *args, **kwargs)

    def shutdown(self):
        self._ex.shutdown(wait=True, cancel_futures=True)


class _DaskPool:
    """A ``distributed.Client`` seen through the same ``submit`` as the local pool.

    ``pure=False``: Dask would otherwise key tasks by a hash of their arguments and could hand back
    a result held in cluster memory from an earlier submission; here every submission is computed,
    and only the on-disk files decide what is reused (one resume rule for every executor).
    """

    def __init__(self, client, address: str):
        self.client = client
        self.address = address

    def submit(self, fn, *args, **kwargs):
        return self.client.submit(fn, *args, pure=False, key=f"verify-run-{uuid.uuid4().hex}", **kwargs)

    def shutdown(self):
        self.client.close()


def _connect_dask(address: str, timeout: float):
    try:
        from distributed import Client
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        raise BadInput(f"--scheduler {address} needs Dask, which is not installed; run "
                       "pip install -e .[dask] (or pip install 'dask[distributed]').") from None
    try:
        scheme, loc = parse_address(address)
        host, port = parse_host_port(loc) if scheme in ("tcp", "tls") else (None, None)
    except ValueError as exc:
        raise BadInput(f"Got --scheduler {address!r}: {exc}; give the scheduler's address as "
                       "printed by 'dask scheduler', e.g. tcp://10.0.0.5:8786.") from None
    if host is not None:
        # Probe the port first: a refused or unreachable scheduler gets one clear line instead of
        # Dask's retry loop and the noise a half-built Client prints when it is collected.
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            raise BadInput(f"Cannot reach a Dask scheduler at {address} ({exc}); start one with "
                           "'dask scheduler' and check host and port (default 8786).") from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise BadInput(f"Could not connect to the Dask scheduler at {address} ({exc}); check that "
                       "it is a Dask scheduler and that this machine may connect.") from None
    return _DaskPool(client, address)


@contextmanager
def open_pool(*, workers: int | None = 1, scheduler: str | None = None,
              timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """The executor that every sweep of one command shares.

    Args:
        workers: local processes; 1 (or None) runs everything in this process. Ignored with
            ``scheduler``; giving both is an error.
        scheduler: address of a running Dask scheduler (``tcp://host:8786``); its workers must
            have this package installed (they import the run functions by name).
        timeout: seconds to wait for the scheduler.

    Yields:
        ``None`` (run inline), or an object with ``submit(fn, *args) -> future`` whose futures
        have ``result()`` and ``cancel()``. Pass it to :func:`run_tasks` as ``pool``.

    Raises:
        BadInput: ``workers < 1``; both ``workers > 1`` and ``scheduler``; Dask missing; a bad
            or unreachable scheduler address.
    """
    if workers is not None and workers < 1:
        raise BadInput(f"Got workers={workers}; need workers >= 1.")
    if scheduler is not None:
        if workers not in (None, 1):
            raise BadInput(f"Got both --workers {workers} and --scheduler {scheduler}; use --workers "
                           "for local processes or --scheduler for a Dask cluster, not both.")
        pool = _connect_dask(scheduler, timeout)
    elif workers in (None, 1):
        yield None
        return
    else:
        pool = _LocalProcesses(workers)
    try:
        yield pool
    finally:
        pool.shutdown()


def describe_pool(pool: Any) -> str:
    """One line saying where the runs execute (for reports and headers)."""
    if pool is None:
        return "this process"
    if isinstance(pool, _LocalProcesses):
        return f"{pool.workers} local processes"
    if isinstance(pool, _DaskPool):
        return f"Dask scheduler {pool.address}"
    return type(pool).__name__


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


def pool_slots(pool: Any) -> int:
    """How many jobs the executor runs at once (worker processes or Dask threads; 1 inline)."""
    if isinstance(pool, _LocalProcesses):
        return pool.workers
    if isinstance(pool, _DaskPool):
        return max(1, sum(pool.client.nthreads().values()))
    return 1


def _chunks(todo: Sequence[Task], slots: int) -> list[list[Task]]:
    n = min(len(todo), CHUNKS_PER_SLOT * slots)
    # Strided, not contiguous: sweeps list their runs by size, so neighbours cost alike and a
    # contiguous chunk of the largest runs would finish last.
    return [list(todo[i::n]) for i in range(n)]


def _as_completed(futures: Sequence[Any]) -> Iterator[Any]:
    """Futures in completion order, for local (concurrent.futures) and Dask futures alike."""
    if all(isinstance(f, cf.Future) for f in futures):
        return cf.as_completed(futures)
    from distributed import as_completed
    # The client is not the process-wide default (set_as_default=False): name its loop.
    return as_completed(list(futures), loop=futures[0].client.loop)


def run_tasks(tasks: Sequence[Task], *, runs_dir: Path | None, workers: int = 1,
              progress: bool = False, desc: str = "runs", pool: Any = None) -> SweepResult:
    """Run ``tasks``, reusing results already in ``runs_dir``; write each new result atomically.

    Args:
        tasks: the runs; keys must be unique.
        runs_dir: folder for per-run JSON files; ``None`` keeps results in memory only.
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
        Any exception raised by a run (for example ``DivergenceError``) propagates; the runs not
        yet started are cancelled and those that finished before it are already on disk.
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
        # tqdm's rate (and so its time estimate) counts only runs done after `initial`: reused
        # runs do not make the estimate optimistic.
        bar = tqdm(total=len(tasks), initial=reused, desc=desc, unit="run", leave=False)

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
            ex = _LocalProcesses(min(workers, len(todo))) if own else pool
            futs = {}
            try:
                for chunk in _chunks(todo, pool_slots(ex)):
                    futs[ex.submit(_call_many, [(t.fn, t.kwargs) for t in chunk])] = chunk
                for f in _as_completed(list(futs)):
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
                       computed=len(todo))
