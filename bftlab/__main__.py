"""``python -m bftlab`` is the ``bftlab`` command."""

import sys

from bftlab.cli import main

sys.exit(main())
