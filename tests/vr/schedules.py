"""Random fault schedules for the VR property tests: crashes, network adversaries, loss and storage faults.

Every schedule keeps within the crash budget the protocol assumes: at most f
replicas down at once, and at least ``GAP_S`` between a restart and the next
crash of another replica (recovery of a diskless replica needs f+1 live peers,
including the primary, for a round trip or two). All network faults end by
``HEAL_S``, so every request must complete well before the time limit.
"""

from __future__ import annotations

import random
from typing import Any

from tests.vr.helpers import FAST, VR

GAP_S = 0.3
HEAL_S = 1.5


def crashes(rng: random.Random, n: int, count: int) -> list[dict[str, Any]]:
    """``count`` crash/restart pairs, one replica down at a time, ``GAP_S`` between a restart and the next crash."""
    t, out = 0.05, []
    for _ in range(count):
        crash = round(t + rng.uniform(0.0, 0.3), 4)
        back = round(crash + rng.uniform(0.02, 0.3), 4)
        out.append({"node": rng.randrange(n), "crash_at_s": crash, "recover_at_s": back})
        t = back + GAP_S
    return out


def network_adversaries(rng: random.Random) -> list[dict[str, Any]]:
    pool = [
        {"strategy": "random-delay", "params": {"delay_max_s": 0.01, "drop": 0.03, "end_s": HEAL_S}},
        {"strategy": "reorder", "params": {"fraction": 0.2, "max_hold_s": 0.02, "end_s": HEAL_S}},
        {"strategy": "replay", "params": {"fraction": 0.05, "max_age_s": 0.5, "end_s": HEAL_S}},
        {"strategy": "random-partition", "params": {"count": 2, "min_duration_s": 0.05, "max_duration_s": 0.25,
                                                    "end_s": HEAL_S}},
    ]
    return [a for a in pool if rng.random() < 0.4]


def random_spec(seed: int, protocol: str = VR, requests: int = 60) -> dict[str, Any]:
    """One run's spec as a dict: n = 3 or 5, crashes, network faults, storage faults, all drawn from ``seed``."""
    rng = random.Random(seed)
    n = rng.choice((3, 5))
    return {
        "name": "vr-property", "seed": seed, "n": n,
        "protocol": {"name": protocol, "params": FAST},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                    "loss": rng.choice((0.0, 0.0, 0.02))},
        "workload": {"clients": rng.choice((1, 2, 3)), "mode": "closed", "requests": requests},
        "storage": {"faults": rng.choice(("lose-unsynced", "torn-tail", "none"))},
        "faults": crashes(rng, n, rng.randint(1, 3)),
        "adversary": network_adversaries(rng),
        "trace": {"keep": True}, "stop": {"time_limit_s": 20.0},
    }
