"""Random fault schedules for the Dynamo property test: loss, partitions and crash/restart churn, all healed."""

from __future__ import annotations

import random
from typing import Any


def schedule(seed: int, n: int, clients: int) -> dict[str, Any]:
    """Spec overrides for ``seed``: every partition ends and every crashed replica restarts before 2.5 s."""
    rng = random.Random(f"dynamo-schedule/{seed}")
    nodes = list(range(n + clients))
    partitions = []
    t = rng.uniform(0.05, 0.4)
    for _ in range(rng.randint(1, 2)):
        end = t + rng.uniform(0.2, 0.8)
        rng.shuffle(nodes)
        cut = rng.randint(1, len(nodes) - 1)
        partitions.append({"start_s": round(t, 3), "end_s": round(end, 3),
                           "groups": [sorted(nodes[:cut]), sorted(nodes[cut:])]})
        t = end + rng.uniform(0.05, 0.3)
    faults = []
    free_at = dict.fromkeys(range(n), 0.0)
    for _ in range(rng.randint(1, 4)):  # churn: replicas leave and come back, some more than once
        node = rng.randrange(n)
        crash = max(free_at[node], rng.uniform(0.05, 1.5))
        back = crash + rng.uniform(0.1, 0.8)
        faults.append({"node": node, "crash_at_s": round(crash, 3), "recover_at_s": round(back, 3)})
        free_at[node] = back + 0.05
    return {
        "network": {"loss": rng.choice([0.0, 0.02, 0.05]), "partitions": partitions},
        "faults": sorted(faults, key=lambda f: f["crash_at_s"]),
        "allow_exceeding_f": True,
        "params": {"mode": ("vector", "lww")[seed % 2], "routing": ("preference", "any")[(seed // 2) % 2],
                   "r": rng.choice([1, 2]), "w": rng.choice([1, 2])},
    }
