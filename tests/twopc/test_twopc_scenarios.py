"""Two-phase commit, path by path, on the step-by-step harness (every message and sync delivered by hand)."""

from __future__ import annotations

import pytest

from bftlab.api import Accepted, Decided, observed_digest
from bftlab.errors import ConfigError
from bftlab.protocols.twopc import PROTOCOL, TwoPcParams
from bftlab.protocols.twopc.messages import Ack, Decision, Inquire, Prepare, Vote
from bftlab.protocols.txn import TxnOutcome, TxnSubmit
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import all_of, from_, of_type, to

from .helpers import TWOPC, decisions, harness, judge, put, spec, votes

P = TwoPcParams(shards=3, shards_per_txn=3, max_attempts=1)
COORD, CLIENT = 3, 4


def outcome(h) -> bytes | None:
    acc = h.accepted()
    return acc[-1].result_digest if acc else None


COMMITTED, ABORTED = observed_digest(b"commit"), observed_digest(b"abort")


def test_all_yes_commits_everywhere_with_forced_prepare_and_commit_records():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    assert h.stabilize()
    assert outcome(h) == COMMITTED
    (txn,) = {(e.client, e.ts) for e in votes(h)}
    for p in range(3):
        assert list(h.nodes[p].store.applied) == [txn] and not h.nodes[p].store.locks
        assert h.nodes[p].log.forced == 2  # the prepared record before the vote, the commit record before the ACK
    assert h.nodes[COORD].log.forced == 1 and h.nodes[COORD].unacked == {}
    assert {e.node for e in decisions(h)} == {0, 1, 2, COORD} and all(e.commit for e in decisions(h))
    v = judge(h, faults=False)
    assert v.safe and v.section["committed"] == 1 and v.section["blocked_at_end"] == 0


def test_one_no_vote_aborts_without_forced_writes_or_acks():
    h = harness(PROTOCOL, P)
    h.nodes[1].store.locks[b"a"] = (99, 1)  # another transaction holds the key at participant 1: it votes no
    h.submit(CLIENT, put("a"))
    assert h.stabilize()
    assert outcome(h) == ABORTED
    assert [e.node for e in votes(h, yes=False)] == [1]
    assert all(not e.commit for e in decisions(h))
    for p in (0, 2):
        assert not h.nodes[p].store.prepared and not h.nodes[p].store.locks and not h.nodes[p].store.applied
    assert h.nodes[COORD].log.forced == 0  # presumed abort: nothing forced at the coordinator
    assert sum(p.log.forced for p in (h.nodes[0], h.nodes[2])) == 2  # only the prepared records
    assert judge(h).safe


def test_no_vote_probability_one_always_aborts():
    h = harness(PROTOCOL, TwoPcParams(shards=2, shards_per_txn=2, no_vote_probability=1.0, max_attempts=2), clients=1)
    h.submit(3, put("k"))
    assert h.stabilize()
    assert h.accepted()[-1].result_digest == ABORTED and len(votes(h, yes=True)) == 0


def _to_votes(h):
    """Deliver the submit and the PREPAREs, make the prepared records durable, deliver the votes."""
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.complete_syncs()
    h.deliver(of_type(Vote))


def test_coordinator_crash_before_prepare_aborts_on_recovery_and_the_retry_is_a_new_attempt():
    h = harness(PROTOCOL, TwoPcParams(shards=3, shards_per_txn=3))
    h.submit(CLIENT, put("a"))
    h.deliver(of_type(TxnSubmit))
    h.crash(COORD)  # its PREPAREs never leave
    h.advance(0.1)
    assert not votes(h)
    h.recover(COORD)  # begin record, no commit record: abort, told to the participants at once
    assert h.stabilize()
    assert [e.commit for e in decisions(h, COORD)] == [False, True]  # the first attempt aborted, the retry committed
    assert outcome(h) == COMMITTED and judge(h).safe


def test_coordinator_crash_after_the_votes_blocks_the_participants_until_it_recovers():
    h = harness(PROTOCOL, P, hold_syncs=True)
    h.submit(CLIENT, put("a"))
    _to_votes(h)
    assert h.nodes[COORD].active and h.nodes[COORD].active[next(iter(h.nodes[COORD].active))].deciding
    h.crash(COORD)  # the commit record was not durable: lost
    h.advance(5.0)
    h.deliver_all()
    for p in range(3):  # uncertain for 5 s: they inquire, nobody answers
        assert h.nodes[p].store.prepared and h.nodes[p].counters["participant.inquiries"] >= 20
    assert not decisions(h)
    h.recover(COORD)
    h.complete_syncs()
    h.deliver_all()
    assert all(not e.commit for e in decisions(h)) and {e.node for e in decisions(h)} == {0, 1, 2, COORD}
    assert all(not h.nodes[p].store.prepared for p in range(3))
    assert judge(h).safe


def test_coordinator_crash_after_the_commit_record_commits_on_recovery():
    h = harness(PROTOCOL, P, hold_syncs=True)
    h.submit(CLIENT, put("a"))
    _to_votes(h)
    h.complete_syncs(COORD)  # commit record durable: the decision exists
    assert decisions(h, COORD)[0].commit
    h.crash(COORD)  # its COMMITs are lost with it
    h.advance(1.0)
    assert all(h.nodes[p].store.prepared for p in range(3))
    h.recover(COORD)  # commit record, no end record: COMMIT again until every ACK is in
    for _ in range(5):
        h.deliver_all()
        h.complete_syncs()
    assert all(h.nodes[p].store.applied for p in range(3)) and h.nodes[COORD].unacked == {}
    assert judge(h).safe


def test_coordinator_crash_before_the_acks_resends_commit_and_participants_ack_again():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    h.deliver(lambda e: not isinstance(e.msg, Ack))
    h.crash(COORD)
    h.recover(COORD)
    assert h.stabilize()
    assert h.nodes[COORD].unacked == {} and h.nodes[COORD].counters.get("drop.unexpected", 0) == 0
    assert all(len(h.nodes[p].store.applied) == 1 for p in range(3)) and judge(h).safe


def test_participant_recovers_its_prepared_record_and_learns_the_commit_by_inquiring():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a", "x"))
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.deliver(of_type(Vote))
    h.crash(1)  # prepared record durable, vote sent; the COMMIT to it is lost
    h.deliver_all()
    h.advance(1.0)  # the coordinator resends COMMIT into the void
    h.recover(1)
    assert h.nodes[1].store.prepared and h.nodes[1].store.locks == {b"a": next(iter(h.nodes[1].store.prepared))}
    assert h.stabilize()
    assert h.nodes[1].store.data == {b"a": b"x"} and h.nodes[COORD].unacked == {}
    assert judge(h).safe


def test_participant_crash_before_its_prepared_record_is_durable_votes_nothing_and_the_attempt_aborts():
    h = harness(PROTOCOL, P, hold_syncs=True)
    h.submit(CLIENT, put("a"))
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.crash(2)  # its forced write was in flight: lost, so its yes never left
    h.complete_syncs()
    h.deliver(of_type(Vote))
    h.advance(P.vote_timeout_s)
    h.recover(2)
    h.complete_syncs()
    h.deliver_all()
    assert [e.node for e in votes(h, yes=True)] == [0, 1] and outcome(h) == ABORTED
    assert not h.nodes[2].store.prepared and judge(h).safe


def test_duplicate_and_late_messages_change_nothing():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    assert h.stabilize()
    txn = next(iter(h.nodes[0].store.applied))
    prep = Prepare(txn[0], txn[1], ((0, b"a", b"v"), (1, b"a", b"v"), (2, b"a", b"v")), (0, 1, 2))
    before = (len(votes(h)), len(decisions(h)))
    h.inject(COORD, 0, prep)  # a duplicated PREPARE after the commit: the same yes, no new event
    h.inject(COORD, 1, Decision(*txn, True))  # a duplicated COMMIT: ACKed again, applied once
    h.inject(0, COORD, Vote(*txn, 0, True))  # a late vote: ignored
    h.deliver_all()
    assert (len(votes(h)), len(decisions(h))) == before
    assert all(list(h.nodes[p].store.applied) == [txn] for p in range(3))
    # an ABORT that overtakes its PREPARE: the late PREPARE is answered no
    h.inject(COORD, 2, Decision(77, 5, False))
    h.inject(COORD, 2, Prepare(77, 5, ((2, b"z", b"v"),), (2,)))
    h.deliver(to(2))
    (answer,) = h.pending(of_type(Vote))
    assert answer.msg == Vote(77, 5, 2, False) and not h.nodes[2].store.prepared
    h.deliver_all()
    assert judge(h).safe


def test_a_retry_with_the_same_id_gets_the_recorded_outcome_and_never_runs_twice():
    h = harness(PROTOCOL, TwoPcParams(shards=3, shards_per_txn=3, client_retry_s=0.05))
    lost = h.add_filter(of_type(TxnOutcome))  # the answers are lost: the client resends the same attempt
    h.submit(CLIENT, put("a"))
    h.deliver_all()
    for _ in range(3):
        h.advance(0.05)
        h.deliver_all()
    h.remove_filter(lost)
    assert h.stabilize()
    assert h.nodes[COORD].counters["coordinator.answered_again"] >= 3
    assert len({(e.client, e.ts) for e in h.events(Decided)}) == 1  # one attempt, decided once
    assert len(h.events(Accepted)) == 1 and all(len(h.nodes[p].store.applied) == 1 for p in range(3))
    assert judge(h).safe


@pytest.mark.parametrize("cooperative", [False, True])
def test_cooperative_termination_learns_the_commit_from_a_peer(cooperative):
    params = TwoPcParams(shards=3, shards_per_txn=3, cooperative=cooperative)
    h = harness(PROTOCOL, params)
    h.submit(CLIENT, put("a"))
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))
    h.deliver(of_type(Vote))
    h.deliver(lambda e: isinstance(e.msg, Decision) and e.receiver == 0)  # only participant 0 hears COMMIT
    h.crash(COORD)
    h.advance(1.0)
    h.deliver(from_(0, 1, 2))
    decided = {e.node for e in decisions(h) if e.commit}
    assert decided == ({0, 1, 2, COORD} if cooperative else {0, COORD})
    assert judge(h).safe


def test_inquiry_about_an_unknown_attempt_is_answered_abort():
    h = harness(PROTOCOL, P)
    h.inject(1, COORD, Inquire(42, 7, 1))
    h.deliver(to(COORD))
    (d,) = h.pending(of_type(Decision))
    assert d.msg == Decision(42, 7, False)


def test_n_must_be_shards_plus_one():
    with pytest.raises(ConfigError, match="n must be shards"):
        spec_from_dict(spec(TWOPC, shards=3, n=5))
    assert spec_from_dict(spec(TWOPC, shards=4)).n == 5


def test_an_abort_that_overtakes_a_yes_vote_still_being_forced_cancels_the_vote():
    h = harness(PROTOCOL, P, hold_syncs=True)
    h.submit(CLIENT, put("a"))
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(Prepare))  # the prepared records are being forced
    txn = next(iter(h.nodes[0].store.prepared))
    h.inject(COORD, 0, Decision(*txn, False))
    h.deliver(to(0))
    h.complete_syncs()
    assert [e.node for e in votes(h)] == [1, 2]  # participant 0's yes never went out
    assert not h.pending(all_of(of_type(Vote), from_(0))) and not h.nodes[0].store.prepared
    assert not h.nodes[0].store.locks and not decisions(h, 0)
