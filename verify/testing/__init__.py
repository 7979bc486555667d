"""Property tests for a user's own suite: ``check``, ``assert_conserved``, Hypothesis strategies
(``verify.testing.strategies``)."""

from verify.testing import strategies
from verify.testing.assertions import NotConserved, assert_conserved
from verify.testing.checking import check

__all__ = ["check", "assert_conserved", "NotConserved", "strategies"]
