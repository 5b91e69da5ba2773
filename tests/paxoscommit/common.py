"""Spec builders, a settle step and the Harness set-up shared by the Paxos Commit tests."""

from __future__ import annotations

import random
from typing import Any

from bftlab.api import Decided, Voted
from bftlab.core.kernel import NS
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict

PROTO = "bftlab.protocols.paxoscommit:PROTOCOL"


def doc(shards: int = 3, faults_f: int = 1, **params: Any) -> dict[str, Any]:
    """A fault-free run with constant 10 ms links, zero CPU and storage cost."""
    return {
        "name": "paxoscommit-test", "seed": 1, "n": shards + 2 * faults_f + 1,
        "protocol": {"name": PROTO, "params": {"shards": shards, "acceptor_faults": faults_f, **params}},
        "network": {"latency_model": "constant", "latency_ms": 10.0, "bandwidth_mbps": 0},
        "workload": {"clients": 1, "mode": "closed", "requests": 1, "keys": 16},
        "storage": {"write_us": 0, "fsync_ms": 0, "faults": "none"},
        "cpu": {k: 0.0 for k in ("base_us", "per_byte_ns", "sign_us", "verify_us", "mac_us", "hash_base_us",
                                 "hash_per_byte_ns")},
        "trace": {"keep": True}, "stop": {"time_limit_s": 30.0},
    }


def simulate(d: dict[str, Any], settle_s: float = 0.0) -> tuple[runner.Simulation, dict]:
    """Run ``d``; with ``settle_s``, keep the simulation going that long after the last client got its answer.

    The simulator stops at the instant the last request is accepted, and the
    coordinator's Decision to the RMs travels as long as its answer to the
    client: without a settling period an RM whose Decision was lost (or is
    still on the wire) would count as blocked although its retries are about
    to resolve it. The final states are taken again after settling.
    """
    sim = runner.build(spec_from_dict(d))
    sim.run()
    if settle_s > 0:
        sim.kernel.run(until_ns=sim.kernel.now + int(settle_s * NS), max_events=d["stop"].get("max_events", 10**8))
        sim._final_states()
    return sim, sim.report(1.0)


def crash_schedule(rng: random.Random, shards: int, f: int, end_s: float) -> list[dict]:
    """Crash/restart rounds: at most ``f`` acceptors down at once, RMs crashing freely; all back by ``end_s``."""
    out: list[dict] = []
    t = 0.05
    acceptors = list(range(shards, shards + 2 * f + 1))
    while t < end_s - 0.3:
        down = rng.sample(acceptors, rng.randint(1, f))
        if rng.random() < 0.5:
            down.append(rng.randrange(shards))
        last = t
        for node in down:
            crash = round(t + rng.uniform(0.0, 0.2), 4)
            back = round(min(end_s, crash + rng.uniform(0.02, 0.5)), 4)
            out.append({"node": node, "crash_at_s": crash, "recover_at_s": back})
            last = max(last, back)
        t = last + rng.uniform(0.05, 0.4)
    return out


def random_doc(seed: int, requests: int = 24) -> dict[str, Any]:
    """Acceptor and RM crashes within the budget, a partition, loss and duplication, all healed by ~2 s."""
    rng = random.Random(seed)
    shards, f = rng.choice((2, 3, 4)), rng.choice((1, 1, 2))
    n = shards + 2 * f + 1
    heal = 2.0
    network: dict[str, Any] = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                               "loss": rng.choice((0.0, 0.02, 0.05, 0.1))}
    clients = rng.randint(1, 3)
    if rng.random() < 0.7:  # two sides, either of which may hold a majority of the acceptors, or neither
        nodes = list(range(n))
        rng.shuffle(nodes)
        cut = rng.randint(1, n - 1)
        sides: list[list[int]] = [nodes[:cut], nodes[cut:]]
        for c in range(n, n + clients):
            rng.choice(sides).append(c)
        start = round(rng.uniform(0.05, 1.2), 3)
        network["partitions"] = [{"start_s": start, "end_s": round(min(heal, start + rng.uniform(0.1, 0.7)), 3),
                                  "groups": [sorted(side) for side in sides]}]
    d: dict[str, Any] = {
        "name": "paxoscommit-prop", "seed": seed, "n": n,
        "protocol": {"name": PROTO, "params": {"shards": shards, "acceptor_faults": f,
                                               "shards_per_txn": rng.randint(1, shards),
                                               "no_vote_probability": rng.choice((0.0, 0.0, 0.1)),
                                               "client_retry_s": 0.3, "max_attempts": 8,
                                               "thrifty": rng.random() < 0.3}},
        "network": network,
        "workload": {"clients": clients, "mode": "open", "rate_rps": requests / heal,
                     "requests": requests, "keys": rng.choice((4, 16))},
        "storage": {"faults": rng.choice(("none", "lose-unsynced", "torn-tail"))},
        "faults": crash_schedule(rng, shards, f, heal),
        "stop": {"time_limit_s": 60.0},
    }
    if rng.random() < 0.5:
        d["adversary"] = {"strategy": "replay", "params": {"fraction": 0.1, "max_age_s": 0.3, "end_s": heal}}
    d["protocol"]["params"]["bundle_2b"] = rng.random() < 0.5  # drawn last: the schedules above stay the same
    return d


def decisions(history: list[tuple[int, Any]]) -> dict[tuple[int, int], dict[int, set[bool]]]:
    """(client, ts) -> node -> the outcomes it reported."""
    out: dict[tuple[int, int], dict[int, set[bool]]] = {}
    for _, e in history:
        if type(e) is Decided:
            out.setdefault((e.client, e.ts), {}).setdefault(e.node, set()).add(e.commit)
    return out


def votes(history: list[Any]) -> list[Voted]:
    return [e for e in history if type(e) is Voted]
