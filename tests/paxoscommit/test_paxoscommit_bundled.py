"""Bundled Phase 2b (``bundle_2b``, with ``thrifty``): Gray & Lamport's normal-case layout, and its fall-backs.

Step by step in the Harness (shards 0, 1, 2; acceptors 3, 4, 5, F = 1; acceptor
3 the coordinator; thrifty, so the RMs' votes go to acceptors 3 and 4): an
acceptor writes once and reports once, after the last vote; an Aborted vote is
reported at once; a missing vote makes it report what it holds after
``bundle_wait_s`` and go on one instance at a time; a crash before its write
forgets votes nobody saw. Then whole runs judged by the atomicity oracle: an
acceptor crash among commits and aborts, and a leader takeover.
"""

from __future__ import annotations

from bftlab.api import Decided
from bftlab.core.kv import encode_op
from bftlab.protocols.paxoscommit import PROTOCOL, PaxosCommitParams
from bftlab.protocols.paxoscommit.messages import Phase2a, Phase2b, Phase2bBundle, Prepare
from bftlab.protocols.txn import TxnSubmit
from bftlab.testing import Harness, all_of, from_, of_type, to
from tests.paxoscommit.common import doc, simulate

RMS, LEADER, CLIENT = (0, 1, 2), 3, 6
OP = encode_op("put", b"k", b"v")
BUNDLED = {"thrifty": True, "bundle_2b": True}


def harness(hold_syncs: bool = False, **params) -> Harness:
    p = PaxosCommitParams(shards=3, shards_per_txn=3, **BUNDLED, **params)
    return Harness(PROTOCOL, n=6, clients=1, params=p, hold_syncs=hold_syncs)


def outcome(h: Harness) -> dict[int, set[bool]]:
    """Node -> outcomes it reported, for the (only) transaction."""
    out: dict[int, set[bool]] = {}
    for e in h.history:
        if type(e) is Decided:
            out.setdefault(e.node, set()).add(e.commit)
    return out


def bundles(h: Harness) -> list[tuple[int, int, tuple[tuple[int, int, bool], ...]]]:
    return [(e.sender, e.receiver, e.msg.votes) for e in h.pending(of_type(Phase2bBundle))]


def test_an_acceptor_writes_once_and_sends_one_phase_2b_after_the_last_vote():
    h = harness(hold_syncs=True)
    h.submit(CLIENT, OP)
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.complete_syncs()  # the RMs' votes are durable; their Phase 2a leave, to acceptors 3 and 4 only
    assert {e.receiver for e in h.pending(of_type(Phase2a))} == {3, 4}
    h.deliver(all_of(of_type(Phase2a), to(4), from_(0, 1)))
    assert h.pending_syncs(4) == 0 and not bundles(h)  # two votes held: neither written nor reported
    h.deliver(all_of(of_type(Phase2a), to(4)))
    assert h.pending_syncs(4) == 1 and not bundles(h)  # the last vote: one write, the bundle waits for it
    h.complete_syncs(4)
    assert bundles(h) == [(4, LEADER, ((0, 0, True), (1, 0, True), (2, 0, True)))]
    h.hold_syncs = False
    h.complete_syncs()
    assert h.stabilize() and not h.queue
    assert outcome(h) == {0: {True}, 1: {True}, 2: {True}, LEADER: {True}}
    assert [h.nodes[a].wal.token for a in (3, 4, 5)] == [1, 1, 0]  # one forced write per participating acceptor
    assert not h.pending(of_type(Phase2b))


def test_an_aborted_vote_is_reported_at_once_and_aborts_everywhere():
    h = harness(max_attempts=1)
    h.nodes[1].store.locks[b"k"] = (99, 1)  # shard 1 votes no (no-wait locking)
    h.submit(CLIENT, OP)
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.deliver(all_of(of_type(Phase2a), to(4), from_(1)))
    assert bundles(h) == [(4, LEADER, ((1, 0, False),))]  # no waiting for the others' votes
    assert h.stabilize()
    assert outcome(h) == {0: {False}, 1: {False}, 2: {False}, LEADER: {False}}
    assert all(not h.nodes[rm].store.locks.get(b"k") or rm == 1 for rm in RMS)


def test_a_missing_vote_makes_the_acceptor_report_what_it_holds_then_go_one_by_one():
    h = harness()
    late = h.add_filter(all_of(of_type(Prepare), to(2)))  # RM 2 does not hear the first Prepare
    h.submit(CLIENT, OP)
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.deliver(of_type(Phase2a))
    assert not bundles(h)
    h.advance(h.nodes[4].p.bundle_wait_s)
    assert bundles(h) == [(4, LEADER, ((0, 0, True), (1, 0, True)))]
    assert h.nodes[4].counters["acc.bundle_timeouts"] == 1 and h.nodes[LEADER].counters["acc.bundle_timeouts"] == 1
    h.deliver(of_type(Phase2bBundle))
    h.remove_filter(late)
    h.advance(h.nodes[LEADER].p.prepare_retry_s)  # the coordinator resends Prepare to RM 2, which votes
    h.deliver(of_type(Prepare))
    h.deliver(of_type(Phase2a))
    assert [(e.sender, e.msg.rm) for e in h.pending(of_type(Phase2b))] == [(4, 2)]  # unbundled from now on
    assert h.stabilize()
    assert outcome(h) == {0: {True}, 1: {True}, 2: {True}, LEADER: {True}}


def test_an_acceptor_that_crashes_before_its_write_forgets_votes_nobody_saw():
    h = harness()
    h.submit(CLIENT, OP)
    txn = (CLIENT, 1)
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.deliver(all_of(of_type(Phase2a), to(4), from_(0, 1)))
    assert h.nodes[4].acc.txns[txn].accepted == {0: (0, True), 1: (0, True)}
    h.crash(4)
    h.recover(4)
    assert txn not in h.nodes[4].acc.txns  # nothing was written, and nothing was said
    assert h.stabilize(max_time_s=30.0)
    assert outcome(h)[0] == {True} and all(outcome(h)[rm] == {True} for rm in RMS)


def _run(d: dict, settle_s: float = 3.0) -> tuple:
    sim, rep = simulate(d, settle_s=settle_s)
    atom = rep["oracles"]["atomicity"]
    assert atom["safe"] and atom["blocked_at_end"] == 0 and atom["undecided"] == 0, atom
    return sim, rep, atom


def test_an_acceptor_crash_among_commits_and_aborts_keeps_atomicity():
    d = doc(shards=3, faults_f=1, shards_per_txn=2, no_vote_probability=0.15, client_retry_s=0.3, max_attempts=8,
            **BUNDLED)
    d["network"] = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0}
    d["workload"] = {"clients": 2, "mode": "open", "rate_rps": 40, "requests": 40, "keys": 8}
    d["faults"] = [{"node": 4, "crash_at_s": 0.3, "recover_at_s": 0.7}]  # in every RM's F+1 (thrifty)
    sim, rep, atom = _run(d)
    assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 40
    assert atom["aborted"] > 0 and atom["committed"] >= 40  # no votes aborted some attempts; their retries committed
    assert rep["metrics"]["messages"]["by_type"]["Phase2bBundle"] > 0
    # While 4 was down the coordinator resent Prepare, the RMs voted again to all three, and acceptor 5 (outside
    # every RM's first F+1) took part: it wrote only then.
    assert sim.nodes[3].counters["coord.prepare_resends"] > 0 and sim.nodes[5].wal.token > 0


def test_a_leader_takeover_finishes_bundled_transactions_commit_and_abort():
    # 10 ms links: the votes reach acceptors 3 and 4 at 30 ms, 4's bundle would reach the coordinator at 40 ms;
    # the coordinator crashes at 35 ms, having decided nothing, and comes back at 1 s.
    leader = {"node": 3, "crash_at_s": 0.035, "recover_at_s": 1.0}
    sim, rep, atom = _run({**doc(shards=3, faults_f=1, shards_per_txn=3, **BUNDLED), "faults": [leader]})
    assert sim.nodes[4].counters["coord.takeovers"] >= 1 and atom["committed"] == 1 and atom["aborted"] == 0
    assert {e.node for _, e in sim.history if type(e) is Decided and e.commit} >= set(RMS)
    # RM 2 is down when Prepare arrives (20 ms): its instance has no vote, the takeover proposes Aborted.
    rm = {"node": 2, "crash_at_s": 0.015, "recover_at_s": 0.5}
    d = {**doc(shards=3, faults_f=1, shards_per_txn=3, max_attempts=1, **BUNDLED), "faults": [leader, rm]}
    sim, rep, atom = _run(d)
    first = {e.node: e.commit for _, e in sim.history if type(e) is Decided and (e.client, e.ts) == (CLIENT, 1)}
    assert sim.nodes[4].counters["coord.takeovers"] >= 1 and atom["aborted"] == 1 and atom["committed"] == 0
    assert set(first.values()) == {False} and {0, 1} <= set(first)
