"""Provenance recorded in every report: library versions and the git revision of this checkout."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["library_versions", "git_revision"]


def library_versions() -> dict[str, str]:
    """Versions of python, numpy, scipy and matplotlib, and the platform, for the report header."""
    import matplotlib
    import scipy

    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform()}


def git_revision(start: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the checkout holding this package (suffix ``+dirty`` if modified).

    Returns ``"unknown"`` outside a git checkout or without git: a report must still be written.
    """
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
