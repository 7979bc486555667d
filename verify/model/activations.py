"""Pointwise activations and the properties they declare.

The symbolic side may use only what an activation declares:

* ``degree = k`` (homogeneous of degree k): on each sign region phi(z) = s * z**k for a constant s,
  hence Euler's identity k*phi(z) = phi'(z)*z, with any Clarke subgradient at the kink
  (Du, Hu & Lee 2018, Sec 2.1: phi(x) = phi'(x) x for every element of the subdifferential).
  Concrete proofs represent such an activation *exactly* by a fresh region symbol s per unit and
  data point, so one proof covers every activation pattern at once.
* a user's formula (``from_formula``) declares nothing: ``verify.model.homogeneity`` *derives* its
  homogeneity with SymPy (proof piecewise on z < 0, z = 0, z > 0, or an exact witness against every
  degree). A formula proven homogeneous of an integer degree k >= 1 with a kink (distinct rational
  region constants, e.g. abs(z) = sqrt(z**2): s+ = 1, s- = -1) gets ``degree = k`` and is written on
  each region like relu; the certificate is kept in ``homogeneity`` and cited by proofs.
* ``degree = None``: nothing is assumed; the symbolic side uses the closed form (tanh, softplus,
  sigmoid, GELU, or a user's formula in ``z`` parsed by ``verify.lang.formula``) and SymPy's own
  derivative of it. The numeric side evaluates the same SymPy formula (and its SymPy derivative)
  through ``lambdify`` for GELU and user formulas, and hand-written stable forms for the others.

References:
    Du, Hu & Lee (2018), Section 2.1 and footnote 8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy as sp

from verify._infra.exact import exact_rational
from verify.errors import BadInput, UnknownName
from verify.model.homogeneity import Homogeneity, Homogeneous, derive_homogeneity

#: Exact GELU z * Phi(z) (Hendrycks & Gimpel 2016), not the tanh approximation.
#: The activation's argument; formula activations are expressions in this one symbol.
Z = sp.Symbol("z", real=True)

_GELU = Z * (1 + sp.erf(Z / sp.sqrt(2))) / 2

__all__ = ["Z", "Activation", "ACTIVATIONS", "get_activation", "leaky_relu", "relu_power", "homogeneous",
           "from_formula"]


@dataclass(frozen=True)
class Activation:
    """A pointwise activation.

    Attributes:
        name: display name, e.g. ``"relu"`` or ``"leaky_relu(1/10)"``.
        degree: homogeneity degree k (phi(lambda z) = lambda**k phi(z), lambda > 0), or None.
        slopes: for homogeneous activations, the region constants (s+, s-) with phi(z) = s+ * z**k
            for z > 0 and phi(z) = s- * z**k for z < 0; ``None`` means *unspecified* (a generic
            homogeneous function).
        closed_form: for non-homogeneous activations, a name in ``_CLOSED_FORMS``.
        formula: for other non-homogeneous activations (GELU, user formulas), an exact SymPy
            expression in ``Z`` (a user formula derived homogeneous keeps it for its numerics).
        homogeneity: the property *derived* by SymPy for a user formula (``verify.model.homogeneity``);
            None for a built-in, whose property is declared.
    """

    name: str
    degree: int | None
    slopes: tuple[sp.Rational, sp.Rational] | None = None
    closed_form: str | None = None
    formula: sp.Expr | None = None
    homogeneity: Homogeneity | None = None

    @property
    def is_homogeneous(self) -> bool:
        return self.degree is not None

    @property
    def is_identity(self) -> bool:
        return self.degree == 1 and self.slopes == (1, 1)

    def property_text(self) -> str:
        """The property a proof uses, declared or derived, as a derivation step cites it."""
        h = self.homogeneity
        if self.degree is None:
            if h is None:
                return f"{self.name}: no homogeneity declared (closed form used as is)"
            if isinstance(h, Homogeneous):
                slopes = h.slopes
                why = ("phi = s*z**k on all of R with one constant s, a closed form used as is"
                       if slopes is not None and sp.simplify(slopes[0] - slopes[1]) == 0 else
                       "the region form s*z**k needs an integer k >= 1 and rational region constants, so the "
                       "closed form is used as is")
                return f"{self.name}: {h.text()}; {why}"
            return f"{self.name}: {h.text()}; closed form used as is"
        k = self.degree
        lhs = "phi(z)" if k == 1 else f"{k}*phi(z)"
        text = f"{self.name}: homogeneous of degree {k}, {lhs} = phi'(z)*z"
        return text if h is None else f"{text}; {h.text()}"

    def definition(self) -> sp.Expr | None:
        """The exact phi(z) in ``Z`` (None for the generic ``homogeneous`` activation, which has none).

        Declared activations are written in their textbook form (relu**k = max(z, 0)**k, leaky ReLU
        = max(z, alpha*z), identity = z), so that a derivation from it checks the declaration."""
        if self.formula is not None:
            return self.formula
        if self.closed_form is not None:
            return _CLOSED_FORMS[self.closed_form][0](Z)
        if self.slopes is None or self.degree is None:
            return None
        pos, neg = self.slopes
        if neg == 0:
            return sp.Max(Z, 0) ** self.degree
        if pos == 1 and 0 < neg <= 1 and self.degree == 1:
            return sp.Max(Z, neg * Z)
        return sp.Piecewise((pos * Z**self.degree, Z > 0), (neg * Z**self.degree, True))

    def sympy_region(self, z: sp.Expr, s: sp.Symbol) -> sp.Expr:
        """phi(z) = s * z**k on the region where the region constant is s."""
        assert self.degree is not None
        return s * z**self.degree

    def region_value(self, z: sp.Rational) -> sp.Rational:
        """The region constant s at an exact point z (the subgradient choice 0-side at z == 0)."""
        assert self.degree is not None
        if self.slopes is None:
            raise BadInput(f"Activation {self.name} has no concrete slopes; pick relu, leaky_relu or identity "
                           "to build a witness.")
        pos, neg = self.slopes
        # At z == 0 any constant is a valid Clarke subgradient choice since phi(0) = s*0; take s-.
        return sp.Rational(pos) if z > 0 else sp.Rational(neg)

    def sympy_closed(self, z: sp.Expr) -> sp.Expr:
        """Closed form for a non-homogeneous activation."""
        if self.formula is not None:
            return self.formula.xreplace({Z: z})
        assert self.closed_form is not None, f"{self.name} has no closed form"
        return _CLOSED_FORMS[self.closed_form][0](z)

    def numpy(self, z: np.ndarray) -> np.ndarray:
        """Numeric interpretation (float64)."""
        if self.formula is not None:
            return _numeric(self.formula, 0)(z)
        if self.closed_form is not None:
            return _CLOSED_FORMS[self.closed_form][1](z)
        if self.slopes is None:
            raise BadInput(f"Activation {self.name} is generic (no slopes); it has no numeric form. "
                           "Use relu, leaky_relu(a), identity or relu_power(k).")
        pos, neg = (float(s) for s in self.slopes)
        zk = z**self.degree
        return np.where(z > 0, pos * zk, neg * zk)


    def numpy_derivative(self, z: np.ndarray) -> np.ndarray:
        """phi'(z) elementwise (float64); at a kink, the one-sided slope of ``region_value``."""
        if self.formula is not None:
            return _numeric(self.formula, 1)(z)
        if self.closed_form == "tanh":
            return 1.0 - np.tanh(z) ** 2
        if self.closed_form in ("sigmoid", "softplus"):
            s = _sigmoid(z)
            return s * (1.0 - s) if self.closed_form == "sigmoid" else s
        if self.slopes is None:
            return self.numpy(z)  # raises the no-numeric-form error
        pos, neg = (float(s) for s in self.slopes)
        k = self.degree
        assert k is not None  # slopes are declared only with a degree
        return np.where(z > 0, pos, neg) * k * z ** (k - 1)


@lru_cache(maxsize=64)
def _numeric(formula: sp.Expr, order: int):
    """float64 function of z for the formula (order 0) or its SymPy derivative (order 1).

    ``lambdify`` receives a SymPy expression we built (never user text); SciPy supplies erf.
    Overflow to inf inside exp is harmless here (1/(1+inf) = 0), so it is silenced.
    """
    f = sp.lambdify(Z, sp.diff(formula, Z, order) if order else formula, modules=["scipy", "numpy"])

    def call(z):
        with np.errstate(over="ignore", under="ignore"):
            return np.broadcast_to(f(np.asarray(z, dtype=float)), np.shape(z)).astype(float)
    return call


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


_CLOSED_FORMS: dict[str, tuple[Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]]] = {
    "tanh": (sp.tanh, np.tanh),
    "softplus": (lambda z: sp.log(1 + sp.exp(z)), _softplus),
    "sigmoid": (lambda z: 1 / (1 + sp.exp(-z)), _sigmoid),
}


def from_formula(formula: sp.Expr, name: str) -> Activation:
    """The activation of an exact formula in ``Z``, with its homogeneity derived by SymPy.

    Written on regions as s*z**k (like relu) only when the derivation proves degree k (an integer
    >= 1) with distinct rational region constants: a kink. Without a kink (2*z, z**3) the formula is
    a polynomial and its closed form is already exact; region symbols would only forget that both
    sides share one constant."""
    derived = derive_homogeneity(formula, Z)
    if isinstance(derived, Homogeneous) and derived.slopes is not None:
        pos, neg = derived.slopes
        if pos.is_Rational and neg.is_Rational and pos != neg:
            return Activation(name, int(derived.degree), (pos, neg), formula=formula, homogeneity=derived)
    return Activation(name, None, formula=formula, homogeneity=derived)


def leaky_relu(alpha) -> Activation:
    """max(z, alpha z), degree 1; alpha is kept exact (``"1/10"`` or ``0.1`` -> 1/10)."""
    a = exact_rational(alpha, "leaky_relu alpha", "0.1")
    if not 0 <= a < 1:
        raise BadInput(f"Got leaky_relu alpha={alpha}; alpha must satisfy 0 <= alpha < 1.")
    return Activation(f"leaky_relu({a})", 1, (sp.Integer(1), a))


def relu_power(k: int) -> Activation:
    """max(z, 0)**k, degree k (k = 2 is squared ReLU)."""
    if int(k) != k or k < 1:
        raise BadInput(f"Got relu_power k={k}; k must be an integer >= 1.")
    return Activation("relu" if k == 1 else f"relu^{k}", int(k), (sp.Integer(1), sp.Integer(0)))


def homogeneous(k: int) -> Activation:
    """A generic activation known only to be homogeneous of degree k (no slopes)."""
    if int(k) != k or k < 1:
        raise BadInput(f"Got homogeneous degree k={k}; k must be an integer >= 1.")
    return Activation(f"homogeneous_{k}", int(k), None)


ACTIVATIONS = MappingProxyType({
    "identity": Activation("identity", 1, (sp.Integer(1), sp.Integer(1))),
    "linear": Activation("identity", 1, (sp.Integer(1), sp.Integer(1))),
    "relu": relu_power(1),
    "leaky_relu": leaky_relu("1/10"),
    "relu2": relu_power(2),
    "homogeneous": homogeneous(1),
    "tanh": Activation("tanh", None, closed_form="tanh"),
    "softplus": Activation("softplus", None, closed_form="softplus"),
    "sigmoid": Activation("sigmoid", None, closed_form="sigmoid"),
    "gelu": Activation("gelu", None, formula=_GELU),
})


def get_activation(name: str | Activation) -> Activation:
    """Activation by name; unknown names raise ``UnknownName`` listing the closest."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise UnknownName("activation", name, ACTIVATIONS,
                          hint="Use leaky_relu(alpha) or relu_power(k) for other parameters, "
                               "or a formula in z (custom(...); in a spec: formula = \"z*sigmoid(z)\").") from None
