"""Property tests: random crash/restart schedules, partitions, loss, duplication, reordering and storage faults
never break SMR safety or linearizability, and every request completes once a majority can talk again.
With a majority down or cut off, nothing is decided and nothing unsafe happens."""

from __future__ import annotations

from bftlab.api import Accepted, Executed
from bftlab.core.kernel import NS
from tests.multipaxos.common import PROTO, random_doc, simulate

SEEDS = range(60)
REQUESTS = 60


def test_random_fault_schedules_keep_both_oracles_and_finish_every_request():
    leader_changes = catchups = lost = 0
    for seed in SEEDS:
        doc = random_doc(seed, REQUESTS)
        _, rep = simulate(doc)
        where = f"seed {seed}: n={doc['n']} faults={doc['faults']} network={doc['network']} " \
                f"adversary={doc.get('adversary')} storage={doc['storage']}"
        assert rep["safety"]["ok"], (where, rep["safety"]["violations"][:3])
        assert rep["oracles"]["smr"]["safe"] and rep["oracles"]["linearizability"]["verdict"] == "ok", where
        assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == REQUESTS, where
        by_type = rep["metrics"]["messages"]["by_type"]
        leader_changes += by_type.get("Prepare", 0) > 0
        catchups += by_type.get("Decisions", 0) > 0
        lost += rep["metrics"]["storage"]["lost_records"]
    # The schedules do exercise the protocol: elections, catch-up, and crashes that lost unsynced records.
    assert leader_changes >= 30 and catchups >= 30 and lost > 0, (leader_changes, catchups, lost)


def base(**extra: object) -> dict:
    return {"name": "multipaxos-majority", "seed": 3, "n": 3,
            "protocol": {"name": PROTO, "params": {"heartbeat_s": 0.02, "election_timeout_s": 0.1,
                                                   "client_retry_s": 0.15}},
            "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
            "workload": {"clients": 2, "mode": "open", "rate_rps": 50, "requests": 60},
            "trace": {"keep": True}, **extra}


def test_with_a_majority_crashed_nothing_is_decided_and_nothing_is_unsafe():
    sim, rep = simulate(base(allow_exceeding_f=True, stop={"time_limit_s": 3.0},
                             faults=[{"node": 1, "crash_at_s": 0.3}, {"node": 2, "crash_at_s": 0.3}]))
    late = [t for t, e in sim.history if type(e) in (Executed, Accepted) and t > 0.3 * NS]
    assert rep["safety"]["ok"] and rep["oracles"]["linearizability"]["verdict"] == "ok"
    assert late == [] and 0 < rep["metrics"]["committed"] < 60 and not rep["liveness"]["ok"]


def test_with_no_majority_able_to_talk_nothing_is_decided_until_the_partition_heals():
    cut, heal = 0.3, 1.0
    sim, rep = simulate(base(stop={"time_limit_s": 10.0},
                             network={"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                                      "partitions": [{"start_s": cut, "end_s": heal, "groups": [[1], [2]]}]}))
    during = [t for t, e in sim.history if type(e) is Executed and cut * NS + 10**7 < t < heal * NS]
    after = [t for t, e in sim.history if type(e) is Accepted and t >= heal * NS]
    assert during == [] and after  # stuck while no two replicas can talk, moving again once they can
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["metrics"]["committed"] == 60
    assert rep["oracles"]["linearizability"]["verdict"] == "ok"
