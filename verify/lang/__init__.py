"""Text to objects, never evaluated: the quantity language, formula activations, TOML specs."""

from verify.lang.formula import custom, parse_formula
from verify.lang.quantity import parse_quantity
from verify.lang.spec import load_spec, parse_spec

__all__ = ["parse_quantity", "parse_formula", "custom", "load_spec", "parse_spec"]
