"""The examples each ``verify`` sub-command prints under its ``--help`` (kept apart from the parser so
that both stay short; ``tests/test_cli_help.py`` checks every command has them)."""

from __future__ import annotations

__all__ = ["EXAMPLES"]

EXAMPLES = {
    "verify": """examples:
  verify list                       every catalog id with its kind, job and status
  verify prove DU-1                 generic + concrete proofs of Thm 2.1, with derivations
  verify prove all --json           every identity claim, machine-readable
  verify audit DU-10 --quick        measure the rank-1 linear rate with a 95% CI
  verify all --workers 2            the whole catalog -> verify-report/index.html, 2 processes
  verify all --full --scheduler tcp://10.0.0.5:8786   paper-sized sweeps on a Dask cluster
""",
    "prove": """examples:
  verify prove DU-1 DU-3            prove two claims (generic and concrete) and run their controls
  verify prove all --mode generic   only the symbolic-width proofs
  verify prove DU-6 --format markdown > du6.md
  verify prove all --scheduler tcp://10.0.0.5:8786   the proofs on a Dask cluster
""",
    "list": "examples:\n  verify list\n  verify list --json\n",
    "all": """examples:
  verify all                        quick tier of every claim -> ./verify-report/index.html
  verify all --full --out report/   paper-sized experiments
  verify all --workers 2            proofs and sweeps in 2 local processes
  verify all --full --scheduler tcp://10.0.0.5:8786
                                    sweeps on a running Dask cluster (pip install -e .[dask]);
                                    rerun the same line to resume: finished runs are read from --out
  verify all --json                 the records on stdout as well
""",
    "check": """examples:
  verify check examples/two_layer_relu_bias.toml --quantity "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"
  verify check my_net.toml --quantity "W1 @ W1.T - W2.T @ W2" --json
  verify check my_net.toml --quantity "norm(W1)**2 - norm(W2)**2" --weight-decay lambda
  verify check my_net.toml --quantity "sum(W1[i,:]**2) - sum(W2[:,i]**2)" --trajectory
  verify check my_net.toml --quantity "W1 @ W1.T - W2.T @ W2" --dynamics gd \
      --increment "eta**2*(G_W1 @ G_W1.T - G_W2.T @ G_W2)"
                                    one GD step changes Q by exactly the increment (G_W1 = dL/dW1, eta = step)
  verify check examples/torch/specs.py:TwoLayerReluBias --input-shape 4,3 \
      --quantity "sum(fc1.weight[i,:]**2) + fc1.bias[i]**2 - sum(fc2.weight[:,i]**2)"
                                    a PyTorch module (imports and runs that file)
  verify check big_net.toml --quantity "W1 @ W1.T - W2.T @ W2" --method randomized --points 3
""",
    "discover": """examples:
  verify discover examples/two_layer_relu_bias.toml            proven quadratic laws + certified count [lower, upper]
  verify discover examples/deep_linear_mixed.toml --count      only the upper bound (Lie-algebra rank); lower bound 0
  verify discover my_net.toml --dynamics momentum --friction 1 --json   heavy ball, laws of (t, theta, v)
  verify discover my_net.toml --dynamics nesterov              friction 3/t (Nesterov)
  verify discover my_net.toml --kind local --seed 3            the patterns reached at one theta0 only
  verify discover examples/torch/specs.py:TwoLayerReluBias --input-shape 4,3   a PyTorch module
""",
    "audit": """examples:
  verify audit DU-10 --quick        seconds; the full sweep without --quick
  verify audit DU-10 --workers 2    the full d x eps x seeds sweep in 2 local processes
  verify audit DU-10 --scheduler tcp://10.0.0.5:8786    the same sweep on a Dask cluster
  verify audit DU-12 --out results/ --seed 1
""",
}
