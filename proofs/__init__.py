"""Proofs of the catalog's identity claims, one module per paper."""

__all__: list[str] = []
