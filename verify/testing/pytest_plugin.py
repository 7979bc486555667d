"""The pytest plugin that ships with verify: Hypothesis settings profiles for tests that prove.

Installing the package registers this module as a pytest plugin (entry point ``pytest11``, name
``verify``), so in every pytest run:

* the profile ``"verify"`` is registered and loaded. It is Hypothesis's default profile with
  ``deadline=None``: each example of a ``@given`` test built on :mod:`verify.testing.strategies`
  runs an exact SymPy proof, which takes 0.02-0.5 s depending on the drawn network and has no
  stable per-example time, so Hypothesis's default 200 ms deadline would fail such tests with
  ``DeadlineExceeded`` (or ``Flaky``) for reasons that have nothing to do with the law tested.
  Everything else (``max_examples=100``, the example database, health checks) stays as
  Hypothesis sets it.
* the profile ``"verify-ci"`` is registered for a short, reproducible run:
  ``pytest --hypothesis-profile=verify-ci`` (10 examples per test, derandomized, no example
  database, reproduction blobs printed).

Your own choices win: a profile you load in ``conftest.py`` (``settings.load_profile(...)``) or
pass as ``--hypothesis-profile NAME`` replaces ``"verify"``, because this plugin is imported
before conftest files and before Hypothesis reads its command-line option. ``pytest -p no:verify``
turns the plugin off. This module imports Hypothesis only, so it costs nothing at pytest start.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = ["PROFILE", "CI_PROFILE"]

#: The profile loaded by the plugin: Hypothesis's defaults, without the per-example deadline.
PROFILE = "verify"
#: A short reproducible profile for CI: ``pytest --hypothesis-profile=verify-ci``.
CI_PROFILE = "verify-ci"

settings.register_profile(PROFILE, deadline=None)
settings.register_profile(CI_PROFILE, parent=settings.get_profile(PROFILE), max_examples=10,
                          derandomize=True, database=None, print_blob=True)
settings.load_profile(PROFILE)
