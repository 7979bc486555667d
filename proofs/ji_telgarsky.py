"""Ji & Telgarsky: JT-1, the layer-alignment invariant of deep linear networks.

W_{k+1}^T W_{k+1} - W_k W_k^T is DU-3's matrix with the opposite sign, so the proofs reuse the
same generic two-layer block (the rest of the deep linear net is abstract: the input of layer k and
the gradient from above).

References:
    Ji & Telgarsky, "Gradient descent aligns the layers of deep linear networks", ICLR 2019.
"""

from __future__ import annotations

from functools import partial

from verify.model import mlp

from .du_hu_lee import concrete_task, du3_generic, gd_claim, matrix_balance
from .tasks import ProofTask

__all__ = ["TASKS", "JT_GD"]

#: JT-1's GD claim in the quantity language (as ``verify check --increment`` takes it).
JT_GD = ("W2.T @ W2 - W1 @ W1.T", "eta**2*(G_W2.T @ G_W2 - G_W1 @ G_W1.T)")


def _tasks():
    T = [ProofTask("JT-1", "generic-flow", "generic", partial(du3_generic, "JT-1", "flow", -1)),
         ProofTask("JT-1", "generic-gd", "generic", partial(du3_generic, "JT-1", "gd", -1))]
    for depth in (2, 3):
        # scalar output as in Ji & Telgarsky: widths d -> ... -> 1
        net = mlp((2,) * depth + (1,), "identity")
        T.append(ProofTask("JT-1", f"{net.name}-flow", "concrete",
                           partial(concrete_task, "JT-1", net, matrix_balance(net, 1, sign=-1))))
        T.append(ProofTask("JT-1", f"{net.name}-gd", "concrete", partial(concrete_task, "JT-1", net, *gd_claim(net, *JT_GD))))
    return tuple(T)


TASKS = _tasks()
