"""Property tests for a user's own suite: ``check``, ``assert_conserved``, Hypothesis strategies
(``verify.testing.strategies``) and, through ``verify.testing.pytest_plugin`` (a pytest plugin
installed with the package), the Hypothesis profile ``verify`` (``deadline=None``).

The names are resolved on first use (PEP 562): the pytest plugin imports this package in every
pytest run, which must not pay for SymPy until a test uses it.
"""

from importlib import import_module as _import_module

from verify._infra.lazy import lazy_exports as _lazy_exports

_exported, __dir__ = _lazy_exports(globals(), {
    "check": "checking", "assert_conserved": "assertions", "NotConserved": "assertions"})


def __getattr__(name: str):
    if name == "strategies":  # a submodule, exported as a name
        return _import_module("verify.testing.strategies")
    return _exported(name)


__all__ = ["check", "assert_conserved", "NotConserved", "strategies"]
