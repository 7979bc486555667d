"""``python -m verify`` is the ``verify`` command."""

import sys

from verify.jobs.cli import main

sys.exit(main())
