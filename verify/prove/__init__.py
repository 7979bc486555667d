"""Proofs: dynamics derived by SymPy, concrete proofs with exact witnesses, generic proofs."""

from verify.prove.concrete import Quantity, prove_conserved

__all__ = ["Quantity", "prove_conserved"]
