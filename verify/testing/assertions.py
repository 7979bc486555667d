"""Helpers for users' own pytest suites.

    from verify.testing import assert_conserved
    def test_my_net_balance():
        assert_conserved(my_model, "sum(W1[i,:]**2) - sum(W2[:,i]**2)")
"""

from __future__ import annotations

from verify.certificates import Proven, ProvenRandomized, render
from verify.lang.quantity import Quantity as ParsedQuantity
from verify.prove.concrete import QuantityFn
from verify.testing.checking import check

__all__ = ["assert_conserved", "NotConserved"]


class NotConserved(AssertionError):
    """Raised by ``assert_conserved``; carries the verdict (with its witness when refuted)."""

    def __init__(self, verdict):
        super().__init__(render(verdict))
        self.verdict = verdict


def assert_conserved(model, quantity: str | ParsedQuantity | QuantityFn, *, dynamics: str = "flow", weight_decay=None,
                     seed: int = 0, **kwargs) -> Proven | ProvenRandomized:
    """Return the ``Proven`` certificate (``ProvenRandomized`` from the randomized route, with its
    error probability: ``method=`` as in ``check``), or raise ``NotConserved`` showing the witness /
    evidence. An ``Undecided`` verdict also raises: it is never a pass.
    """
    v = check(model, quantity, dynamics=dynamics, weight_decay=weight_decay, seed=seed, **kwargs)
    if not isinstance(v, (Proven, ProvenRandomized)):
        raise NotConserved(v)
    return v
