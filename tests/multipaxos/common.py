"""Spec builders and random fault schedules shared by the Multi-Paxos tests."""

from __future__ import annotations

import random
from typing import Any

from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict

PROTO = "bftlab.protocols.multipaxos:PROTOCOL"
FAST = {"heartbeat_s": 0.02, "election_timeout_s": 0.1, "client_retry_s": 0.15}


def crash_schedule(rng: random.Random, n: int, rounds: int = 3) -> list[dict]:
    """Crash/restart rounds: in each at most f = (n-1)//2 replicas go down together, and the next round starts
    at least 0.3 s after the last restart."""
    f = (n - 1) // 2
    t, out = 0.05, []
    for _ in range(rounds):
        down = rng.sample(range(n), rng.randint(1, f))
        last = t
        for node in down:
            crash = round(t + rng.uniform(0.0, 0.2), 4)
            back = round(crash + rng.uniform(0.02, 0.4), 4)
            out.append({"node": node, "crash_at_s": crash, "recover_at_s": back})
            last = max(last, back)
        t = last + 0.3
    return out


def random_doc(seed: int, requests: int = 60) -> dict[str, Any]:
    """A run with crashes, a partition, loss and one network adversary, all healed by ~2.5 s."""
    rng = random.Random(seed)
    n = rng.choice((3, 5))
    clients = rng.randint(1, 3)
    faults = crash_schedule(rng, n, rounds=rng.randint(1, 3))
    network: dict[str, Any] = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                               "loss": rng.choice((0.0, 0.02, 0.05))}
    if rng.random() < 0.6:  # cut off a minority (often the initial leader) for a while
        minority = [0] if rng.random() < 0.5 else rng.sample(range(n), (n - 1) // 2)
        start = round(rng.uniform(0.05, 1.5), 3)
        network["partitions"] = [{"start_s": start, "end_s": round(start + rng.uniform(0.1, 0.6), 3),
                                  "groups": [minority]}]
    doc: dict[str, Any] = {
        "name": "multipaxos-prop", "seed": seed, "n": n,
        "protocol": {"name": PROTO, "params": FAST},
        "network": network,
        # Open loop, so that requests arrive all through the faults (about 2.5 s).
        "workload": {"clients": clients, "mode": "open", "rate_rps": requests / 2.5, "requests": requests, "keys": 8,
                     "read_fraction": 0.3},
        "storage": {"faults": rng.choice(("none", "lose-unsynced", "torn-tail"))},
        "faults": faults, "stop": {"time_limit_s": 30.0},
    }
    adv = rng.choice(("none", "reorder", "replay", "random-delay"))
    if adv == "reorder":
        doc["adversary"] = {"strategy": "reorder", "params": {"fraction": 0.2, "max_hold_s": 0.02, "end_s": 2.5}}
    elif adv == "replay":
        doc["adversary"] = {"strategy": "replay", "params": {"fraction": 0.1, "max_age_s": 0.5, "end_s": 2.5}}
    elif adv == "random-delay":
        doc["adversary"] = {"strategy": "random-delay", "params": {"delay_max_s": 0.02, "end_s": 2.5}}
    return doc


def simulate(doc: dict[str, Any]) -> tuple[runner.Simulation, dict]:
    sim = runner.build(spec_from_dict(doc))
    sim.run()
    return sim, sim.report(1.0)
