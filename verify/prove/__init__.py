"""Proofs: dynamics derived by SymPy, concrete proofs with exact witnesses, generic proofs."""

from verify.prove.concrete import QuantityFn, prove_conserved

__all__ = ["QuantityFn", "prove_conserved"]
