"""Readers of a model: symbolic (SymPy, undefined loss, exact) and numeric (NumPy float64, batched)."""

from verify.interpret.numeric import forward, loss_and_grad
from verify.interpret.symbolic import SymbolicNet, param_matrices, symbolic_net

__all__ = ["symbolic_net", "SymbolicNet", "param_matrices", "forward", "loss_and_grad"]
