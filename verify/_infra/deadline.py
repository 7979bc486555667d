"""``--timeout``: a wall-clock limit on a job, and what the job had reached when it fired.

``deadline(seconds)`` arms a SIGALRM timer that raises :class:`verify.errors.JobTimeout` in the main
thread (a ``BaseException``, so no ``except Exception`` on the way swallows it); leaving the block
disarms it and restores any timer that was armed before (a per-claim limit inside a job-wide one).
Off the main thread (a Dask worker thread), where signals cannot be armed, the block runs without a
limit and the caller bounds the wait instead.

Long phases call ``reach("expanding entry 3 of 8")`` so that a timed-out job can say where it stopped.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from verify.errors import JobTimeout

__all__ = ["deadline", "reach", "reached", "MAX_TIMEOUT"]

#: Longest accepted --timeout (a week): a larger value is a typo, not a limit.
MAX_TIMEOUT = 7 * 24 * 3600.0

#: After a limit fires, it fires again this often until the job has left the limited block.
REFIRE = 0.05

_reached: list[str] = [""]


def reach(phase: str) -> None:
    """Record the phase a job is in (shown by a timeout)."""
    _reached[0] = phase


def reached() -> str:
    return _reached[0]


def _unsafe(frame) -> bool:
    """Inside an import, a gc callback or a finaliser: where an exception is harmful or swallowed."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib") or code in callbacks or code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


@contextmanager
def deadline(seconds: float | None, cpu: bool = False) -> Iterator[None]:
    """Raise ``JobTimeout(seconds)`` in this block after ``seconds`` of wall time, or with ``cpu`` of
    this process's CPU time (a work budget that other jobs on the machine do not shorten). None or
    0: no limit. Wall and CPU limits use separate timers and nest independently."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    # ITIMER_PROF: user + system CPU time of the process, what time.process_time measures
    which, signum = (signal.ITIMER_PROF, signal.SIGPROF) if cpu else (signal.ITIMER_REAL, signal.SIGALRM)
    clock = time.process_time if cpu else time.monotonic
    start = clock()
    outer_left, _ = signal.getitimer(which)

    def fire(signum, frame):
        # The timer repeats every REFIRE seconds until the block is left. An exception inside an
        # import would leave half-initialised modules behind (matplotlib without get_data_path), one
        # inside a gc callback or a finaliser is swallowed: those ticks wait for the next one.
        if not _unsafe(frame):
            raise JobTimeout(seconds, cpu=cpu)

    previous = signal.signal(signum, fire)
    # an enclosing limit that ends first keeps its own handler and time
    inner_first = not outer_left or seconds < outer_left
    if inner_first:
        signal.setitimer(which, seconds, REFIRE)
    else:
        signal.signal(signum, previous)
    if not cpu:
        _reached[0] = ""
    try:
        yield
    finally:
        if inner_first:
            signal.setitimer(which, 0)
            signal.signal(signum, previous)
            if outer_left:
                # re-arm the enclosing limit with what is left of it (at least a moment)
                signal.setitimer(which, max(outer_left - (clock() - start), 1e-3), REFIRE)
