"""The one model definition: parameters, layer kinds (``verify.model.layers``), builders,
activations and losses. Every job reads a :class:`Model`; none keeps its own copy of the layers."""

from verify.model.core import *  # noqa: F401,F403
from verify.model.core import __all__ as _core_all

__all__ = list(_core_all)
