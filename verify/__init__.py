"""verify: prove, property-test and audit implicit-regularization claims."""

from .claims import CLAIMS, Claim, get_claim
from .errors import BadInput, DivergenceError, ShapeMismatch, SpecError, UnknownName, VerifyError

# The API is ``verify.check(model, quantity, ...)`` and ``verify.discover(model, ...)``:
# the functions shadow their submodules' attribute names on the package (``from verify.check
# import check`` keeps working, ``import verify.check as m`` would return the function).
from .check import check  # noqa: E402
from .discover import discover  # noqa: E402

__all__ = [
    "CLAIMS", "Claim", "get_claim", "check", "discover",
    "VerifyError", "BadInput", "UnknownName", "ShapeMismatch", "SpecError", "DivergenceError",
]
