"""The spec's adversary section on the real transport: the simulator's wiring, adapted to a process.

Each process builds one :class:`bftlab.attack.wiring.Attack` (the class the
simulator uses) with the ids it hosts and its name. Node strategies wrap the
controlled replica in the same :class:`~bftlab.attack.wiring.ByzantineNode`,
inside that replica's process; a strategy controlling several replicas
therefore gets one instance per process and cannot coordinate them through
shared memory. Each instance has its own stream
``seeds.rng(seed, "adversary/<name>/node<ids>")``: strategies keep no state
across processes (a partition schedule is the same everywhere; random choices
are per sender).

Network strategies run inside the *sending* process: the runtime asks them
about every message it is about to put on a connection (see
:meth:`bftlab.transport.runtime.Host._send`) and then drops it, sends it,
holds copies in a bounded delay queue, or sends several copies. There is no
network model, so an envelope's ``arrival_s`` equals its ``sent_s``; both are
seconds on the runtime clock, which starts at the launcher's ``go`` (or at
process start for a node started by hand), so the strategies' time windows mean
the same as in the simulator.

Every process reports :meth:`~bftlab.attack.wiring.Attack.tally` in its
``stats`` line; :func:`summary` sums them into the report's ``adversary``
section, shaped exactly as the simulator's.

What happens is real time, not simulated time: runs are not reproducible from
the seed, and delays add to the real network's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bftlab.attack.wiring import Attack, summarize
from bftlab.core.kernel import NS, to_ns
from bftlab.transport.runtime import Router

if TYPE_CHECKING:  # annotations only: bftlab.specs imports engine modules, so a run-time import could cycle
    from bftlab.specs.spec import ExperimentSpec


def attack_for(spec: ExperimentSpec, ids: Sequence[int], proc_name: str) -> Attack | None:
    """The adversary of the process hosting ``ids`` (named ``proc_name``), or None if the spec has none."""
    return Attack(spec, hosted=frozenset(ids), process=proc_name) if spec.adversary else None


def network_router(attack: Attack | None) -> Router | None:
    """The runtime's router: ``attack``'s network strategies on the runtime clock, or None if it has none.

    A message arrives when it is sent (no network model), and the strategies'
    delays become the extra delays, in seconds, of each copy the host sends.
    """
    if attack is None or not attack.network:
        return None
    fan_out = attack.fan_out()

    def route(src: int, dst: int, msg: Any, size: int, now_s: float) -> list[float]:
        t = to_ns(now_s)
        return [(x - t) / NS for x in fan_out(src, dst, msg, size, t, t)]

    return route


def summary(spec: ExperimentSpec, stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``adversary`` entry, from every process's ``stats`` line (its ``adversary`` tally)."""
    return summarize(spec, [st.get("adversary") for st in stats], spec.byzantine)
