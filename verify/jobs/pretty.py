"""Display-only Unicode for the ASCII math in verdicts and audit texts (``||W||_F^2 <= eps`` ->
``‖W‖_F² ≤ ε``). It lives in ``verify._infra.mathml`` beside the MathML typesetter, so that the
notebook displays of verdicts and audit reports (lower layers) use the same notation as the report."""

from verify._infra.mathml import pretty

__all__ = ["pretty"]
