"""The atomicity oracle finds a planted Paxos Commit bug on the coordinator-crash schedule; the correct
protocol is clean on the same seeds."""

from __future__ import annotations

from tests.paxoscommit.common import PROTO, simulate

PLANTED = "tests.paxoscommit.planted:PROTOCOL"


def crash_doc(proto: str, seed: int) -> dict:
    return {"name": "paxoscommit-planted", "seed": seed, "n": 6,
            "protocol": {"name": proto, "params": {"shards": 3, "shards_per_txn": 3}},
            "network": {"latency_model": "uniform", "latency_ms": 5.0, "jitter_ms": 2.0, "loss": 0.05},
            "workload": {"clients": 3, "mode": "closed", "requests": 150, "keys": 64},
            "faults": [{"node": 3, "crash_at_s": 0.3, "recover_at_s": 1.0},
                       {"node": 4, "crash_at_s": 1.5, "recover_at_s": 2.0}],
            "stop": {"time_limit_s": 30.0}}


def test_a_coordinator_that_ignores_phase_1_breaks_atomicity_and_the_oracle_says_so():
    found = 0
    for seed in range(6):
        _, bad = simulate(crash_doc(PLANTED, seed), settle_s=2.0)
        atom = bad["oracles"]["atomicity"]
        if not atom["safe"]:
            found += 1
            kinds = {v["kind"] for v in bad["safety"]["violations"] if v["oracle"] == "atomicity"}
            assert "agreement" in kinds, bad["safety"]["violations"][:3]
        _, good = simulate(crash_doc(PROTO, seed), settle_s=2.0)
        assert good["oracles"]["atomicity"]["safe"] and good["oracles"]["atomicity"]["blocked_at_end"] == 0
    assert found >= 3, found
