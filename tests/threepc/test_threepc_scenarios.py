"""Three-phase commit, path by path, on the step-by-step harness."""

from __future__ import annotations

import pytest

from bftlab.api import Accepted, Decided, observed_digest
from bftlab.errors import ConfigError
from bftlab.protocols.threepc import PROTOCOL, ThreePcParams
from bftlab.protocols.threepc.messages import (
    COMMITTABLE,
    UNCERTAIN,
    CanCommit,
    Decision,
    PreAck,
    PreCommit,
    StateReply,
    StateReq,
    Vote,
)
from bftlab.protocols.txn import TxnOutcome, TxnSubmit
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import all_of, from_, of_type, to
from tests.twopc.helpers import THREEPC, decisions, harness, judge, put, spec, votes

P = ThreePcParams(shards=3, shards_per_txn=3, max_attempts=1)
COORD, CLIENT = 3, 4
COMMITTED, ABORTED = observed_digest(b"commit"), observed_digest(b"abort")


def outcome(h) -> bytes | None:
    acc = h.accepted()
    return acc[-1].result_digest if acc else None


def to_votes(h) -> None:
    h.deliver(of_type(TxnSubmit))
    h.deliver(of_type(CanCommit))
    h.deliver(of_type(Vote))


def test_all_yes_commits_after_the_precommit_round():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    assert not decisions(h) and h.pending(of_type(PreCommit))  # nobody decides before everyone is committable
    assert h.stabilize()
    assert outcome(h) == COMMITTED
    assert {e.node for e in decisions(h)} == {0, 1, 2, COORD} and all(e.commit for e in decisions(h))
    assert all(len(h.nodes[p].store.applied) == 1 for p in range(3))
    assert h.nodes[COORD].log.forced == 2  # begin and commit records
    assert judge(h, faults=False).safe


def test_one_no_vote_aborts():
    h = harness(PROTOCOL, P)
    h.nodes[2].store.locks[b"a"] = (99, 1)
    h.submit(CLIENT, put("a"))
    assert h.stabilize()
    assert outcome(h) == ABORTED and [e.node for e in votes(h, yes=False)] == [2]
    assert not any(h.nodes[p].store.prepared or h.nodes[p].store.applied for p in range(3))
    assert not h.events(PreCommit) and judge(h).safe


def test_coordinator_crash_before_precommit_all_uncertain_abort_by_tr3():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    h.crash(COORD)  # its PreCommits are lost
    h.advance(P.timeout_s)  # the participants deem it failed; participant 0 is epoch 1's backup
    h.deliver_all()
    h.advance(P.collect_timeout_s)
    h.deliver_all()
    assert {e.node: e.commit for e in decisions(h)} == {0: False, 1: False, 2: False}
    assert h.nodes[0].counters["participant.terminations"] == 1
    h.recover(COORD)  # in doubt: it asks and adopts the participants' decision
    h.advance(0.0)
    h.deliver_all()
    assert decisions(h, COORD)[0].commit is False and judge(h).safe


def test_coordinator_crash_after_one_precommit_commits_by_tr4():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    h.deliver(lambda e: isinstance(e.msg, PreCommit) and e.receiver == 2)  # only participant 2 is committable
    h.crash(COORD)
    h.advance(P.timeout_s)
    h.deliver(of_type(StateReq))
    replies = {e.msg.node: e.msg.state for e in h.pending(of_type(StateReply))}
    assert replies == {1: UNCERTAIN, 2: COMMITTABLE}
    h.deliver(of_type(StateReply))
    tr4 = h.pending(all_of(of_type(PreCommit), from_(0)))
    assert [(e.receiver, e.msg.epoch) for e in tr4] == [(1, 1)]  # TR4: the backup PreCommits the uncertain first
    h.deliver_all()
    assert {e.node for e in decisions(h) if e.commit} == {0, 1, 2}
    assert all(len(h.nodes[p].store.applied) == 1 for p in range(3)) and judge(h).safe


def test_dead_backup_is_skipped_by_the_next_epoch():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    h.deliver(lambda e: isinstance(e.msg, PreCommit) and e.receiver == 2)
    h.crash(COORD)
    h.crash(0)  # epoch 1's backup is down too
    h.advance(P.timeout_s + P.term_timeout_s)  # epoch 2: participant 1 leads
    h.deliver_all()
    h.advance(P.collect_timeout_s)
    h.deliver_all()
    assert {e.node for e in decisions(h) if e.commit} == {1, 2} and not [e for e in decisions(h) if not e.commit]
    h.recover(0)  # restarted in doubt: no part in termination, asks and learns
    h.advance(0.0)
    h.deliver_all()
    assert decisions(h, 0)[0].commit and judge(h).safe


def test_coordinator_commits_on_an_ack_timeout_and_the_silent_participant_learns_on_recovery():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    h.crash(1)  # voted yes, then failed
    h.deliver_all()
    h.advance(P.ack_timeout_s)
    h.deliver_all()
    assert outcome(h) == COMMITTED and h.nodes[COORD].counters["coordinator.ack_timeouts"] == 1
    h.recover(1)
    assert h.nodes[1].doubt
    h.advance(0.0)
    h.deliver_all()
    assert len(h.nodes[1].store.applied) == 1 and not h.nodes[1].doubt and judge(h).safe


def test_a_restarted_participant_in_doubt_ignores_precommit_and_state_requests():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    h.drop(of_type(PreCommit))
    h.crash(1)
    h.recover(1)
    txn = next(iter(h.nodes[1].store.prepared))
    h.drop(to(0, 2, COORD))
    h.inject(COORD, 1, PreCommit(*txn, 0))
    h.inject(0, 1, StateReq(*txn, 0, 1))
    h.deliver(to(1))
    assert not h.pending(of_type(PreAck)) and not h.pending(of_type(StateReply))
    assert h.nodes[1].counters["drop.precommit"] == 1 and h.nodes[1].counters["drop.state_req"] == 1


def test_coordinator_restart_in_doubt_never_decides_alone():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    to_votes(h)
    h.drop(of_type(PreCommit))
    h.crash(COORD)
    for p in range(3):  # total failure: everyone that could know is down
        h.crash(p)
    h.recover(COORD)
    h.advance(1.0)
    h.deliver_all()
    assert not decisions(h, COORD) and h.nodes[COORD].active  # blocked, asking
    for p in range(3):
        h.recover(p)
    h.advance(1.0)
    h.deliver_all()
    assert not decisions(h)  # all in doubt after a total failure: blocked (BHG §7.5), and safe
    assert judge(h).safe


def test_a_retry_with_the_same_id_is_answered_and_never_run_twice():
    h = harness(PROTOCOL, ThreePcParams(shards=3, shards_per_txn=3, client_retry_s=0.05))
    lost = h.add_filter(of_type(TxnOutcome))
    h.submit(CLIENT, put("a"))
    h.deliver_all()
    for _ in range(3):
        h.advance(0.05)
        h.deliver_all()
    h.remove_filter(lost)
    assert h.stabilize()
    assert h.nodes[COORD].counters["coordinator.answered_again"] >= 3
    assert len({(e.client, e.ts) for e in h.events(Decided)}) == 1 and len(h.events(Accepted)) == 1
    assert all(len(h.nodes[p].store.applied) == 1 for p in range(3)) and judge(h).safe


def test_duplicate_and_stale_messages_change_nothing():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    assert h.stabilize()
    txn = next(iter(h.nodes[0].store.applied))
    before = (len(votes(h)), len(decisions(h)))
    h.inject(COORD, 0, CanCommit(*txn, ((0, b"a", b"v"),), (0, 1, 2)))
    h.inject(COORD, 1, Decision(*txn, True))
    h.inject(COORD, 2, PreCommit(*txn, 0))
    h.inject(1, 2, Decision(*txn, False))  # a contradicting decision is refused and counted
    h.deliver_all()
    assert (len(votes(h)), len(decisions(h))) == before and h.nodes[2].counters["decision.conflicting"] == 1
    assert all(list(h.nodes[p].store.applied) == [txn] for p in range(3)) and judge(h).safe


def test_timeouts_must_leave_room_for_a_live_coordinator():
    with pytest.raises(ConfigError, match="timeout_s must exceed"):
        ThreePcParams(timeout_s=0.1, vote_timeout_s=0.1)
    with pytest.raises(ConfigError, match="n must be shards"):
        spec_from_dict(spec(THREEPC, shards=2, n=4))


def _crash_after(h, deliver) -> None:
    h.submit(CLIENT, put("a"))
    to_votes(h)
    deliver(h)
    h.crash(COORD)
    h.advance(P.timeout_s)
    h.deliver_all()
    h.advance(P.collect_timeout_s)
    h.deliver_all()


def test_coordinator_crash_after_every_precommit_commits_at_once():
    h = harness(PROTOCOL, P)
    _crash_after(h, lambda h: (h.deliver(of_type(PreCommit)), h.drop(of_type(PreAck))))
    assert {e.node for e in decisions(h) if e.commit} == {0, 1, 2}
    assert not h.events(PreCommit) and h.nodes[0].counters["participant.terminations"] == 1  # no TR4 round
    assert judge(h).safe


def test_coordinator_crash_after_one_docommit_commits_by_tr2():
    h = harness(PROTOCOL, P)

    def one_docommit(h):
        h.deliver(of_type(PreCommit))
        h.deliver(of_type(PreAck))
        h.deliver(lambda e: isinstance(e.msg, Decision) and e.receiver == 1)

    _crash_after(h, one_docommit)
    assert {e.node for e in decisions(h) if e.commit} == {0, 1, 2, COORD} and judge(h).safe


def test_coordinator_crash_before_cancommit_asks_on_recovery_and_the_participants_abort():
    h = harness(PROTOCOL, P)
    h.submit(CLIENT, put("a"))
    h.deliver(of_type(TxnSubmit))  # the begin record is forced; CanCommit never leaves
    h.crash(COORD)
    h.drop(of_type(CanCommit))
    h.recover(COORD)
    assert h.nodes[COORD].active  # in doubt about the attempt it began
    h.advance(0.0)
    h.deliver_all()
    assert decisions(h, COORD)[0].commit is False and outcome(h) == ABORTED
    assert all(not h.nodes[p].store.prepared for p in range(3)) and judge(h).safe
