"""Randomised runs: crash/restart schedules within the budget, partitions, loss, duplication, reordering and
storage faults never break the SMR and linearizability oracles, and every request completes once a majority
can talk again; with a majority crashed or cut off nothing commits and nothing unsafe happens."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bftlab.api import Executed
from bftlab.core.kernel import NS

from .helpers import no_exceptions, simulate, spec

SEEDS = range(60)
FAULTS_END_S = 2.0  # every fault heals by then; the run may last until its time limit


def crash_schedule(rng: random.Random, n: int) -> list[dict]:
    """Rounds of crashes of at most f replicas at once; the next round starts >= 0.3 s after the last restart."""
    f = (n - 1) // 2
    t, out = 0.05, []
    while True:
        start = t + rng.uniform(0.0, 0.3)
        group = rng.sample(range(n), rng.randint(1, f))
        last = start
        for node in group:
            crash = round(start + rng.uniform(0.0, 0.05), 4)
            back = round(crash + rng.uniform(0.02, 0.4), 4)
            if back > FAULTS_END_S - 0.3:
                return out
            out.append({"node": node, "crash_at_s": crash, "recover_at_s": back})
            last = max(last, back)
        t = last + 0.3


def network(rng: random.Random, n: int) -> tuple[dict, list[dict]]:
    latency = rng.choice([1.0, 2.0, 5.0])
    net: dict[str, Any] = {"latency_model": "uniform", "latency_ms": latency,
                           "jitter_ms": latency * rng.choice([0.0, 0.5, 1.0]),
                           "loss": rng.choice([0.0, 0.0, 0.01, 0.05])}
    if rng.random() < 0.5:  # a minority (possibly the leader) cut off for a while
        start = rng.uniform(0.1, 1.2)
        net["partitions"] = [{"start_s": round(start, 3), "end_s": round(start + rng.uniform(0.1, 0.5), 3),
                              "groups": [rng.sample(range(n), (n - 1) // 2)]}]
    adv = []
    kind = rng.choice(["reorder", "replay", "random-delay", "none"])
    if kind == "reorder":
        adv.append({"strategy": "reorder", "params": {"fraction": 0.2, "max_hold_s": 0.03, "end_s": FAULTS_END_S}})
    elif kind == "replay":
        adv.append({"strategy": "replay", "params": {"fraction": 0.1, "max_age_s": 0.5, "end_s": FAULTS_END_S}})
    elif kind == "random-delay":
        adv.append({"strategy": "random-delay", "params": {"delay_max_s": 0.02, "drop": 0.02,
                                                            "end_s": FAULTS_END_S}})
    return net, adv


def random_spec(seed: int) -> Any:
    rng = random.Random(seed)
    n = 3 if seed % 2 == 0 else 5
    net, adv = network(rng, n)
    return spec(seed, n=n, requests=60, clients=2, faults=crash_schedule(rng, n), network=net, adversary=adv,
                storage={"faults": rng.choice(["lose-unsynced", "lose-unsynced", "torn-tail", "none"]),
                         "fsync_ms": rng.choice([0.0, 1.0, 3.0])},
                stop={"time_limit_s": 12.0})


def test_random_faults_never_break_the_oracles_and_every_request_completes():
    crashed = lost = elections = 0
    for seed in SEEDS:
        s = random_spec(seed)
        sim, rep = simulate(s)
        where = f"seed {seed}"
        assert rep["safety"]["ok"], (where, rep["safety"]["violations"][:3])
        assert all(v["safe"] for v in rep["oracles"].values()), (where, rep["oracles"])
        assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 60, (where, rep["liveness"])
        assert no_exceptions(sim, s.n), where
        crashed += len(s.faults)
        lost += rep["metrics"]["storage"]["lost_records"]
        elections += sum(sim.nodes[r].counters.get("zab.elections", 0) for r in range(s.n))
    # The schedules do exercise the protocol: crashes lost unsynced writes and leaders changed.
    assert crashed > 60 and lost > 0 and elections > 30


@pytest.mark.parametrize("how", ["crash", "partition"])
def test_without_a_majority_nothing_commits_and_nothing_unsafe_happens(how):
    """n=5: three replicas crash (beyond f=2) or the network splits 2/2/1, from 0.4 s to 1.2 s."""
    kw: dict[str, Any] = {}
    if how == "crash":
        kw["faults"] = [{"node": r, "crash_at_s": 0.4, "recover_at_s": 1.2} for r in (2, 3, 4)]
        kw["allow_exceeding_f"] = True
    else:
        kw["network"] = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                         "partitions": [{"start_s": 0.4, "end_s": 1.2, "groups": [[0, 1], [2, 3], [4]]}]}
    sim, rep = simulate(spec(11, n=5, requests=400, **kw))
    assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
    assert all(v["safe"] for v in rep["oracles"].values())
    executed = [(t, e) for t, e in sim.history if type(e) is Executed]
    before = max(e.seq for t, e in executed if t < 0.4 * NS)
    # Some replicas still execute what was committed before the split (COMMITs in flight); nothing beyond.
    assert all(e.seq <= before for t, e in executed if 0.41 * NS < t < 1.2 * NS)
    assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 400  # it resumes once a majority is back


def test_the_schedule_that_once_made_two_leaders_of_one_epoch_is_safe():
    """Pinned: with heavy replay and reordering, two prospective leaders picked epoch 5 from different quorums
    and both established it, and replica 1 executed index 35 twice; ACKEPOCH now says whether it counts."""
    adv = [{"strategy": "replay", "params": {"fraction": 0.3, "max_age_s": 1.0, "copies": 2, "end_s": 2.0}},
           {"strategy": "reorder", "params": {"fraction": 0.3, "max_hold_s": 0.05, "end_s": 2.0}}]
    faults = [{"node": 0, "crash_at_s": 0.3565, "recover_at_s": 0.6171},
              {"node": 1, "crash_at_s": 0.9828, "recover_at_s": 1.252}]
    sim, rep = simulate(spec(36, n=3, requests=80, clients=3, faults=faults, adversary=adv,
                             network={"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 2.0, "loss": 0.1},
                             storage={"faults": "lose-unsynced", "fsync_ms": 1.0}, stop={"time_limit_s": 15.0}))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"][:3]
    assert all(v["safe"] for v in rep["oracles"].values())
    assert not any(sim.nodes[r].counters.get("zab.executed_truncated") for r in range(3))
