"""verify: prove, property-test and audit implicit-regularization claims."""

from .claims import CLAIMS, Claim, get_claim
from .errors import BadInput, DivergenceError, ShapeMismatch, SpecError, UnknownName, VerifyError

__all__ = [
    "CLAIMS", "Claim", "get_claim",
    "VerifyError", "BadInput", "UnknownName", "ShapeMismatch", "SpecError", "DivergenceError",
]
