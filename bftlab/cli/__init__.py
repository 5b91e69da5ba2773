"""The ``bftlab`` command: ``main`` parses arguments and dispatches to the sub-command modules.

The top layer: may import every other engine package.
"""

from bftlab.cli.main import main

__all__ = ["main"]
