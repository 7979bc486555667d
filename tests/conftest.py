"""Hypothesis profiles and shared test helpers.

Profiles (chosen by the HYPOTHESIS_PROFILE environment variable, default ``dev``):
  * ``dev``: random exploration, local example database.
  * ``ci``: derandomized, no database, prints reproduction blobs; what ``.ci/run`` uses.
``deadline=None`` everywhere because SymPy work has no stable per-example time.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=50,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
