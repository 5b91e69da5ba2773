"""bftlab: deterministic simulation and real-network runs of fault-tolerant consensus protocols.

Layers, bottom up (a package imports only from layers below it; each
sub-package's docstring says what it may import):

* ``errors``, ``api`` (the sans-IO contract every plug-in implements), ``core`` (kernel, seeds, costs, wire, keys)
* ``oracles`` (judges of runs), ``specs`` (typed YAML loading, the plug-in registry, the experiment spec)
* ``reports`` (metrics and report layout), ``sim`` (the simulator), ``transport`` (the real runtime)
* ``pipeline`` (the one dispatcher and the notebook API), ``fuzz``, ``testing`` (the public test harness)
* ``experiments`` (sweeps, store, executors), ``plots``, ``cli`` (the ``bftlab`` command)

Plug-ins (``bftlab.protocols``, ``bftlab.crypto``, ``bftlab.adversary``, and a
user's own packages) sit beside the engine: they import its small APIs, and the
engine finds them by registered name or dotted path, never by import.

For notebooks: ``bftlab.run(spec, overrides=[...])`` returns a typed report and
``bftlab.load_results(experiment)`` a sweep's results as a pandas DataFrame.
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
    "run": "bftlab.pipeline",
    "load_results": "bftlab.pipeline",
    "RunReport": "bftlab.pipeline",
}

__all__ = ["BftlabError", "ConfigError", "InvariantError", "UsageError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bftlab' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
