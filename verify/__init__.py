"""verify: prove, property-test and audit implicit-regularization claims.

The names below are what a researcher needs; heavy ones (SymPy, SciPy) are resolved on first use
(PEP 562), so that importing ``verify``, as every spawned sweep worker does, stays cheap.
"""

from verify._infra.lazy import lazy_exports as _lazy_exports
from verify.certificates import Proven, Refuted, Undecided, Verdict
from verify.claims import CLAIMS, Claim, get_claim
from verify.errors import BadInput, DivergenceError, ShapeMismatch, SpecError, UnknownName, VerifyError

__getattr__, __dir__ = _lazy_exports(globals(), {
    "check": "testing.checking", "assert_conserved": "testing.assertions", "discover": "laws.discovery",
    "prove_conserved": "prove.concrete", "QuantityFn": "prove.concrete", "Quantity": "lang.quantity",
    "parse_quantity": "lang.quantity",
    "load_spec": "lang.spec", "Model": "model", "mlp": "model", "shared_mlp": "model",
    "normalized_mlp": "model", "diagonal_net": "model",
})

__all__ = [
    "CLAIMS", "Claim", "get_claim",
    "Model", "mlp", "shared_mlp", "normalized_mlp", "diagonal_net", "load_spec", "parse_quantity", "Quantity", "QuantityFn",
    "check", "prove_conserved", "assert_conserved", "discover",
    "Proven", "Refuted", "Undecided", "Verdict",
    "VerifyError", "BadInput", "UnknownName", "ShapeMismatch", "SpecError", "DivergenceError",
]
