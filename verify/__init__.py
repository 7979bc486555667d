"""verify: prove, property-test and audit implicit-regularization claims."""

from verify.claims import CLAIMS, Claim, get_claim
from verify._infra.lazy import lazy_exports
from verify.errors import BadInput, DivergenceError, ShapeMismatch, SpecError, UnknownName, VerifyError

# ``verify.check(model, quantity, ...)`` and ``verify.discover(model, ...)`` are resolved on first
# use (PEP 562), not at import: they pull in SymPy and SciPy (~0.8 s), which every spawned sweep
# worker would otherwise pay just to import ``verify.numerics`` (issue 8's 1 -> 2 worker speed-up).
# Their modules are named ``checking`` and ``discovery`` so that no submodule import can rebind
# these names on the package.
__getattr__, __dir__ = lazy_exports(globals(), {"check": "testing.checking", "discover": "laws.discovery"})

__all__ = [
    "CLAIMS", "Claim", "get_claim", "check", "discover",
    "VerifyError", "BadInput", "UnknownName", "ShapeMismatch", "SpecError", "DivergenceError",
]
