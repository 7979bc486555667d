"""The jobs a user runs: the command line (``verify ...``) and the ``verify all`` report."""

from verify.jobs.cli import main

__all__ = ["main"]
