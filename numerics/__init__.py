"""GD experiments, rate fitting, plots and sweeps: the audit job (``verify audit``).

Every public name below is importable from ``verify.numerics`` but is resolved on first use
(PEP 562): a spawned sweep worker that only needs ``rank1.rank1_run`` then does not import
matplotlib, SciPy's statistics and every audit (issue 8's 1 -> 2 worker speed-up).
"""

from verify._infra.lazy import lazy_exports

_EXPORTS = {
    "run": ("AUDITS", "run_audit", "result_path"),
    "context": ("AuditContext", "AuditOutcome", "seed_for"),
    "sweep": ("Task", "SweepResult", "run_tasks", "run_file"),
    "models.du_hessian": ("mf_hvp", "mf_hessian", "mf_min_eigenvalue"),
    "models.du_matfact": ("LowRankTarget", "MFTrajectory", "low_rank_target", "mf_loss", "mf_grad", "gd_step",
                          "balance_gap", "du6_increment", "theorem_3_1_step", "footnote_11_step", "check_divergence",
                          "run_mf_gd"),
    "plotting": ("new_figure", "save_figure"),
    "rates": ("RateFit", "LinearModelFit", "fit_linear_rate", "linear_phase_window", "fit_linear_model",
              "wilson_interval", "clopper_pearson_interval", "mean_ci95", "LimitFit",
              "fit_limit_inverse_log"),
    "models.du_relu_net": ("ReluGDRun", "init_layers", "relu_net_gd", "relu_net_loss_grad"),
    "audit_report": ("VERDICTS", "SubVerdict", "AuditReport", "combine_verdicts", "format_measured"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)

__getattr__, __dir__ = lazy_exports(globals(), _MODULE_OF)
