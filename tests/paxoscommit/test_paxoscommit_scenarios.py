"""Paxos Commit scenarios, step by step in the Harness: every path of the protocol.

Layout in every test: shards 0, 1, 2 (the RMs), acceptors 3, 4, 5 (F = 1;
acceptor 3 is the initial coordinator), client 6, one transaction writing key
``k`` at all three shards.
"""

from __future__ import annotations

import pytest

from bftlab.api import Accepted, Decided, TxnBegan, Voted, observed_digest
from bftlab.core.kv import encode_op
from bftlab.errors import ConfigError
from bftlab.protocols.paxoscommit import PROTOCOL, PaxosCommitParams
from bftlab.protocols.paxoscommit.messages import Decision, Phase1a, Phase1b, Phase2a, Phase2b, Prepare
from bftlab.protocols.txn import TxnOutcome, TxnSubmit
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import Harness, all_of, of_type, to
from tests.paxoscommit.common import doc

RMS, LEADER, CLIENT = (0, 1, 2), 3, 6
OP = encode_op("put", b"k", b"v")
COMMIT, ABORT = observed_digest(b"commit"), observed_digest(b"abort")


def harness(**params) -> Harness:
    p = PaxosCommitParams(shards=3, shards_per_txn=3, **params)
    return Harness(PROTOCOL, n=6, clients=1, params=p)


def outcomes(h: Harness) -> dict[tuple[int, int], dict[int, set[bool]]]:
    out: dict[tuple[int, int], dict[int, set[bool]]] = {}
    for e in h.history:
        if type(e) is Decided:
            out.setdefault((e.client, e.ts), {}).setdefault(e.node, set()).add(e.commit)
    return out


def results(h: Harness) -> list[bytes]:
    return [e.result_digest for e in h.history if type(e) is Accepted]


def applied(h: Harness, rm: int) -> list[tuple[int, int]]:
    return list(h.nodes[rm].store.applied)


def first_txn(h: Harness) -> tuple[int, int]:
    (sub,) = {(e.msg.client, e.msg.ts) for e in h.pending(of_type(TxnSubmit))}
    return sub


def test_all_prepared_commits_everywhere_with_the_five_step_pattern():
    h = harness()
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    kinds = []
    for _ in range(5):  # one message delay per round: everything in flight is delivered before what it causes
        kinds.append(sorted({type(e.msg).__name__ for e in h.queue}))
        h.deliver(lambda e, now=tuple(h.queue): any(e is x for x in now))
    assert kinds == [["TxnSubmit"], ["Prepare"], ["Phase2a"], ["Phase2b"], ["Decision", "TxnOutcome"]]
    assert h.stabilize() and not h.queue  # quiescent: no timer left armed
    assert results(h) == [COMMIT]
    assert outcomes(h) == {txn: {0: {True}, 1: {True}, 2: {True}, LEADER: {True}}}
    for rm in RMS:
        assert applied(h, rm) == [txn] and h.nodes[rm].store.data == {b"k": b"v"} and not h.nodes[rm].store.locks


def test_one_aborted_vote_aborts_everywhere_and_releases_the_locks():
    h = harness(max_attempts=1)
    h.nodes[1].store.locks[b"k"] = (99, 1)  # another transaction holds k at shard 1: no-wait locking votes no
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    assert h.stabilize()
    assert {e.node: e.yes for e in h.history if type(e) is Voted} == {0: True, 1: False, 2: True}
    assert outcomes(h) == {txn: {0: {False}, 1: {False}, 2: {False}, LEADER: {False}}}
    assert results(h) == [ABORT]  # max_attempts=1: the client gives up after this abort
    assert all(applied(h, rm) == [] for rm in RMS)
    assert h.nodes[0].store.locks == {} and h.nodes[2].store.locks == {}


def test_a_silent_participant_is_aborted_by_a_higher_ballot_of_the_coordinator():
    h = harness(max_attempts=1)
    h.add_filter(all_of(of_type(Prepare), to(2)))  # RM 2 never hears of the transaction
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    assert h.stabilize()
    # RM 2 learns it without having voted; acceptors 4 and 5 learn it too (the slow path tells them), so the
    # RMs' retries while the coordinator waited make none of them take over.
    assert outcomes(h)[txn] == {0: {False}, 1: {False}, 2: {False}, LEADER: {False}, 4: {False}, 5: {False}}
    assert not any(h.nodes[a].counters.get("coord.takeovers") for a in (4, 5))
    assert [e.node for e in h.history if type(e) is Voted] == [0, 1]
    assert h.nodes[LEADER].counters["coord.ballots"] == 1 and h.nodes[LEADER].counters["coord.prepare_resends"] >= 1
    assert all(applied(h, rm) == [] and not h.nodes[rm].store.locks for rm in RMS)


def _deliver_until_votes(h: Harness) -> None:
    """Submit -> Prepare -> the RMs' ballot-0 Phase 2a reach the acceptors (their Phase 2b wait in the queue)."""
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.deliver(of_type(Phase2a))


@pytest.mark.parametrize("point", ["before-prepare", "after-one-prepare", "after-votes", "after-one-decision"])
def test_coordinator_crash_at_each_point_another_acceptor_finishes(point):
    h = harness()
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    if point == "after-one-prepare":
        h.deliver(of_type(TxnSubmit))
        h.deliver(all_of(of_type(Prepare), to(0)))
    elif point == "after-votes":
        _deliver_until_votes(h)
    elif point == "after-one-decision":
        _deliver_until_votes(h)
        h.deliver(of_type(Phase2b))
        h.deliver(all_of(of_type(Decision), to(0)))
    h.crash(LEADER)  # what was queued to or from it is lost
    assert h.stabilize(max_time_s=30.0)
    out = outcomes(h)
    first = out[txn]
    expect_commit = point != "after-one-prepare"  # RMs 1 and 2 never voted there: their instances choose Aborted
    assert all(v == {expect_commit} for v in first.values()), first
    assert set(first) >= set(RMS)
    if point == "before-prepare":  # nobody heard of it: the client's retry (same id) makes acceptor 4 coordinate
        assert [e.client for e in h.history if type(e) is TxnBegan] == [CLIENT]
    else:  # acceptor 4 (next after the coordinator in acceptor order) took over; 5 did not need to
        assert 4 in first and h.nodes[4].counters["coord.takeovers"] >= 1
        assert not h.nodes[5].counters.get("coord.takeovers")
    assert results(h) == [COMMIT]  # after the abort the client retried with a fresh id, which committed
    committed = [t for t, per in out.items() if all(v == {True} for v in per.values())]
    assert len(committed) == 1 and all(applied(h, rm) == committed for rm in RMS)
    assert all(not h.nodes[rm].store.locks and not h.nodes[rm].store.prepared for rm in RMS)
    # The old coordinator restarts with its acceptor's records; a late question gets the same answer.
    h.recover(LEADER)
    h.inject(0, LEADER, Phase2a(txn[0], txn[1], 0, 0, True, RMS, LEADER, True))
    assert h.stabilize(max_time_s=30.0)
    assert all(len(v) == 1 for per in outcomes(h).values() for v in per.values())


def test_a_participant_restarts_uncertain_from_its_log_and_learns_the_outcome():
    h = harness()
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    _deliver_until_votes(h)
    h.deliver(of_type(Phase2b))
    h.crash(0)  # the Decision to RM 0 is lost with it
    assert h.stabilize()
    assert results(h) == [COMMIT] and applied(h, 1) == [txn] and applied(h, 0) == []
    h.recover(0)  # rebuilt from its factory: only its disk is left
    rm0 = h.nodes[0]
    assert txn in rm0.store.prepared and rm0.store.locks == {b"k": txn}  # uncertain again, still locked
    assert h.stabilize()
    assert applied(h, 0) == [txn] and rm0.store.data == {b"k": b"v"} and not rm0.store.locks
    assert [e.node for e in h.history if type(e) is Voted].count(0) == 1  # it did not vote again
    assert outcomes(h)[txn][0] == {True}


def test_a_vote_lost_before_it_was_durable_was_never_seen_and_the_participant_votes_afresh():
    h = Harness(PROTOCOL, n=6, clients=1, params=PaxosCommitParams(shards=3, shards_per_txn=3), hold_syncs=True)
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    assert h.pending_syncs(0) == 1 and not h.pending(all_of(of_type(Phase2a), lambda e: e.sender == 0))
    h.crash(0)  # lose-unsynced: the vote is gone, and neither its Phase 2a nor its Voted event ever left
    h.recover(0)
    assert h.nodes[0].store.prepared == {} and not [e for e in h.history if type(e) is Voted and e.node == 0]
    for _ in range(100):  # complete the forced writes as they are made, until the client has its answer
        h.complete_syncs()
        if results(h) or not h.run_until(lambda: bool(h.pending_syncs(LEADER) or h.queue), max_time_s=1.0):
            break
        h.deliver_all()
    h.complete_syncs()
    h.deliver_all()
    assert results(h) == [COMMIT]  # the coordinator resent Prepare and RM 0 voted (for the first time, visibly)
    assert [e.node for e in h.history if type(e) is Voted].count(0) == 1
    assert outcomes(h)[txn][LEADER] == {True} and h.nodes[LEADER].counters["coord.prepare_resends"] >= 1


def test_every_message_delivered_twice_changes_nothing():
    h = harness()
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    copies: list = []
    for _ in range(2_000):
        if not h.queue:
            break
        env = h.queue[0]
        if not any(env is c for c in copies):
            h.inject(env.sender, env.receiver, env.msg)
            copies.append(h.queue[-1])
        h.deliver(lambda e, env=env: e is env, max_msgs=1)
    assert not h.queue and h.stabilize()
    assert len(copies) > 20
    assert results(h) == [COMMIT] and outcomes(h) == {txn: {0: {True}, 1: {True}, 2: {True}, LEADER: {True}}}
    assert all(applied(h, rm) == [txn] for rm in RMS)
    assert [e.node for e in h.history if type(e) is Voted] == [0, 1, 2]
    assert sum(h.nodes[rm].counters.get("rm.revote", 0) for rm in RMS) == 3  # each duplicate Prepare: same 2a


def test_a_client_retry_with_the_same_id_is_answered_and_never_applied_twice():
    h = harness()
    lost = h.add_filter(of_type(TxnOutcome))  # the coordinator's answer never reaches the client
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    assert h.run_until(lambda: len(outcomes(h).get(txn, {})) == 4)
    h.remove_filter(lost)
    h.advance(0.5)  # client_retry_s: the same attempt goes to the next acceptor
    (retry,) = [e.msg for e in h.pending(of_type(TxnSubmit))]
    assert (retry.client, retry.ts) == txn
    assert h.stabilize()
    assert results(h) == [COMMIT]
    assert [e.client for e in h.history if type(e) is TxnBegan] == [CLIENT, CLIENT]  # acceptor 4 ran it again...
    assert outcomes(h)[txn][4] == {True}  # ...and learned the outcome from the RMs' answers to its Prepare
    assert all(applied(h, rm) == [txn] for rm in RMS)
    assert [e.node for e in h.history if type(e) is Voted] == [0, 1, 2]


def test_a_duplicate_submit_to_a_running_coordinator_starts_nothing_new():
    h = harness()
    h.submit(CLIENT, OP)
    (env,) = h.pending(of_type(TxnSubmit))
    h.inject(env.sender, env.receiver, env.msg)
    assert h.stabilize()
    assert h.nodes[LEADER].counters["coord.duplicate_submit"] == 1
    assert len([e for e in h.history if type(e) is TxnBegan]) == 1 and results(h) == [COMMIT]


def test_malformed_or_misaddressed_messages_are_dropped():
    h = harness()
    h.inject(5, 0, Prepare(6, 1, ((0, b"k", b"v"),), (1,)))  # RM 0 is not among the participants
    h.inject(1, LEADER, Phase2a(6, 1, 0, 0, True, RMS, LEADER, False))  # RM 1 speaking for RM 0
    h.inject(4, LEADER, Phase1a(6, 1, 3, RMS))  # ballot 3 is acceptor 0's, not acceptor 1's
    h.inject(CLIENT, 0, TxnSubmit(CLIENT, 1, ()))  # a client talking to an RM
    assert h.stabilize()
    assert h.nodes[0].counters == {"drop.malformed": 1, "drop.bad_sender": 1}
    assert h.nodes[LEADER].counters == {"drop.bad_sender": 2}
    assert not outcomes(h)


def test_check_spec_refuses_a_wrong_n_and_too_many_acceptors_down():
    d = doc(shards=3, faults_f=1)
    with pytest.raises(ConfigError, match="n = shards \\+ 2F \\+ 1 = 6"):
        spec_from_dict({**d, "n": 7})
    down = [{"node": 3, "crash_at_s": 0.1, "recover_at_s": 0.5}, {"node": 4, "crash_at_s": 0.2}]
    with pytest.raises(ConfigError, match="acceptors \\[3, 4\\] are down at once"):
        spec_from_dict({**d, "faults": down})
    spec_from_dict({**d, "faults": down, "allow_exceeding_f": True})
    rms = [{"node": r, "crash_at_s": 0.1, "recover_at_s": 0.3} for r in RMS]  # RMs: any number at once
    assert len(spec_from_dict({**d, "faults": [*rms, down[0]]}).faults) == 4


def test_nothing_an_rm_or_acceptor_says_leaves_before_its_forced_write():
    h = Harness(PROTOCOL, n=6, clients=1, params=PaxosCommitParams(shards=3, shards_per_txn=3), hold_syncs=True)
    h.submit(CLIENT, OP)
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    assert not h.pending(of_type(Phase2a)) and not [e for e in h.history if type(e) is Voted]
    assert [h.pending_syncs(rm) for rm in RMS] == [1, 1, 1]
    h.complete_syncs(0)
    assert {e.receiver for e in h.pending(of_type(Phase2a))} == {3, 4, 5}
    assert [e.node for e in h.history if type(e) is Voted] == [0]
    h.deliver(of_type(Phase2a))
    assert not h.pending(of_type(Phase2b)) and h.pending_syncs(4) == 1 and h.pending_syncs(5) == 1
    h.complete_syncs(4)
    assert [(e.sender, e.receiver) for e in h.pending(of_type(Phase2b))] == [(4, LEADER)]


def test_a_restarted_acceptor_still_reports_the_vote_it_accepted():
    h = harness()
    h.submit(CLIENT, OP)
    txn = first_txn(h)
    _deliver_until_votes(h)
    h.drop(of_type(Phase2b))
    h.crash(4)
    h.recover(4)  # rebuilt from its factory: only its disk is left
    h.inject(5, 4, Phase1a(txn[0], txn[1], 3 + 2, RMS))  # acceptor 2's first ballot: round 1, 1*3 + 2
    h.deliver(of_type(Phase1a))
    (promise,) = [e.msg for e in h.pending(of_type(Phase1b))]
    assert promise.ballot == 5 and promise.accepted == ((0, 0, True), (1, 0, True), (2, 0, True))
    assert h.nodes[4].acc.txns[txn].mbal == 5
    h.crash(4)  # and the promise itself was forced before the Phase 1b left
    h.recover(4)
    assert h.nodes[4].acc.txns[txn].mbal == 5
