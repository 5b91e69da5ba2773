"""A deliberately broken PBFT (COMMIT quorum f+1 instead of 2f+1) loses safety under a constructed schedule.

The schedule (n=4, f=1, replica 3 Byzantine in the view change only):
request A is pre-prepared at seq 1 in view 0 but reaches only replicas 2 and 3;
they prepare and commit, and replica 2 receives one COMMIT (from 3). With f+1
commits it executes A at seq 1. View 1 is then formed from the VIEW-CHANGEs of
0, 1 and 3, where 3 signs one that hides its prepared certificate. Nobody else
prepared A, so the new primary fills seq 1 with request B. The correct protocol
(2f+1 commits) is safe under the very same schedule: replica 2 never commits A.
"""

from __future__ import annotations

import pytest

from bftlab.api import Executed
from bftlab.oracles.smr import check
from bftlab.protocols.pbft import PROTOCOL, PbftParams, PbftReplica, op_put
from bftlab.protocols.pbft.messages import Commit, Prepare, PrePrepare, Request, ViewChange, view_change_body
from bftlab.testing import Harness, all_of, from_, of_type, to

from .helpers import assert_safe


class CommitWithFPlusOne(PbftReplica):
    def commit_quorum(self) -> int:
        return self.f + 1


def run_schedule(replica_factory) -> Harness:
    h = Harness(PROTOCOL, n=4, clients=2, params=PbftParams(), replica_factory=replica_factory)
    a, b = h.clients
    h.submit(a, op_put(b"k", b"A"))
    h.deliver(of_type(Request))
    h.advance(0.002)  # the primary cuts the batch
    h.drop(all_of(of_type(PrePrepare), to(1)))
    h.deliver(of_type(PrePrepare))  # to replicas 2 and 3
    h.deliver(all_of(of_type(Prepare), to(2, 3)))
    h.deliver(all_of(of_type(Commit), to(2)))
    h.drop()  # every other message of view 0 is lost
    h.advance(0.5)  # view-change timers expire
    h.drop(all_of(of_type(ViewChange), from_(2, 3)))
    forged = ViewChange(1, 0, (), (), 3, h.crypto(3).sign(view_change_body(1, 0, (), (), 3)))
    h.inject(3, 1, forged)  # Byzantine replica 3 hides its prepared certificate
    h.deliver(all_of(of_type(ViewChange), to(1)))  # replica 1 joins and sends NEW-VIEW
    h.submit(b, op_put(b"k", b"B"))
    req_b = h.pending(of_type(Request))[0].msg
    h.drop(of_type(Request))
    h.inject(b, 1, req_b)  # B reaches the new primary before replica 0 hands A over
    h.deliver(of_type(Request))  # nothing in flight: the new primary proposes B at once, at seq 1
    h.stabilize()
    return h


def test_f_plus_one_commit_quorum_executes_different_requests_at_the_same_seq():
    h = run_schedule(CommitWithFPlusOne)
    at_seq_1 = {e.node: e.entries for e in h.events(Executed) if e.seq == 1}
    a, b = h.clients
    assert [x.client for x in at_seq_1[2]] == [a]
    assert b in [x.client for x in at_seq_1[0]]  # the new primary proposed B at seq 1
    assert at_seq_1[0] != at_seq_1[2]
    with pytest.raises(AssertionError, match="disagree at seq 1"):
        assert_safe(h)
    # the engine's checker, fed only the history, names the slot, the replicas and the requests
    verdict = check(h.history, byzantine=[3])
    bad = [v for v in verdict.violations if v.kind == "agreement"]
    assert not verdict.safe and bad and bad[0].seq == 1
    assert set(bad[0].replicas) == {0, 2}
    assert {c for c, _ts in bad[0].requests} == {a, b}


def test_correct_protocol_is_safe_under_the_same_schedule():
    h = run_schedule(PbftReplica)
    assert_safe(h)
    assert check(h.history, byzantine=[3]).safe
    assert len(h.accepted()) == 2
