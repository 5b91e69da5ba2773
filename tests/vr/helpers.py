"""Shared helpers of the VR tests: build a spec, run it, read the history."""

from __future__ import annotations

from typing import Any

from bftlab.api import Accepted
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict

VR = "bftlab.protocols.vr:PROTOCOL"
FAST = {"commit_interval_s": 0.02, "resend_s": 0.03, "view_change_timeout_s": 0.1, "client_retry_s": 0.2,
        "recovery_retry_s": 0.03}
"""Timeouts scaled to the tests' 2 ms links, so that faults heal and view changes finish quickly."""


def make_doc(seed: int = 1, *, n: int = 3, proto: str = VR, requests: int = 100, clients: int = 1,
             faults: list[dict] | None = None, partitions: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "vr-test", "seed": seed, "n": n,
        "protocol": {"name": proto, "params": dict(FAST)},
        "network": {"latency_model": "constant", "latency_ms": 2.0, "partitions": partitions or []},
        "workload": {"clients": clients, "mode": "closed", "requests": requests},
        "faults": faults or [], "trace": {"keep": True}, "stop": {"time_limit_s": 10.0},
    }
    doc.update(extra)
    return doc


def simulate(doc: dict[str, Any]) -> tuple[runner.Simulation, dict[str, Any]]:
    sim = runner.build(spec_from_dict(doc))
    sim.run()
    return sim, sim.report(1.0)


def exceptions(sim: runner.Simulation, n: int) -> int:
    """Inputs a replica dropped because handling them raised (must stay 0: that would be our bug)."""
    return sum(sim.nodes[r].counters.get("drop.exception", 0) for r in range(n))


def acknowledged(sim: runner.Simulation) -> list[tuple[int, int]]:
    return [(e.client, e.ts) for _, e in sim.history if type(e) is Accepted]


def in_log(sim: runner.Simulation, r: int) -> set[tuple[int, int]]:
    return {(e.client, e.ts) for e in sim.nodes[r].log}
