"""The claim registry, keyed by the stable ids of ``shared/papers/CLAIMS.md``: the one place that says
which job handles a claim.

Each claim declares its source, its kind, the job that handles it and what that job must give
(``expects``), and its bindings: the ``verify.proofs`` module whose ``TASKS`` prove it, the audit
function (``"module:function"`` in ``verify.numerics``) and the float64 property check of ``verify
all``. Bindings are names, resolved on use, so this module stays import-free (sweep workers import
it). ``verify list``, ``verify all``, ``verify prove`` and ``verify audit`` read only this registry.
The statements are short paraphrases of the catalog; a meta-test checks the ids here and there agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from verify.errors import BadInput, UnknownName

__all__ = ["Claim", "CLAIMS", "PropertyCheck", "get_claim", "claims_by_job", "require_job", "KINDS", "JOBS",
           "COMMAND"]

#: Kinds as in the catalog, plus "setting" and "note" rows that carry no check of their own.
KINDS = ("identity", "bound", "rate", "asymptotic", "experiment", "setting", "note")
#: proof = symbolic (``verify prove``); audit = GD experiment (``verify audit``); none = nothing to run.
JOBS = ("proof", "audit", "none")
#: The command that runs each job (one rule for "this id belongs to another job").
COMMAND = MappingProxyType({"proof": "verify prove", "audit": "verify audit", "none": ""})

DU = "Du, Hu & Lee 2018, Algorithmic regularization in learning deep homogeneous models"
JT = "Ji & Telgarsky 2019, Gradient descent aligns the layers of deep linear networks"
GB = "Gidel, Bach & Lacoste-Julien 2019, Implicit regularization of discrete gradient dynamics"
WN = "Chou, Rauhut & Ward 2023, Robust implicit regularization via weight normalization"
EX = "Related models (catalog section 'Identities that hold for related models')"
NM = "Normalisation layers (this toolkit; not in the catalog)"


@dataclass(frozen=True)
class PropertyCheck:
    """A float64 flow-drift check of ``verify all`` on one small network (``verify.prove.trajectory``).

    ``builder`` is ``mlp`` (``shape`` = widths), ``diagonal`` (``shape`` = (n, depth)) or ``layernorm``
    (``shape`` = widths of a layer-normalised net); ``quantity`` is in the quantity language.
    """

    builder: Literal["mlp", "diagonal", "layernorm"]
    shape: tuple[int, ...]
    activation: str | None
    bias: bool
    quantity: str


@dataclass(frozen=True)
class Claim:
    """One catalog row.

    Attributes:
        id: stable catalog id, e.g. ``"DU-1"``.
        paper: the paper it comes from.
        source: theorem/equation/figure inside the paper.
        kind: one of ``KINDS``.
        job: one of ``JOBS``.
        mark: ``paper``, ``derived`` or ``unverified`` as in the catalog; ``toolkit`` for claims
            this toolkit derived itself (not in the catalog).
        statement: a short paraphrase.
        proofs: the ``verify.proofs`` module whose ``TASKS`` hold this claim's proof tasks.
        audit: ``"module:function"`` of its audit in ``verify.numerics`` (for an identity, a float64
            measurement along real GD runs beside the proof).
        property_check: the float64 property check ``verify all`` adds to the proof row.
    """

    id: str
    paper: str
    source: str
    kind: str
    job: str
    mark: str
    statement: str
    in_catalog: bool = True
    proofs: str | None = None
    audit: str | None = None
    property_check: PropertyCheck | None = None

    @property
    def expects(self) -> str:
        """The verdict this claim's job must give for the row to pass."""
        return {"proof": "proven", "audit": "consistent", "none": "not run"}[self.job]


_ROWS = (
    Claim("DU-1", DU, "Thm 2.1", "identity", "proof", "paper",
          "d/dt(||W_h[i,:]||^2 - ||W_{h+1}[:,i]||^2) = 0 for every hidden neuron i, "
          "homogeneous activation phi(z) = phi'(z) z."),
    Claim("DU-1gd", DU, "derived from Thm 2.1", "identity", "proof", "derived",
          "one GD step changes the DU-1 quantity by exactly eta^2(||G_h[i,:]||^2 - ||G_{h+1}[:,i]||^2)."),
    Claim("DU-1k", DU, "generalisation of Thm 2.1 (this toolkit)", "identity", "proof", "toolkit",
          "degree-k homogeneous activation (k phi(z) = phi'(z) z): "
          "d/dt(||W_h[i,:]||^2 - k ||W_{h+1}[:,i]||^2) = 0.", in_catalog=False),
    Claim("DU-2", DU, "Cor 2.1", "identity", "proof", "paper",
          "d/dt(||W_h||_F^2 - ||W_{h+1}||_F^2) = 0."),
    Claim("DU-3", DU, "Thm 2.2", "identity", "proof", "paper",
          "phi_h = identity: d/dt(W_h W_h^T - W_{h+1}^T W_{h+1}) = 0 (matrix)."),
    Claim("DU-3gd", DU, "derived from Thm 2.2", "identity", "proof", "derived",
          "one GD step changes W_h W_h^T - W_{h+1}^T W_{h+1} by exactly eta^2(G_h G_h^T - G_{h+1}^T G_{h+1})."),
    Claim("DU-4", DU, "Thm 2.3", "identity", "proof", "paper",
          "shared/sparse weights W_h[i,j] = v_h[g_h(i,j)]: d/dt(||v_h||^2 - ||v_{h+1}||^2) = 0."),
    Claim("DU-5", DU, "Sec 3, eq (1), (3), (9)", "setting", "audit", "paper",
          "matrix factorisation f(U,V) = 1/2||UV^T - M*||_F^2 and its GD; audited with DU-11."),
    Claim("DU-6", DU, "derived from eq (9)", "identity", "proof", "derived",
          "R = UV^T - M*: U+^T U+ - V+^T V+ = U^T U - V^T V + eta^2(V^T R^T R V - U^T R R^T U)."),
    Claim("DU-7", DU, "Thm 3.1, footnote 11", "asymptotic", "audit", "paper",
          "GD with eta_t = sqrt(eps/r)/(100(t+1)||M*||_F^{3/2}) from small init converges to error <= eps."),
    Claim("DU-8", DU, "Lemma 3.1", "bound", "audit", "paper",
          "for all t: ||U^T U - V^T V||_F <= eps; f non-increasing, f_0 <= 2||M*||_F^2; "
          "||U_t||_F^2, ||V_t||_F^2 <= 5 sqrt(r) ||M*||_F."),
    Claim("DU-9", DU, "Lemma 3.2", "bound", "audit", "paper",
          "stationary point with ||U^T U - V^T V||_F <= eps: error <= eps or strict saddle."),
    Claim("DU-10", DU, "Thm 3.2", "rate", "audit", "paper",
          "rank 1, constant step: balance ratio bounded; error <= eps sigma_1 after O(log(d/eps)) steps."),
    Claim("DU-11", DU, "Figure 1", "experiment", "audit", "paper",
          "objective (1) converges about as fast as (3); ||U||_F^2/||V||_F^2 constant along (1)."),
    Claim("DU-12", DU, "Sec 4, Figure 2", "experiment", "audit", "paper",
          "3-layer ReLU net 1000-100-100-10: layer norms stay balanced (paper's numbers)."),
    Claim("JT-1", JT, "Sec 2 (same algebra as DU-3)", "identity", "proof", "derived",
          "W_{k+1}^T W_{k+1} - W_k W_k^T constant under flow; GD changes it by "
          "eta^2(G_{k+1}^T G_{k+1} - G_k G_k^T)."),
    Claim("JT-2", JT, "Thm (alignment)", "asymptotic", "audit", "paper",
          "risk -> 0, ||W_k||_F -> inf, stable rank -> 1, adjacent layers align."),
    Claim("JT-3", JT, "alignment bound", "bound", "audit", "unverified",
          "||W_k||_F^2 - ||W_k||_2^2 <= D along the flow (transcription unverified)."),
    Claim("JT-4", JT, "max-margin convergence", "asymptotic", "audit", "paper",
          "w_prod/||w_prod|| -> max-margin direction (logistic/exponential loss)."),
    Claim("JT-5", JT, "GD step rule", "bound", "audit", "paper",
          "eta_t <= 1/beta: risk decreases every step; sum eta_t ||grad R||^2 <= 2 R(W(0))."),
    Claim("JT-6", JT, "note", "note", "none", "paper",
          "the paper proves no rates: any fitted rate is exploratory."),
    Claim("GB-1", GB, "main theorem", "asymptotic", "audit", "paper",
          "two-layer linear net learns reduced-rank-regression solutions of increasing rank."),
    Claim("GB-2", GB, "mode dynamics", "rate", "audit", "derived",
          "mode i learned after t_i ~ (delta + 1/2 ln(s_i/(2 lambda_i)))/ln(1 + eta s_i) steps."),
    Claim("WN-1", WN, "experiments", "experiment", "audit", "paper",
          "weight normalisation keeps the sparse implicit bias at large initialisation scale."),
    Claim("EX-1", EX, "diagonal net w = u*v", "identity", "proof", "derived",
          "u_i^2 - v_i^2 conserved; one GD step multiplies it by (1 - eta^2 g_i^2)."),
    Claim("EX-2", EX, "depth-L diagonal net", "identity", "proof", "derived",
          "u_{k,i}^2 - u_{l,i}^2 conserved for all k, l, i."),
    Claim("EX-3", EX, "any model", "identity", "proof", "derived",
          "dL/dt = -||grad L||^2 along gradient flow."),
    Claim("NM-1", NM, "Euler's theorem, degree 0 (this toolkit)", "identity", "proof", "toolkit",
          "z = W a + b feeding a scale-invariant N (N(cz) = N(z), c > 0; l2 or layer norm): "
          "d/dt(||W||_F^2 + ||b||^2) = 0.", in_catalog=False),
)

_DU_MATFACT = "audits.du_5_6_11"
#: Job bindings: claim id -> (proof module, audit "module:function", property check).
_BINDINGS: dict[str, tuple[str | None, str | None, PropertyCheck | None]] = {
    "DU-1": ("du_hu_lee", None, PropertyCheck("mlp", (3, 3, 2), "relu", True,
                                              "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)")),
    "DU-1gd": ("du_hu_lee", None, None),
    "DU-1k": ("du_hu_lee", None, PropertyCheck("mlp", (2, 3, 1), "relu2", False,
                                               "sum(W1[i,:]**2) - 2*sum(W2[:,i]**2)")),
    "DU-2": ("du_hu_lee", None, PropertyCheck("mlp", (3, 3, 3, 2), "leaky_relu", False, "norm(W2)**2 - norm(W3)**2")),
    "DU-3": ("du_hu_lee", None, PropertyCheck("mlp", (3, 3, 2), "identity", False, "W1 @ W1.T - W2.T @ W2")),
    "DU-3gd": ("du_hu_lee", None, None),
    "DU-4": ("du_hu_lee", None, None),
    "DU-5": (None, f"{_DU_MATFACT}:audit_du5_du11", None),
    "DU-6": ("du_hu_lee", f"{_DU_MATFACT}:audit_du6", None),
    "DU-7": (None, "audits.du_7_8_9:audit_du7", None),
    "DU-8": (None, "audits.du_7_8_9:audit_du8", None),
    "DU-9": (None, "audits.du_7_8_9:audit_du9", None),
    "DU-10": (None, "audits.du_10:audit_du10", None),
    "DU-11": (None, f"{_DU_MATFACT}:audit_du5_du11", None),
    "DU-12": (None, "audits.du_12:audit_du12", None),
    "JT-1": ("ji_telgarsky", "audits.jt_1_2:audit_jt1", None),
    "JT-2": (None, "audits.jt_1_2:audit_jt2", None),
    "JT-3": (None, "audits.jt_1_2:audit_jt3", None),
    "JT-4": (None, "audits.jt_1_2:audit_jt4", None),
    "JT-5": (None, "audits.jt_1_2:audit_jt5", None),
    "GB-1": (None, "audits.gb_1_2:audit_gb1", None),
    "GB-2": (None, "audits.gb_1_2:audit_gb2", None),
    "WN-1": (None, "audits.wn_1:audit_wn1", None),
    "EX-1": ("related", None, PropertyCheck("diagonal", (4, 2), None, False, "u1[i]**2 - u2[i]**2")),
    "EX-2": ("related", None, PropertyCheck("diagonal", (3, 3), None, False, "u1[i]**2 - u3[i]**2")),
    "EX-3": ("related", None, None),
    "NM-1": ("normalisation", None, PropertyCheck("layernorm", (3, 4, 2), "tanh", True, "norm(W1)**2 + norm(b1)**2")),
}

def _bound(c: Claim) -> Claim:
    if c.id not in _BINDINGS:
        return c
    proofs, audit, check = _BINDINGS[c.id]
    return replace(c, proofs=proofs, audit=audit, property_check=check)


_REGISTRY: tuple[Claim, ...] = tuple(_bound(c) for c in _ROWS)

#: Read-only registry: catalog id -> Claim.
CLAIMS: MappingProxyType = MappingProxyType({c.id: c for c in _REGISTRY})


def get_claim(claim_id: str) -> Claim:
    """Look up a claim by id (case-insensitive); unknown ids raise ``UnknownName`` with suggestions."""
    for key, claim in CLAIMS.items():
        if key.lower() == claim_id.lower():
            return claim
    raise UnknownName("claim id", claim_id, CLAIMS, hint="Run 'verify list' to see every id.")


def claims_by_job(job: str) -> tuple[Claim, ...]:
    """All claims handled by ``job`` in catalog order."""
    return tuple(c for c in _REGISTRY if c.job == job)


def require_job(claim: Claim, job: str) -> None:
    """The one rule for "this id belongs to another job": a one-line ``BadInput`` naming the command
    that does handle it (``verify prove DU-1``), or saying a note has nothing to run."""
    if claim.job == job:
        return
    if claim.job == "none":
        raise BadInput(f"{claim.id} ({claim.kind}) has nothing to run ({claim.statement}); "
                       "'verify list' shows what each id runs.")
    raise BadInput(f"{claim.id} ({claim.kind}) is handled by '{COMMAND[claim.job]}', not by "
                   f"'{COMMAND[job]}'. Run '{COMMAND[claim.job]} {claim.id}' instead.")
