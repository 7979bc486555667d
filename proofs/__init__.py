"""Proofs of the catalog's identity claims, one module per paper."""

from .catalog import ALL_TASKS, proof_summary, run_tasks, tasks_for
from .tasks import ProofTask

__all__ = ["ALL_TASKS", "ProofTask", "proof_summary", "run_tasks", "tasks_for"]
