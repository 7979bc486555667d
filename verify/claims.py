"""The claim registry, keyed by the stable ids of ``shared/papers/CLAIMS.md``.

Each claim declares its source, its kind and the job that handles it. The statements are short
paraphrases of the catalog; the catalog is the reference and a meta-test checks that the ids
here and there agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from verify.errors import UnknownName

__all__ = ["Claim", "CLAIMS", "get_claim", "claims_by_job", "KINDS", "JOBS"]

#: Kinds as in the catalog, plus "setting" and "note" rows that carry no check of their own.
KINDS = ("identity", "bound", "rate", "asymptotic", "experiment", "setting", "note")
#: proof = symbolic (``verify prove``); audit = GD experiment (``verify audit``); none = nothing to run.
JOBS = ("proof", "audit", "none")

DU = "Du, Hu & Lee 2018, Algorithmic regularization in learning deep homogeneous models"
JT = "Ji & Telgarsky 2019, Gradient descent aligns the layers of deep linear networks"
GB = "Gidel, Bach & Lacoste-Julien 2019, Implicit regularization of discrete gradient dynamics"
WN = "Chou, Rauhut & Ward 2023, Robust implicit regularization via weight normalization"
EX = "Related models (catalog section 'Identities that hold for related models')"
NM = "Normalisation layers (this toolkit; not in the catalog)"


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
    """

    id: str
    paper: str
    source: str
    kind: str
    job: str
    mark: str
    statement: str
    in_catalog: bool = True


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

#: Read-only registry: catalog id -> Claim.
CLAIMS: MappingProxyType = MappingProxyType({c.id: c for c in _ROWS})


def get_claim(claim_id: str) -> Claim:
    """Look up a claim by id (case-insensitive); unknown ids raise ``UnknownName`` with suggestions."""
    for key, claim in CLAIMS.items():
        if key.lower() == claim_id.lower():
            return claim
    raise UnknownName("claim id", claim_id, CLAIMS, hint="Run 'verify list' to see every id.")


def claims_by_job(job: str) -> tuple[Claim, ...]:
    """All claims handled by ``job`` in catalog order."""
    return tuple(c for c in _ROWS if c.job == job)
