"""How an auxiliary region symbol takes its exact value at a point (max-pool selection, norm, exp).

The layers that create such symbols (pooling, normalisation, attention) name the rule here; the
symbolic interpreter records it with the symbol and a witness evaluates it (``verify.prove.witness``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["RegionValue", "SQRT", "EXP", "MAX_SELECT"]


@dataclass(frozen=True)
class RegionValue:
    """How a witness gives an auxiliary symbol its exact value from its argument z."""

    name: str

    def region_value(self, z):
        if self.name == "sqrt":
            return sp.sqrt(z)
        if self.name == "exp":
            return sp.exp(z)
        # max selection: z = (z_j, every other entry of the window); None on a tie (a kink).
        mine, others = z[0], max(z[1:])
        if mine == others:
            return None
        return sp.Integer(1) if mine > others else sp.Integer(0)


SQRT, EXP, MAX_SELECT = RegionValue("sqrt"), RegionValue("exp"), RegionValue("max_select")
