"""The real transport: the same sans-IO nodes as OS processes talking over TCP, on trio.

Layers, bottom up (a module imports only from layers above it in this list):

* ``framing``: length-prefixed frames of many messages, session MACs, replay counters (sans-IO)
* ``handshake``: Ed25519-authenticated connection set-up with per-connection keys
* ``runtime``: :class:`~bftlab.transport.runtime.Host`, which steps nodes and runs their actions on trio
* ``adversary``: the spec's network and node strategies, built inside each process
* ``events``: history event logs written by each process
* ``node_main``: one process (a replica, or a group of clients with their workload)
* ``cluster``: the local launcher and supervisor, and the report

Entry points: ``bftlab run SPEC --set transport.kind=real`` (a local cluster,
:func:`bftlab.transport.cluster.run_real`) and ``bftlab node SPEC --id N`` (one
node, e.g. on another machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: this package's modules load lazily, on the real-transport path
    from bftlab.api import RunOptions
    from bftlab.specs.spec import ExperimentSpec

__all__ = ["run_real"]


def run_real(spec: ExperimentSpec, keep_dir: str | Path | None = None,
             options: RunOptions | None = None) -> dict[str, Any]:
    """Run ``spec`` as a local cluster of processes; see :func:`bftlab.transport.cluster.run_real`."""
    from bftlab.api import RunOptions
    from bftlab.transport.cluster import run_real as _run

    return _run(spec, keep_dir, options if options is not None else RunOptions())
