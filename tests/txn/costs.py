"""Measuring one fault-free transaction's cost, shared by the commit protocols' cost tests.

One client, one transaction over all N participants, constant link latency
``DELTA``, zero CPU cost and zero storage latency, so that the client's latency
is a whole number of message delays. :func:`one_transaction` runs two- and
three-phase commit (N participants and a separate coordinator) and drains the
run for a second after the answer, so that messages sent after it (2PC's ACKs)
are counted; Paxos Commit's runs are made by :mod:`tests.paxoscommit.common`
(``doc`` and ``simulate``), which :func:`measure` reuses.

A *forced write* is a ``Sync`` the protocol waits for before acting
(:class:`~bftlab.protocols.twopc.log.ForcedLog` counts them for 2PC and 3PC;
Paxos Commit's :class:`~bftlab.protocols.paxoscommit.durability.WriteAhead`
issues one Sync per step with forced records and nothing else, so its token is
the count); unforced writes (2PC's begin and end records, 3PC's participants'
decision records) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.api import Accepted
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict

DELTA = 0.010
TX = 1e-6  # each message also takes its transmission time (nanoseconds at 1 Tbit/s)
ZERO_CPU = {"base_us": 0.0, "per_byte_ns": 0.0, "sign_us": 0.0, "verify_us": 0.0, "mac_us": 0.0,
            "hash_base_us": 0.0, "hash_per_byte_ns": 0.0}
TWOPC = "bftlab.protocols.twopc:PROTOCOL"
THREEPC = "bftlab.protocols.threepc:PROTOCOL"
PAXOSCOMMIT = "bftlab.protocols.paxoscommit:PROTOCOL"


def one_transaction(proto: str, n_parts: int, drain_s: float = 1.0) -> tuple[runner.Simulation, dict[str, Any]]:
    """2PC or 3PC: one transaction over ``n_parts`` participants; the finished simulation and its report."""
    from tests.twopc.helpers import spec

    data = spec(proto, shards=n_parts, k=n_parts, cpu=ZERO_CPU,
                network={"latency_model": "constant", "latency_ms": 1e3 * DELTA, "bandwidth_mbps": 1e6},
                storage={"fsync_ms": 0.0, "write_us": 0.0}, workload={"clients": 1, "requests": 1})
    data["stop"] = {**data["stop"], "settle_s": drain_s}
    sim = runner.build(spec_from_dict(data))
    sim.run()
    return sim, sim.report(1.0)


@dataclass(frozen=True)
class Cost:
    """One committed transaction's cost."""

    messages: int
    """Every message sent, the client's request and answer included."""
    by_type: dict[str, int]
    delays: int
    """Message delays from the client's request to its answer."""
    forced: int
    """Forced log writes, over all replicas."""


PAPER_LAYOUT = {"thrifty": True, "bundle_2b": True}
"""Paxos Commit's parameters for Gray & Lamport's normal-case layout: Phase 2a to F+1 acceptors, one bundled
Phase 2b and one forced write per acceptor (the leader shares a node with acceptor 0 in every layout)."""


def measure(proto: str, n_parts: int, f: int = 1, **params: Any) -> Cost:
    """The cost of one transaction over ``n_parts`` participants (``f`` and ``params``: Paxos Commit's acceptor
    faults and protocol parameters)."""
    if proto == PAXOSCOMMIT:
        from tests.paxoscommit.common import doc, simulate

        sim, rep = simulate(doc(shards=n_parts, faults_f=f, shards_per_txn=n_parts, **params))
        (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
        delays = accepted / (DELTA * 1e9)  # doc's links are 10 ms, no transmission time
        forced = sum(sim.nodes[r].wal.token for r in sim.replicas)
    else:
        sim, rep = one_transaction(proto, n_parts)
        delays = rep["metrics"]["latency_s"]["max"] / DELTA
        forced = sum(sim.nodes[r].log.forced for r in sim.replicas)
    if abs(delays - round(delays)) > TX / DELTA:
        raise AssertionError(f"{proto}: latency is not a whole number of delays ({delays})")
    assert rep["oracles"]["atomicity"]["committed"] == 1, rep["oracles"]["atomicity"]
    msgs = rep["metrics"]["messages"]
    return Cost(msgs["total"], dict(msgs["by_type"]), round(delays), forced)
