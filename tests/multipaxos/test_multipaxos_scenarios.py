"""Multi-Paxos paths, step by step: normal case, leader change with no-op gap filling, catch-up, recovery,
and the message pattern and latency of the steady state against the paper."""

from __future__ import annotations

import pytest

from bftlab.api import Executed, Recovered, StateTransferred, ViewChanged
from bftlab.core import kv
from bftlab.oracles.smr import check
from bftlab.protocols.cft import ClientRequest
from bftlab.protocols.multipaxos import PROTOCOL, MultiPaxosParams
from bftlab.protocols.multipaxos.messages import Accept, Decide, Heartbeat, Prepare
from bftlab.protocols.multipaxos.replica import ELECTION_TIMER, LEADER
from bftlab.testing import Harness, all_of, of_type, to
from tests.multipaxos.common import PROTO, simulate


def put(i: int) -> bytes:
    return kv.encode_op("put", b"k%d" % i, b"v%d" % i)


def harness(n: int = 3, clients: int = 1, **params: object) -> Harness:
    return Harness(PROTOCOL, n=n, clients=clients, f=(n - 1) // 2, params=MultiPaxosParams(**params))


def executed(h: Harness, node: int) -> list[tuple[int, tuple]]:
    return [(e.seq, tuple((x.client, x.ts) for x in e.entries)) for e in h.executed_by(node)]


def test_normal_case_one_leader_decides_and_every_replica_executes_in_order():
    h = harness(n=3, clients=2)
    for i in range(5):
        h.submit(3, put(i))
        h.submit(4, put(10 + i))
    assert h.run_until(lambda: len(h.accepted()) == 10, max_time_s=5.0)
    h.advance(0.05)  # a heartbeat carries the last decisions' news; Decides are already out
    h.deliver_all()
    logs = [executed(h, r) for r in range(3)]
    assert logs[0] == logs[1] == logs[2] and len({c for _, b in logs[0] for c in b}) == 10
    assert [s for s, _ in logs[0]] == list(range(1, len(logs[0]) + 1))
    assert h.nodes[0].role == LEADER and not h.events(ViewChanged)[3:]  # one boot ViewChanged per replica
    assert check(h.history).safe


def test_a_new_leader_re_proposes_accepted_values_and_fills_gaps_with_no_ops():
    """Leader 0 proposes slot 1 (client 3) and slot 2 (client 4); only replica 1 accepts slot 2, nobody slot 1.
    After 0 crashes, the new leader's phase 1 finds slot 2's value and fills slot 1 with a no-op."""
    h = harness(n=3, clients=2)
    h.submit(3, put(1))
    h.deliver(of_type(ClientRequest))
    h.submit(4, put(2))
    h.deliver(of_type(ClientRequest))
    assert sorted(h.nodes[0].proposals) == [1, 2]
    h.drop(lambda e: type(e.msg) is Accept and (e.msg.slot == 1 or e.receiver == 2))
    h.deliver(all_of(of_type(Accept), to(1)))
    h.crash(0)
    h.drop()
    assert h.run_until(lambda: any(h.nodes[r].role == LEADER for r in (1, 2)), max_time_s=2.0)
    h.run_until(lambda: all(h.nodes[r].executed >= 2 for r in (1, 2)), max_time_s=2.0)
    for r in (1, 2):
        log = executed(h, r)
        assert log[0] == (1, ())  # the no-op
        assert [c for c, _ in log[1][1]] == [4]  # client 4's request, re-proposed
    # Client 3's request was lost with slot 1; its retry reaches the new leader and is decided later.
    assert h.run_until(lambda: len(h.accepted()) == 2, max_time_s=3.0)
    assert check(h.history).safe
    assert h.pending(of_type(Prepare)) == [] and any(type(e) is ViewChanged and e.view > 0 for e in h.history)


def test_a_lagging_replica_catches_up_by_asking_for_decided_slots():
    h = harness(n=3, clients=1, catchup_max=4)
    cut = h.add_filter(lambda e: 2 in (e.sender, e.receiver))  # replica 2 is cut off
    for i in range(10):
        h.submit(3, put(i))
        assert h.run_until(lambda k=i + 1: len(h.accepted()) == k, max_time_s=2.0)
    assert h.nodes[2].executed == 0 and h.nodes[0].executed == 10
    # Alone, it times out and runs phase 1 in vain: back, its higher ballot preempts leader 0.
    assert h.run_until(lambda: h.nodes[2].view > 0, max_time_s=1.0) and h.nodes[0].role == LEADER
    h.remove_filter(cut)
    assert h.run_until(lambda: h.nodes[2].executed == 10, max_time_s=1.0)
    assert executed(h, 2) == executed(h, 0)
    assert h.nodes[2].machine.data == h.nodes[0].machine.data
    assert h.nodes[2].counters == {} and check(h.history).safe


def test_a_restarted_replica_recovers_its_promise_votes_and_log_from_disk():
    h = harness(n=3, clients=1)
    for i in range(4):
        h.submit(3, put(i))
        assert h.run_until(lambda k=i + 1: len(h.accepted()) == k, max_time_s=2.0)
    h.advance(0.03)
    h.deliver_all()
    before = h.nodes[1]
    assert before.executed == 4
    h.crash(1)
    h.recover(1)
    after = h.nodes[1]
    assert after is not before and after.executed == 4 and after.machine.data == before.machine.data
    assert after.acceptor.promised == before.acceptor.promised
    assert after.acceptor.accepted == before.acceptor.accepted
    assert StateTransferred(1, 4) in h.history and Recovered(1) in h.history
    h.submit(3, put(9))
    assert h.run_until(lambda: len(h.accepted()) == 5 and h.nodes[1].executed == 5, max_time_s=2.0)
    assert check(h.history).safe  # no slot executed twice across the restart


def test_an_acceptor_answers_only_once_its_promise_is_durable():
    h = Harness(PROTOCOL, n=3, clients=1, f=1, hold_syncs=True)
    h.complete_syncs()
    h.crash(0)
    h.timers.schedule(1, ELECTION_TIMER, h.now)
    h.fire_timers()
    assert h.pending(of_type(Prepare)) == []  # the candidate's own promise first
    h.complete_syncs(1)
    h.deliver(all_of(of_type(Prepare), to(2)))
    assert h.pending_syncs(2) == 1 and [e for e in h.queue if e.sender == 2] == []
    h.complete_syncs(2)
    assert [type(e.msg).__name__ for e in h.queue if e.sender == 2] == ["Promise"]


def test_malformed_messages_are_dropped_and_counted():
    h = harness(n=3)
    h.inject(1, 0, Accept(0, 1, ("not a request",)))  # type: ignore[arg-type]
    h.inject(1, 0, Heartbeat(0, 0))  # ballot 0 is replica 0's, not 1's
    h.inject(1, 0, Decide(-1, 0, ()))
    h.wire_roundtrip = False  # the first one would not even decode; replica 0 must survive it anyway
    h.deliver()
    c = h.nodes[0].counters
    assert c == {"drop.malformed": 1, "drop.bad_ballot": 1, "drop.bad_slot": 1}


# ------------------------------------------------------------------ message pattern and latency
def test_steady_state_costs_four_one_way_delays_and_the_paper_s_messages_per_request():
    """Constant 10 ms links, no CPU or disk cost, one client: client -> leader -> acceptors (Accept, 2a) ->
    leader (Accepted, 2b) -> client is 4 one-way delays (40 ms); the leader decides after 2 (20 ms after
    the request reached it). Per request: 1 ClientRequest, n-1 Accepts, n-1 Accepteds, n-1 Decides,
    1 ClientReply (the leader's own acceptor and learner need no message)."""
    n, reqs = 5, 20
    doc = {
        "name": "multipaxos-pattern", "seed": 1, "n": n, "protocol": {"name": PROTO},
        "network": {"latency_model": "constant", "latency_ms": 10.0, "bandwidth_mbps": 0},
        "cpu": {"base_us": 0, "per_byte_ns": 0, "sign_us": 0, "verify_us": 0, "mac_us": 0, "hash_base_us": 0,
                "hash_per_byte_ns": 0},
        "storage": {"write_us": 0, "fsync_ms": 0},
        "workload": {"clients": 1, "mode": "closed", "requests": reqs}, "stop": {"time_limit_s": 10},
        "trace": {"keep": True},
    }
    sim, rep = simulate(doc)
    lat = rep["metrics"]["latency_s"]
    assert rep["metrics"]["committed"] == reqs
    assert lat["p50"] == pytest.approx(0.040, abs=1e-9) and lat["max"] == pytest.approx(0.040, abs=1e-9)
    by_type = rep["metrics"]["messages"]["by_type"]
    assert {k: v for k, v in by_type.items() if k != "Heartbeat"} == {
        "ClientRequest": reqs, "Accept": (n - 1) * reqs, "Accepted": (n - 1) * reqs, "Decide": (n - 1) * reqs,
        "ClientReply": reqs}
    # The leader executes (decides) 20 ms after the request reached it: 10 ms after it left the client.
    issued = [t for t, e in sim.history if type(e).__name__ == "Issued"]
    decided = [t for t, e in sim.history if type(e) is Executed and e.node == 0]
    assert [d - i for i, d in zip(issued, decided)] == [30_000_000] * reqs
    assert rep["safety"]["ok"]
