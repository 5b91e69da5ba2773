"""CAP, measured: one partition schedule against Raft (CP) and the Dynamo and gossip stores (AP).

The schedule is experiments/cap-partition.yaml's: replicas {0, 1} and clients 5-8
are cut off from replicas {2, 3, 4} and clients 9-12 from 1 s to 3 s, and the
clients stop at the heal. The partition oracle must see Raft refuse the minority
side and never let the sides diverge, see the AP stores answer both sides and
diverge, and catch a Raft leader that answers clients before a majority has
their requests (a planted bug).
"""

from __future__ import annotations

from typing import Any

import pytest

from bftlab.pipeline import execute
from bftlab.specs.spec import spec_from_dict


def cap_spec(protocol: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    return {
        "name": "cap", "seed": seed, "n": 5, "protocol": protocol,
        "network": {"latency_model": "lognormal", "latency_ms": 5.0, "lognormal_sigma": 0.5,
                    "partitions": [{"start_s": 1.0, "end_s": 3.0,
                                    "groups": [[0, 1, 5, 6, 7, 8], [2, 3, 4, 9, 10, 11, 12]]}]},
        "workload": {"clients": 8, "mode": "closed", "requests": 0, "duration_s": 3.0, "keys": 50,
                     "read_fraction": 0.5},
        "oracles": ["convergence", "staleness", "partition"],
        "stop": {"time_limit_s": 60.0, "settle_s": 3.0},
    }


def run(protocol: dict[str, Any], seed: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    report = execute(spec_from_dict(cap_spec(protocol, seed)))
    return report, report["oracles"]["partition"]["windows"][0]


@pytest.mark.parametrize("seed", [1, 2])
def test_raft_refuses_the_minority_side_never_diverges_and_converges_soon_after_the_heal(seed):
    report, w = run({"name": "raft"}, seed)
    minority, majority = w["sides"]
    assert minority["replicas"] == [0, 1] and minority["clients"] == [5, 6, 7, 8]
    assert minority["counted"] >= 1 and minority["availability"] == 0.0
    assert majority["availability"] == 1.0 and majority["answered_rps"] > 100
    assert w["conflicting_keys"] == 0 and w["stale_rate"] == 0.0
    assert report["safety"]["ok"] and report["liveness"]["ok"]
    assert report["oracles"]["convergence"]["live"] is True
    assert report["oracles"]["convergence"]["converge_after_heal_s"] < 0.3


@pytest.mark.parametrize("protocol", [{"name": "dynamo"}, {"name": "gossip"}], ids=["dynamo", "gossip"])
def test_the_ap_stores_answer_both_sides_diverge_and_converge_after_the_heal(protocol):
    report, w = run(protocol)
    assert all(s["availability"] >= 0.95 for s in w["sides"])
    assert w["conflicting_keys"] > 0 and w["stale_rate"] > 0
    assert report["oracles"]["convergence"]["live"] is True
    assert report["oracles"]["convergence"]["converge_after_heal_s"] < 2.0
    assert report["safety"]["ok"] and report["liveness"]["ok"]


def test_a_raft_leader_that_answers_before_replicating_is_seen_serving_the_minority_side_and_diverging():
    params = {"first_candidate": 0, "check_quorum": False}  # replica 0 leads, on the minority side, and stays
    report, w = run({"name": "tests.raft.planted:LOCAL_ANSWERS", "params": params})
    minority = w["sides"][0]
    assert minority["availability"] > 0.5 and minority["stale_reads"] > 0 and w["conflicting_keys"] > 0
    assert report["oracles"]["linearizability"]["verdict"] == "violation"
    _, w = run({"name": "raft", "params": params})
    assert w["sides"][0]["availability"] == 0.0 and w["sides"][0]["stale_reads"] == 0 and w["conflicting_keys"] == 0
