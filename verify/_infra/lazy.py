"""Public names of a package resolved on first use (PEP 562), so that importing the package, as
every spawned sweep worker does, costs nothing until a name is used."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_exports(namespace: dict, module_of: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for the package whose globals are ``namespace``: ``name`` is
    looked up in submodule ``module_of[name]`` when first asked for, then cached in the package."""
    package = namespace["__name__"]

    def __getattr__(name: str):
        if name in module_of:
            value = getattr(import_module(f".{module_of[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(module_of))

    return __getattr__, __dir__
