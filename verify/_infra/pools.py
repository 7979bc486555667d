"""Where runs execute: this process, N local processes, or a Dask cluster; and one BLAS thread each.

The executor ("pool") is chosen in one place, :func:`open_pool`:

* ``workers=1``: no pool, runs execute in this process (no pickling, easiest to debug);
* ``workers=N``: N local processes started with ``spawn`` (``fork`` from a process with BLAS
  threads can deadlock and warns on Python >= 3.12), one BLAS thread each
  (see ``_one_blas_thread_per_worker``);
* ``scheduler=ADDRESS``: a Dask ``distributed.Client`` connected to a running scheduler (optional
  extra: ``pip install -e .[dask]``). Dask's nanny already starts workers with one BLAS thread
  (``distributed.nanny.pre-spawn-environ``).

Sweeps (``verify.numerics.sweep``) and proof batches (``verify.proofs.catalog``) share it.

References:
    Issue 8: sweeps that scale out on Dask.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from verify.errors import BadInput

__all__ = ["one_blas_thread", "open_pool", "describe_pool", "pool_slots", "local_processes", "as_completed", "CONNECT_TIMEOUT_S"]

#: Seconds to wait for a Dask scheduler before giving up with a one-line error. Dask's own default
#: (``distributed.comm.timeouts.connect``, 30 s) is long for a typo in an address.
CONNECT_TIMEOUT_S = 10.0


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


def _openblas_libs() -> list[tuple[Any, Any]]:
    """(set_num_threads, get_num_threads) of every OpenBLAS loaded in this process: NumPy and SciPy each
    ship one (a Gram product runs in NumPy's, LAPACK's factorisations in SciPy's)."""
    import ctypes
    out = []
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and "/" in ln})
        for path in paths:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_", "openblas_"):
                for suf in ("64_", ""):
                    s, g = f"{name}set_num_threads{suf}", f"{name}get_num_threads{suf}"
                    if hasattr(lib, s) and hasattr(lib, g):
                        out.append((getattr(lib, s), getattr(lib, g)))
    except OSError:
        return []
    return out


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Every loaded OpenBLAS on one thread inside the block (restored afterwards); a no-op without
    OpenBLAS. Why: on the 2-core reference machine under load OpenBLAS's threads contend: an SVD of a
    328 x 324 matrix took 2.6 s with 2 threads against 0.05 s with 1, and a 128 x 128 x 2000 product
    ran at 1.3 against 7.7 G multiply-adds/s (measured). Worker processes get the same through
    ``_one_blas_thread_per_worker``'s environment variables."""
    libs = [(s, int(g())) for s, g in _openblas_libs()]
    for s, _ in libs:
        s(1)
    try:
        yield
    finally:
        for s, n in libs:
            s(n)


#: Seconds between a worker's checks that its parent is alive.
PARENT_POLL_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: exit as soon as the parent process is gone.

    When the main process is killed with SIGKILL nothing runs in it, and a ``spawn`` worker blocked
    on its task queue can sleep for minutes (issue 15). A daemon thread polls ``os.getppid()``
    (the worker is re-parented when its parent dies) and ends the worker.
    """
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="verify-parent-watch", daemon=True).start()


class _LocalProcesses:
    """N ``spawn`` processes with one BLAS thread each.

    ``ProcessPoolExecutor`` starts ``spawn`` workers lazily, inside ``submit``, so the BLAS
    variables are set around every ``submit`` (not only around the constructor).
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._ex = cf.ProcessPoolExecutor(max_workers=workers,
                                          mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_exit_with_parent, initargs=(os.getpid(),))

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


def local_processes(workers: int) -> Any:
    """A pool of ``workers`` local ``spawn`` processes (shut it down with ``shutdown()``)."""
    return _LocalProcesses(workers)


def pool_slots(pool: Any) -> int:
    """How many jobs the executor runs at once (worker processes or Dask threads; 1 inline)."""
    if isinstance(pool, _LocalProcesses):
        return pool.workers
    if isinstance(pool, _DaskPool):
        return max(1, sum(pool.client.nthreads().values()))
    return 1


def as_completed(futures: Sequence[Any]) -> Iterator[Any]:
    """Futures in completion order, for local (concurrent.futures) and Dask futures alike."""
    if all(isinstance(f, cf.Future) for f in futures):
        return cf.as_completed(futures)
    from distributed import as_completed
    # The client is not the process-wide default (set_as_default=False): name its loop.
    return as_completed(list(futures), loop=futures[0].client.loop)
