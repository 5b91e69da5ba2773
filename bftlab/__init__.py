"""bftlab: deterministic simulation of Byzantine-fault-tolerant consensus protocols.

Layers, bottom up (a module imports only from layers below it):

* ``errors``, ``api`` (the sans-IO node contract), ``costs``, ``seeds``, ``wire``
* ``schema`` (typed YAML loading), ``registry`` (plugins by name), ``spec`` (the experiment spec)
* ``kernel``, ``network``, ``simnet`` (the simulator), ``checker``, ``metrics``
* ``runner`` (spec -> report), ``report`` (report -> files and tables)
* ``cli`` (the ``bftlab`` command)

This package imports nothing heavy on import: the names below load on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bftlab.errors import BftlabError, ConfigError, InvariantError, UsageError

try:
    __version__ = version("bftlab")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_LAZY = {
    "ExperimentSpec": "bftlab.specs.spec",
    "load_spec": "bftlab.specs.spec",
    "spec_to_yaml": "bftlab.specs.spec",
    "write_outputs": "bftlab.reports.report",
}

__all__ = ["BftlabError", "ConfigError", "InvariantError", "UsageError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bftlab' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
