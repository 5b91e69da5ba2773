"""Property: whenever the network eventually heals, all live replicas end with the same store.

Each seed draws a scenario: n, the spreading mode and its parameters, message
loss, replicas that crash (some for good, some recovering), and a partition
that ends before the time limit. The run's final states (what the convergence
oracle reads) are compared here directly, and the oracle's verdict must agree.
"""

from __future__ import annotations

import random

import pytest

from bftlab.api import FinalState
from bftlab.pipeline import execute
from bftlab.protocols.gossip import run as gossip_run
from bftlab.specs.spec import spec_from_dict
from tests.gossip.helpers import PROTO

SEEDS = range(1, 61)


def scenario(seed: int) -> dict:
    rnd = random.Random(seed)
    n = rnd.randint(3, 9)
    mode = rnd.choice(["anti-entropy", "both", "both"])
    params = {"mode": mode, "anti_entropy": rnd.choice(["push", "pull", "push-pull"]),
              "feedback": rnd.random() < 0.5, "counter": rnd.random() < 0.5, "k": rnd.randint(1, 4),
              "anti_entropy_period_s": rnd.choice([0.5, 1.0]), "rumor_period_s": 0.2}
    faults = []
    for node in rnd.sample(range(n), rnd.randint(0, n - 1)):  # at least one replica stays up
        crash = round(rnd.uniform(0.1, 5.0), 3)
        recover = round(crash + rnd.uniform(0.5, 10.0), 3) if rnd.random() < 0.6 else None
        faults.append({"node": node, "crash_at_s": crash, **({"recover_at_s": recover} if recover else {})})
    partitions = []
    if rnd.random() < 0.7:
        cut = rnd.sample(range(n + 2), rnd.randint(1, n))
        start = round(rnd.uniform(0.0, 4.0), 3)
        partitions.append({"start_s": start, "end_s": round(start + rnd.uniform(1.0, 15.0), 3), "groups": [cut]})
    return {
        "name": f"gossip-property-{seed}", "seed": seed, "n": n,
        "protocol": {"name": PROTO, "params": params},
        "workload": {"clients": 2, "requests": rnd.randint(10, 60), "keys": rnd.randint(2, 12),
                     "read_fraction": 0.2},
        "network": {"latency_ms": 5.0, "jitter_ms": 3.0, "loss": rnd.choice([0.0, 0.05, 0.2]),
                    "partitions": partitions},
        "faults": faults,
        "stop": {"time_limit_s": 200.0},
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_live_replicas_converge_once_the_network_heals(seed):
    spec = spec_from_dict(scenario(seed))
    sim = gossip_run.build(spec)
    finals: dict[int, dict] = {}
    observe = sim.panel.observe

    def spy(t: int, ev: object) -> None:
        if type(ev) is FinalState:
            finals[ev.node] = ev.state
        observe(t, ev)

    sim.panel.observe = spy  # type: ignore[method-assign]  # the oracles' feed
    sim.run()
    alive = [r for r in sim.replicas if sim.runtime.hosts[r].alive]
    assert sorted(finals) == alive and alive
    stores = {repr(finals[r]["entries"]) for r in alive}
    assert len(stores) == 1, f"seed {seed}: {len(stores)} different stores among live replicas {alive}"
    assert sim.converged_at_s is not None


def test_the_oracle_flags_replicas_that_never_reconnect():
    d = scenario(7)
    d["n"] = 4
    d["faults"] = []
    d["protocol"]["params"]["mode"] = "anti-entropy"
    d["network"]["loss"] = 0.0
    d["network"]["partitions"] = [{"start_s": 0.0, "end_s": 1000.0, "groups": [[0, 4], [1, 2, 3, 5]]}]
    d["stop"]["time_limit_s"] = 20.0
    report = execute(spec_from_dict(d))
    assert report["metrics"]["gossip"]["converged"] is False
    assert report["oracles"]["convergence"]["live"] is False
