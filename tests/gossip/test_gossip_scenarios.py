"""Message-level gossip scenarios: updates reach every replica, deletes stay deleted, partitions heal."""

from __future__ import annotations

import pytest

from bftlab.core import kv
from bftlab.pipeline import execute
from bftlab.protocols.gossip.replica import GossipReplica
from tests.gossip.helpers import Harness, gossip_spec

K, V1, V2 = b"k", b"v1", b"v2"


@pytest.mark.parametrize("params", [
    {"mode": "anti-entropy", "anti_entropy": "push"},
    {"mode": "anti-entropy", "anti_entropy": "pull"},
    {"mode": "anti-entropy", "anti_entropy": "push-pull"},
    {"mode": "rumor", "feedback": True, "counter": True, "k": 4},
    {"mode": "both", "feedback": False, "counter": False, "k": 1},
])
def test_an_update_reaches_every_replica(params):
    h = Harness(gossip_spec(n=12, **params))
    h.put(0.1, 0, K, V1)
    h.run_until(0.05)
    assert not any(h.has(r, K) for r in range(12))
    h.run_until(30.0)
    assert h.accepted() == 1
    assert all(h.read(r, K) == V1 for r in range(12)), [h.read(r, K) for r in range(12)]
    assert h.distinct_stores() == 1


def test_rumor_mongering_alone_can_miss_sites_and_anti_entropy_repairs_them():
    # blind coin with k = 1: the writer pushes once and loses interest (Table 2: residue 0.96)
    missed = 0
    for seed in range(1, 6):
        h = Harness(gossip_spec(n=20, seed=seed, mode="rumor", feedback=False, counter=False, k=1))
        h.put(0.1, 0, K, V1)
        h.run_until(20.0)
        missed += sum(not h.has(r, K) for r in range(20))
    assert missed > 0
    h = Harness(gossip_spec(n=20, seed=1, mode="both", feedback=False, counter=False, k=1))
    h.put(0.1, 0, K, V1)
    h.run_until(20.0)
    assert all(h.read(r, K) == V1 for r in range(20))


def test_the_last_writer_wins_everywhere():
    h = Harness(gossip_spec(n=8, clients=2))
    h.put(1.0, 0, K, V1)  # client 0 writes at replica 0
    h.put(1.5, 1, K, V2)  # client 1 writes later at replica 1
    h.run_until(30.0)
    assert {h.read(r, K) for r in range(8)} == {V2}


def test_a_delete_leaves_a_death_certificate_and_the_old_value_does_not_come_back():
    # replica 5 holds the old value and is cut off while the delete spreads; after the partition heals
    # its copy is older than the certificate, so anti-entropy spreads the delete to it, not the value back
    h = Harness(gossip_spec(n=8, partitions=[{"start_s": 5.0, "end_s": 30.0, "groups": [[5]]}]))
    h.put(0.5, 0, K, V1)
    h.run_until(4.9)
    assert all(h.read(r, K) == V1 for r in range(8))
    h.delete(6.0, 1, K)
    h.run_until(29.0)
    assert h.read(5, K) == V1
    assert all(h.has(r, K) and h.read(r, K) is None for r in range(8) if r != 5)  # certificates, not absence
    h.run_until(80.0)
    assert all(h.has(r, K) and h.read(r, K) is None for r in range(8))
    assert h.distinct_stores() == 1


def test_a_short_death_certificate_lifetime_lets_a_deleted_value_come_back():
    # the trade-off the paper's dormant certificates address: drop certificates before every replica
    # has seen them, and the replica that missed the delete reinfects the others with the old value
    h = Harness(gossip_spec(n=8, death_certificate_ttl_s=5.0,
                            partitions=[{"start_s": 5.0, "end_s": 30.0, "groups": [[5]]}]))
    h.put(0.5, 0, K, V1)
    h.delete(6.0, 1, K)
    h.run_until(29.0)
    assert not any(h.has(r, K) for r in range(8) if r != 5)  # certificates expired everywhere but at 5
    h.run_until(80.0)
    assert all(h.read(r, K) == V1 for r in range(8))


def test_dormant_death_certificates_wake_up_and_stop_the_resurrection():
    # the same story with three retention replicas per key (section 2.2): when replica 5's old value reaches
    # one of them, its dormant certificate is reactivated and spreads again, and the value is gone for good
    h = Harness(gossip_spec(n=8, death_certificate_ttl_s=5.0, dormant_retention=3,
                            partitions=[{"start_s": 5.0, "end_s": 30.0, "groups": [[5]]}]))
    retention = [r for r in range(8) if h.sim.nodes[r]._retains(K)]
    assert len(retention) == 3
    h.put(0.5, 0, K, V1)
    h.delete(6.0, 1, K)
    h.run_until(29.0)
    assert not any(h.has(r, K) for r in range(8) if r != 5)
    assert all(K in h.sim.nodes[r].store.dormant for r in retention if r != 5)
    h.run_until(120.0)
    assert all(h.read(r, K) is None for r in range(8))
    woken = sum(h.sim.nodes[r].counters.get("death_certificates.reactivated", 0) for r in range(8))
    assert woken >= 1
    assert h.distinct_stores() == 1


def test_a_partition_heals_and_both_sides_converge():
    groups = [[0, 1, 2, 6], [3, 4, 5, 7]]  # clients 6 and 7 on either side
    h = Harness(gossip_spec(n=6, partitions=[{"start_s": 0.0, "end_s": 20.0, "groups": groups}]))
    h.put(1.0, 0, b"a", b"left")
    h.put(2.0, 1, b"a", b"right")  # concurrent write on the other side, later timestamp
    h.put(3.0, 1, b"b", b"only-right")
    h.run_until(19.0)
    assert {h.read(r, b"a") for r in (0, 1, 2)} == {b"left"}
    assert {h.read(r, b"a") for r in (3, 4, 5)} == {b"right"}
    h.run_until(60.0)
    assert h.distinct_stores() == 1
    assert h.read(0, b"a") == b"right" and h.read(0, b"b") == b"only-right"


def test_a_crashed_replica_catches_up_after_it_recovers():
    h = Harness(gossip_spec(n=6, mode="both"))
    h.crash(0.5, 4)
    h.put(1.0, 0, K, V1)
    h.recover(10.0, 4)
    h.run_until(9.0)
    assert not h.has(4, K)
    h.run_until(40.0)
    assert h.read(4, K) == V1 and h.distinct_stores() == 1


def test_a_client_whose_replica_is_down_asks_the_next_one():
    h = Harness(gossip_spec(n=4, client_retry_s=0.5))
    h.crash(0.1, 0)  # client 0's home replica
    h.put(1.0, 0, K, V1)
    h.run_until(5.0)
    assert h.accepted() == 1 and h.read(1, K) == V1


def test_reads_are_local_and_answered_at_once():
    h = Harness(gossip_spec(n=4, mode="anti-entropy", anti_entropy_period_s=50.0))
    h.put(1.0, 0, K, V1)
    h.submit(1.2, 0, kv.encode_op("get", K))  # the same client, same replica: sees its write
    h.submit(1.2, 1, kv.encode_op("get", K))  # another replica that has not heard of it yet
    h.run_until(1.5)
    assert h.accepted() == 3
    assert h.read(0, K) == V1 and not h.has(1, K)


def test_a_replica_drops_garbage_and_strangers():
    h = Harness(gossip_spec(n=4))
    node: GossipReplica = h.sim.nodes[0]
    from bftlab.api import Receive
    from bftlab.protocols.gossip.messages import Entries, Rumor

    assert node.step(0.0, Receive(1, Rumor(((b"k", b"v", ("x", 0, 0), 0),)))) == []  # type: ignore[arg-type]
    assert node.step(0.0, Receive(99, Entries((), (b"k",)))) == []
    assert node.counters["drop.exception"] == 1 and node.counters["drop.not_a_peer"] == 1


def test_a_full_run_converges_and_the_convergence_oracle_agrees():
    spec = gossip_spec(n=10, seed=3)
    from bftlab.specs.spec import spec_from_dict, spec_to_dict

    d = spec_to_dict(spec)
    d["workload"] = {"clients": 4, "requests": 200, "keys": 30, "read_fraction": 0.3}
    d["network"]["loss"] = 0.05
    report = execute(spec_from_dict(d))
    g = report["metrics"]["gossip"]
    assert report["metrics"]["committed"] == 200
    assert g["converged"] and g["distinct_stores"] == 1
    assert g["converged_at_s"] >= g["workload_done_s"]
    assert report["oracles"]["convergence"]["live"] is True
    assert report["oracles"]["convergence"]["replicas_reporting"] == 10


def test_replicas_converge_after_random_partitions_from_the_network_adversary():
    from bftlab.specs.spec import spec_from_dict, spec_to_dict

    d = spec_to_dict(gossip_spec(n=9, seed=5, mode="both"))
    d["workload"] = {"clients": 3, "requests": 150, "keys": 10}
    d["adversary"] = [{"strategy": "random-partition",
                       "params": {"count": 4, "min_duration_s": 0.5, "max_duration_s": 2.0, "end_s": 6.0}}]
    report = execute(spec_from_dict(d))
    g = report["metrics"]["gossip"]
    assert report["metrics"]["committed"] == 150
    assert g["converged"] and report["oracles"]["convergence"]["live"] is True
