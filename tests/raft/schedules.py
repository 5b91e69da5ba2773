"""Random fault schedules for the Raft property tests (deterministic per seed)."""

from __future__ import annotations

import random
from typing import Any

PROTO = "bftlab.protocols.raft:PROTOCOL"
FAST = {"election_timeout_s": 0.1, "heartbeat_s": 0.02, "client_retry_timeout_s": 0.2}
STORAGE_FAULTS = ("lose-unsynced", "torn-tail", "none")


def crashes(rng: random.Random, n: int, start: float = 0.1, end: float = 2.5) -> list[dict[str, Any]]:
    """Rounds of 1..f simultaneous crashes (never more than f down), each replica back within 0.5 s,
    and at least 0.3 s between the last restart of a round and the next crash."""
    f = (n - 1) // 2
    out: list[dict[str, Any]] = []
    t = start + rng.uniform(0.0, 0.3)
    while t < end:
        down = rng.sample(range(n), rng.randint(1, f))
        back = t
        for node in down:
            crash = round(t + rng.uniform(0.0, 0.05), 4)
            recover = round(crash + rng.uniform(0.05, 0.5), 4)
            out.append({"node": node, "crash_at_s": crash, "recover_at_s": recover})
            back = max(back, recover)
        t = back + 0.3 + rng.uniform(0.0, 0.4)
    return out


def partition(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """One window that cuts a random minority of replicas off from the rest (and from the clients)."""
    f = (n - 1) // 2
    cut = rng.sample(range(n), rng.randint(1, f))
    start = round(rng.uniform(0.2, 2.0), 3)
    return [{"start_s": start, "end_s": round(start + rng.uniform(0.1, 0.8), 3), "groups": [cut]}]


def spec_doc(seed: int, *, proto: str = PROTO, requests: int = 120, clients: int = 3,
             params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run with crashes, a partition, loss, reordering, duplication and a storage fault model, all from ``seed``."""
    rng = random.Random(seed)
    n = 3 if seed % 2 == 0 else 5
    return {
        "name": "raft-property", "seed": seed, "n": n,
        "protocol": {"name": proto, "params": {**FAST, **(params or {})}},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0, "loss": 0.02,
                    "partitions": partition(rng, n)},
        "adversary": [
            {"strategy": "reorder", "params": {"fraction": 0.1, "max_hold_s": 0.03}},
            {"strategy": "replay", "params": {"fraction": 0.05, "max_age_s": 0.5}},
        ],
        "workload": {"clients": clients, "mode": "open", "rate_rps": 40.0, "requests": requests, "keys": 8,
                     "read_fraction": 0.3},
        "storage": {"faults": STORAGE_FAULTS[seed % 3]},
        "faults": crashes(rng, n),
        "stop": {"time_limit_s": 20.0},
    }
