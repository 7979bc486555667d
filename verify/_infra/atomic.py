"""Atomic file IO: strict JSON, and files written whole or not at all.

Every file verify writes goes through here: the text is written to a temporary file in the target's
folder (fsync), then renamed over the target (``os.replace``, atomic on POSIX), so an interrupted
run never leaves a half-written result behind.

References:
    ../shared/DESIGN.md, "Numerics conventions": atomic writes, interrupted sweeps resume.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "json_text", "write_texts_atomic", "write_text_atomic", "write_json_atomic",
           "read_json", "atomic_path", "clean_stale_temps"]


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, paths and non-finite floats to strict JSON values.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` because strict JSON
    has no such numbers and a divergent run must still be recordable.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _temp_prefix(name: str) -> str:
    # The writer's pid is in the name: clean_stale_temps removes a temp file only when the process
    # that made it is gone (kill -9 skips every cleanup), never one a live concurrent run is writing.
    return f".{name}.pid{os.getpid()}."


_TEMP = re.compile(r"^\..+\.pid(\d+)\..*\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours (PermissionError): alive
        return True
    return True


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temp files in ``folder`` left by writers that died (kill -9); return them."""
    gone: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return gone
    for path in entries:
        m = _TEMP.match(path.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            try:
                path.unlink()
                gone.append(path)
            except OSError:
                pass
    return gone


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read the umask is to set it; put it straight back
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_texts_atomic(files: Mapping[Path, str]) -> list[Path]:
    """Write several files as one set: every text goes to a temp file in its folder (fsync) first,
    and only when all are on disk are they renamed over their targets (``os.replace``, atomic per
    file). A failure or Ctrl-C while writing leaves every target as it was and no temp file; the
    window in which only some targets are new is the handful of renames at the end."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a report is for sharing, like open()'s files
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        # Never leave a temp file behind, whatever interrupted us (including Ctrl-C).
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return [path for _, path in temps]


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, fsync, os.replace)."""
    return write_texts_atomic({path: text})[0]


def json_text(obj: Any) -> str:
    """``obj`` (via :func:`to_jsonable`) as strict JSON text (NaN and infinities are errors)."""
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"


def write_json_atomic(path: Path, obj: Any) -> Path:
    """Serialise ``obj`` (via :func:`to_jsonable`) as strict JSON and write it atomically."""
    return write_text_atomic(path, json_text(obj))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def read_json(path: Path) -> Any | None:
    """Read a strict JSON file; ``None`` if it is missing, unreadable, torn, not UTF-8 or holds
    NaN/Infinity (we never write those: ``to_jsonable`` spells them as strings)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, parse_constant=_no_constant)
    except (OSError, ValueError, RecursionError):
        return None


@contextmanager
def atomic_path(final: Path, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary path beside ``final`` for a writer that wants a file name (matplotlib's
    ``savefig``); renamed over ``final`` when the block ends, removed if it raises."""
    final = Path(final)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(final.name), suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
