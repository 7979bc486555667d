"""GD experiments, rate fitting, plots and sweeps: the audit job (``verify audit``)."""

from .audit import AUDITS, result_path, run_audit
from .auditing import AuditContext, AuditOutcome, seed_for
from .executor import SweepResult, Task, describe_pool, open_pool, pool_slots, run_file, run_tasks
from .hessian import mf_hessian, mf_hvp, mf_min_eigenvalue
from .matfact import (
    LowRankTarget,
    MFTrajectory,
    balance_gap,
    check_divergence,
    du6_increment,
    footnote_11_step,
    gd_step,
    low_rank_target,
    mf_grad,
    mf_loss,
    run_mf_gd,
    theorem_3_1_step,
)
from .plotting import new_figure, save_figure
from .rates import LinearModelFit, RateFit, fit_linear_model, fit_linear_rate, linear_phase_window, \
    wilson_interval
from .relu_net import ReluGDRun, init_layers, relu_net_gd, relu_net_loss_grad
from .results import VERDICTS, AuditReport, SubVerdict, combine_verdicts, git_revision, \
    library_versions, read_json, to_jsonable, write_json_atomic, write_text_atomic

__all__ = [
    "AUDITS", "run_audit", "result_path",
    "AuditContext", "AuditOutcome", "seed_for",
    "Task", "SweepResult", "run_tasks", "run_file", "open_pool", "pool_slots", "describe_pool",
    "mf_hvp", "mf_hessian", "mf_min_eigenvalue",
    "LowRankTarget", "MFTrajectory", "low_rank_target", "mf_loss", "mf_grad", "gd_step",
    "balance_gap", "du6_increment", "theorem_3_1_step", "footnote_11_step", "check_divergence",
    "run_mf_gd",
    "new_figure", "save_figure",
    "RateFit", "LinearModelFit", "fit_linear_rate", "linear_phase_window", "fit_linear_model",
    "wilson_interval",
    "ReluGDRun", "init_layers", "relu_net_gd", "relu_net_loss_grad",
    "VERDICTS", "SubVerdict", "AuditReport", "combine_verdicts", "library_versions",
    "git_revision", "to_jsonable", "write_json_atomic", "write_text_atomic", "read_json",
]
