"""Shared helpers of the ZAB tests: harness stepping and simulator specs."""

from __future__ import annotations

from typing import Any

from bftlab.protocols.zab.messages import LEADING
from bftlab.protocols.zab.phases import BROADCAST
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import Harness

ZAB = "bftlab.protocols.zab:PROTOCOL"
ACK_FIRST = "tests.zab.ackfirst:ACK_FIRST"
FAST = {"tick_s": 0.02, "leader_timeout_s": 0.1, "election_timeout_s": 0.05, "sync_timeout_s": 0.15,
        "client_retry_timeout_s": 0.2}


def settle(h: Harness, rounds: int = 200) -> None:
    """Deliver everything in flight and complete every Sync, until nothing moves (timers untouched)."""
    for _ in range(rounds):
        moved = h.complete_syncs() if h.hold_syncs else 0
        moved += h.deliver_all()
        if not moved:
            return


def leader_of(h: Harness, among: tuple[int, ...] | None = None) -> int | None:
    """The replica that leads an established epoch (among ``among``), or None."""
    for r in among if among is not None else h.replicas:
        node = h.nodes[r]
        if r not in h.crashed and node.state == LEADING and node.phase == BROADCAST:
            return r
    return None


def run_until_leader(h: Harness, among: tuple[int, ...] | None = None, max_s: float = 3.0) -> int:
    """Advance time in small steps (firing election timers) until an epoch is established."""
    t = 0.0
    while t < max_s:
        settle(h)
        r = leader_of(h, among)
        if r is not None:
            return r
        h.advance(0.01)
        t += 0.01
    raise AssertionError(f"no leader established within {max_s} s")


def spec(seed: int = 1, *, n: int = 3, proto: str = ZAB, requests: int = 60, clients: int = 2,
         faults: list[dict] | None = None, raw: bool = False, **extra: Any) -> Any:
    doc: dict[str, Any] = {
        "name": "zab-test", "seed": seed, "n": n,
        "protocol": {"name": proto, "params": dict(FAST)},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
        "workload": {"clients": clients, "mode": "closed", "requests": requests},
        "storage": {"faults": "lose-unsynced"}, "faults": faults or [],
        "trace": {"keep": True}, "stop": {"time_limit_s": 10.0},
    }
    for key, value in extra.items():
        doc[key] = value
    return doc if raw else spec_from_dict(doc)


def simulate(s: Any) -> tuple[runner.Simulation, dict]:
    sim = runner.build(s)
    sim.run()
    return sim, sim.report(1.0)


def no_exceptions(sim_or_h: Any, n: int) -> bool:
    """No replica dropped a message because handling it raised (that would be our bug, not the peer's)."""
    return all(not sim_or_h.nodes[r].counters.get("drop.exception") for r in range(n))
