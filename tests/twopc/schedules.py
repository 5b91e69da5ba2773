"""Random crash/restart schedules for the commit protocols' property tests (drawn from a seed, replayable)."""

from __future__ import annotations

import random
from typing import Any


def crash_schedule(seed: int, n: int, *, nodes: list[int] | None = None, max_crashes: int = 3,
                   until_s: float = 0.8, max_down_s: float = 0.6) -> list[dict[str, Any]]:
    """1..max_crashes crash/restart windows of random replicas (never two overlapping on one replica)."""
    rng = random.Random(seed)
    pool = nodes if nodes is not None else list(range(n))
    faults: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, max_crashes)):
        node = rng.choice(pool)
        start = round(rng.uniform(0.0, until_s), 4)
        end = round(start + rng.uniform(0.02, max_down_s), 4)
        if any(f["node"] == node and start < f["recover_at_s"] and f["crash_at_s"] < end for f in faults):
            continue
        faults.append({"node": node, "crash_at_s": start, "recover_at_s": end})
    return faults
