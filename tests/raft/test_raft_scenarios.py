"""Raft's paths one at a time, stepped by hand on the Harness (no timer fires unless the test fires it).

Normal case, the write-ahead rule, leader change, restart from disk, catch-up
of a lagging replica (by log and by snapshot), fast backtracking, pre-vote and
check-quorum, leadership transfer, ReadIndex, and malformed input.
"""

from __future__ import annotations

import msgpack

from bftlab.api import Receive, Recovered, StateTransferred, TimerFired, ViewChanged
from bftlab.core import kv
from bftlab.oracles import smr
from bftlab.protocols.cft import ClientReply, ClientRequest
from bftlab.protocols.raft import PROTOCOL, RaftParams
from bftlab.protocols.raft.messages import (
    AppendEntries,
    AppendReply,
    Entry,
    InstallSnapshot,
    RequestVote,
    VoteReply,
)
from bftlab.protocols.raft.replica import ELECTION_TIMER, QUORUM_TIMER
from bftlab.testing import Harness, of_type
from tests.raft.harness import elect, heartbeat
from tests.raft.planted import EAGER


def put(k: bytes, v: bytes) -> bytes:
    return kv.encode_op("put", k, v)


def get(k: bytes) -> bytes:
    return kv.encode_op("get", k)


def cluster(n: int = 3, clients: int = 1, hold_syncs: bool = False, **params) -> Harness:
    return Harness(PROTOCOL, n=n, clients=clients, f=(n - 1) // 2, params=RaftParams(**params),
                   hold_syncs=hold_syncs)


def request(h: Harness, client: int, op: bytes) -> None:
    """Submit ``op`` and deliver everything: the client must have its answer."""
    before = len(h.accepted())
    h.submit(client, op)
    h.deliver_all()
    assert len(h.accepted()) == before + 1, "request not answered"


def oracle_ok(h: Harness) -> None:
    verdict = smr.check(h.history)
    assert verdict.violations == [], verdict.violations


def test_normal_case_replicates_commits_applies_and_answers():
    h = cluster()
    elect(h, 0)
    for i in range(5):
        request(h, 3, put(b"k%d" % i, b"v"))
    heartbeat(h, 0)
    assert [h.nodes[i].log.last for i in range(3)] == [6, 6, 6]  # the no-op and five commands
    assert [h.nodes[i].applied for i in range(3)] == [6, 6, 6]
    assert all(h.nodes[i].machine.data == h.nodes[0].machine.data for i in range(3))
    assert {e.node for e in h.events(ViewChanged) if e.view == 1} == {0, 1, 2}
    oracle_ok(h)


def test_votes_and_acknowledgements_wait_for_the_sync_and_the_leader_counts_itself_only_once_synced():
    h = cluster(hold_syncs=True)
    h.now += 1.0
    h._step(0, TimerFired(ELECTION_TIMER))
    h.deliver_all()  # pre-votes need no write
    h.complete_syncs(0)  # the candidate's term and self-vote are durable: RequestVote leaves
    h.deliver(of_type(*PROTOCOL.message_types))
    assert h.pending(of_type(VoteReply)) == [] and h.pending_syncs(1) == 1  # the vote is held behind its Sync
    h.complete_syncs()
    h.deliver_all()
    h.complete_syncs()
    h.deliver_all()
    assert h.nodes[0].role == "leader"
    h.partition([[0, 1, 3], [2]])
    h.submit(3, put(b"k", b"v"))
    h.deliver(of_type(ClientRequest))
    index = h.nodes[0].log.last
    h.deliver(of_type(AppendEntries))  # the leader's AppendEntries left before its own Sync
    assert h.pending(of_type(AppendReply)) == []  # follower 1 stored it but has not synced
    h.complete_syncs(1)
    h.deliver(of_type(AppendReply))
    assert h.nodes[0].commit < index  # follower 1 alone is not a majority: the leader's own copy is not synced
    h.complete_syncs(0)
    assert h.nodes[0].commit == index
    h.complete_syncs()
    h.deliver_all()
    assert len(h.accepted()) == 1


def test_a_new_leader_takes_over_after_the_leader_crashes_and_clients_follow_it():
    h = cluster(n=5)
    elect(h, 0)
    request(h, 5, put(b"a", b"1"))
    h.crash(0)
    elect(h, 3)
    assert h.nodes[3].term == 2
    h.submit(5, put(b"b", b"2"))  # goes to the crashed replica 0 first; the retry reaches everyone
    h.now += 1.0
    h._step(5, TimerFired("retry"))
    h.deliver_all()
    assert len(h.accepted()) == 2
    heartbeat(h, 3)
    assert all(h.nodes[i].machine.data == {b"a": b"1", b"b": b"2"} for i in (1, 2, 3, 4))
    oracle_ok(h)


def test_a_cluster_restarted_from_disk_keeps_term_vote_log_and_state_and_executes_nothing_twice():
    h = cluster()
    elect(h, 0)
    for i in range(4):
        request(h, 3, put(b"k%d" % i, b"v%d" % i))
    heartbeat(h, 0)
    terms = [h.nodes[i].term for i in range(3)]
    for i in range(3):
        h.crash(i)
    for i in range(3):
        h.recover(i)
    assert [h.nodes[i].term for i in range(3)] == terms
    assert all(h.nodes[i].voted_for == 0 for i in range(3))
    assert all(h.nodes[i].applied == 5 and h.nodes[i].log.last == 5 for i in range(3))
    assert {e.node: e.seq for e in h.events(StateTransferred)} == {0: 5, 1: 5, 2: 5}
    assert sorted(e.node for e in h.events(Recovered)) == [0, 1, 2]
    elect(h, 1)
    request(h, 3, get(b"k2"))
    assert h.nodes[1].machine.data[b"k2"] == b"v2"
    oracle_ok(h)  # no index executed twice across the restart


def test_a_lagging_replica_catches_up_from_the_log():
    h = cluster()
    elect(h, 0)
    h.partition([[0, 1, 3], [2]])
    for i in range(10):
        request(h, 3, put(b"k%d" % i, b"v"))
    assert h.nodes[2].log.last == 1
    h.heal()
    heartbeat(h, 0)
    heartbeat(h, 0)
    assert h.nodes[2].log.last == 11 and h.nodes[2].applied == 11
    assert h.nodes[2].machine.data == h.nodes[0].machine.data
    oracle_ok(h)


def test_a_replica_behind_the_leaders_snapshot_gets_install_snapshot_and_reports_the_jump():
    h = cluster(snapshot_every=4)
    elect(h, 0)
    h.partition([[0, 1, 3], [2]])
    for i in range(12):
        request(h, 3, put(b"k%d" % i, b"v"))
    assert h.nodes[0].log.base >= 8  # compacted
    h.heal()
    heartbeat(h, 0)
    heartbeat(h, 0)
    assert h.nodes[2].machine.data == h.nodes[0].machine.data and h.nodes[2].applied == h.nodes[0].applied
    assert any(e.node == 2 and e.seq >= 8 for e in h.events(StateTransferred))
    assert h.nodes[2].counters["snapshots.installed"] == 1
    h.crash(2)
    h.recover(2)  # it restarts from its installed snapshot
    assert h.nodes[2].machine.data == h.nodes[0].machine.data
    oracle_ok(h)


def test_a_leader_restarted_from_its_snapshot_sends_that_snapshot_to_a_lagging_replica():
    h = cluster(snapshot_every=4)
    elect(h, 0)
    h.partition([[0, 1, 3], [2]])
    for i in range(9):
        request(h, 3, put(b"k%d" % i, b"v"))
    data = dict(h.nodes[0].machine.data)
    h.crash(0)
    h.recover(0)
    assert h.nodes[0].log.base == 8 and h.nodes[0].machine.data == data
    elect(h, 0)
    assert h.nodes[0].log.base == 8  # no newer snapshot: the one it sends is the one it read from disk
    h.heal()
    heartbeat(h, 0)
    heartbeat(h, 0)
    assert h.nodes[2].counters["snapshots.installed"] == 1 and h.nodes[2].machine.data == data
    oracle_ok(h)


def test_fast_backtracking_skips_a_whole_conflicting_term_per_round_trip():
    """Replica 2 led term 1 alone and appended 8 commands nobody else has (indices 2..9); replicas 0 and 1
    then wrote 9 entries of term 2 there (2..10), and replica 0 hands term 3 to replica 1. Its AppendEntries to
    replica 2 are rejected once for the missing tail and once for the whole conflicting term 1 (§5.3):
    backing up one entry per rejection would take 10."""
    h = cluster(clients=8)
    elect(h, 2)
    h.partition([[2, *range(3, 11)], [0, 1]])
    for c in range(3, 11):
        h.inject(c, 2, ClientRequest(c, 1, put(b"x", b"%d" % c)))
    h.deliver_all()
    assert h.nodes[2].log.last == 9
    h.partition([[2], [0, 1, *range(3, 11)]])
    elect(h, 0)
    for c in range(3, 11):
        request(h, c, put(b"y", b"%d" % c))
    h._step(0, TimerFired(("transfer", 1)))  # a leader refuses votes to others: hand over instead
    h.deliver_all()
    assert h.nodes[1].log.last == 11 and h.nodes[1].term == 3
    h.heal()
    seen: list[AppendReply] = []
    for _ in range(3):
        h._step(1, TimerFired("heartbeat"))
        while h.queue:
            env = h.queue[0]
            if type(env.msg) is AppendReply and env.sender == 2:
                seen.append(env.msg)
            h.deliver(max_msgs=1)
    assert h.nodes[2].log.last == 11 and h.nodes[2].log.last_term == 3
    rejections = [(m.conflict_term, m.conflict_index) for m in seen if not m.success]
    assert rejections == [(0, 10), (1, 1)]  # "I lack 10", then "my index 9 is of term 1, which starts at 1"
    heartbeat(h, 1)
    oracle_ok(h)


def test_pre_vote_keeps_a_partitioned_replica_from_inflating_its_term_and_disrupting_the_leader():
    h = cluster()
    elect(h, 0)
    h.partition([[0, 1, 3], [2]])
    for _ in range(5):
        h.now += 1.0
        h._step(2, TimerFired(ELECTION_TIMER))
        h.deliver_all()
    assert h.nodes[2].term == 1
    h.heal()
    heartbeat(h, 0)
    assert h.nodes[0].role == "leader" and h.nodes[0].term == 1
    request(h, 3, put(b"k", b"v"))


def test_without_pre_vote_the_partitioned_replica_bumps_its_term_but_the_leader_lease_refuses_it():
    h = cluster(pre_vote=False)
    elect(h, 0)
    h.partition([[0, 1, 3], [2]])
    for _ in range(3):
        h.now += 1.0
        h._step(2, TimerFired(ELECTION_TIMER))
        h.deliver_all()
    assert h.nodes[2].term == 4
    h.heal()
    heartbeat(h, 0)  # its reply carries term 4: the leader steps down (Figure 2's rule for any RPC)
    assert h.nodes[0].role == "follower" and h.nodes[0].term == 4


def test_check_quorum_makes_a_leader_cut_off_from_the_majority_step_down_and_followers_refuse_votes():
    h = cluster()
    elect(h, 0)
    heartbeat(h, 0)
    h._step(0, TimerFired(QUORUM_TIMER))  # it heard from both followers: stays
    assert h.nodes[0].role == "leader"
    h.partition([[0], [1, 2, 3]])
    heartbeat(h, 0)
    h._step(0, TimerFired(QUORUM_TIMER))
    assert h.nodes[0].role == "follower" and h.nodes[0].counters["leader.lost_quorum"] == 1
    # A follower that heard from the leader a moment ago ignores a vote request (leader stickiness).
    h.heal()
    elect(h, 1)
    heartbeat(h, 1)
    h._step(2, TimerFired(ELECTION_TIMER))  # no time passed: replica 1's lease holds at replica 0
    h.deliver_all()
    assert h.nodes[1].role == "leader" and h.nodes[0].counters.get("vote.leader_lease", 0) >= 1


def test_leadership_transfer_hands_over_without_waiting_for_a_timeout():
    h = cluster()
    elect(h, 0)
    h.partition([[0, 1, 3], [2]])
    request(h, 3, put(b"k", b"v"))
    h.heal()
    h._step(0, TimerFired(("transfer", 2)))  # replica 2 lags: the leader first brings it up to date
    h.deliver_all()
    assert h.nodes[2].role == "leader" and h.nodes[2].term == 2
    assert h.nodes[0].role == "follower" and h.nodes[2].counters["transfer.elections"] == 1
    request(h, 3, put(b"k", b"w"))
    oracle_ok(h)


def test_read_index_answers_a_get_without_a_log_entry_only_after_a_majority_confirms_the_leader():
    h = cluster(read_index=True)
    elect(h, 0)
    request(h, 3, put(b"k", b"v"))
    last = h.nodes[0].log.last
    h.partition([[0, 3], [1, 2]])
    h.submit(3, get(b"k"))
    h.deliver_all()
    assert len(h.accepted()) == 1  # no majority confirms the leadership: no answer
    h.heal()
    heartbeat(h, 0)
    assert len(h.accepted()) == 2 and h.nodes[0].log.last == last
    replies = []
    h.submit(3, get(b"k"))
    while h.queue:
        if type(h.queue[0].msg) is ClientReply:
            replies.append(h.queue[0].msg)
        h.deliver(max_msgs=1)
    assert msgpack.unpackb(replies[-1].result) == b"v" and h.nodes[0].counters["reads.read_index"] == 2


def test_malformed_messages_are_dropped_and_counted():
    h = cluster()
    elect(h, 0)
    node = h.nodes[1]
    bad = [
        AppendEntries("1", 0, 0, 0, (), 0, 0),
        AppendEntries(1, 0, 0, 0, (Entry(1, 1, 3, "ts", b""),), 0, 0),
        InstallSnapshot(5, 0, 10, 5, (0, 1, 2), b"not a snapshot", 0),
        ClientRequest(3, 1, "op"),
        object(),
    ]
    for m in bad:
        node.step(h.now, Receive(0, m))
    assert node.counters["drop.malformed"] == 4
    assert node.counters["drop.bad_snapshot"] == 1
    request(h, 3, put(b"k", b"v"))


def test_the_eager_variant_votes_before_its_sync_which_correct_raft_never_does():
    for spec, held in ((PROTOCOL, True), (EAGER, False)):
        h = Harness(spec, n=3, clients=1, f=1, hold_syncs=True)
        h.now += 1.0
        h._step(0, TimerFired(ELECTION_TIMER))
        h.deliver(lambda e: type(e.msg) in (RequestVote, VoteReply) and e.msg.pre)  # pre-votes write nothing
        h.complete_syncs(0)  # the candidate's own term and vote
        h.deliver(lambda e: type(e.msg) is RequestVote and not e.msg.pre and e.receiver == 1)
        assert h.pending_syncs(1) == 1  # replica 1's vote is not durable yet
        votes = [e for e in h.pending(of_type(VoteReply)) if e.sender == 1]
        assert (votes == []) is held, spec.name
