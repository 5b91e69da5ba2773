"""The classic 5-server Figure 8 schedule (ATC'14 §5.4.2) against correct Raft and the planted eager commit.

Servers S1..S5 are replicas 0..4. After a common prefix (index 1: S1's no-op,
index 2: a put), the schedule is Figure 8's (terms shifted by ours):

(a) S1 leads term 1 and stores the client's command X at index 3 on itself and S2 only;
(b) S1 crashes; S5 wins term 2 with S3, S4 and appends its no-op at index 3, then crashes before sending it;
(c) S1 restarts from its disk, wins term 3 with S2 and S3 and copies X (term 1) to S3, but its own
    term-3 no-op reaches nobody. X is now on a majority (S1, S2, S3);
(d) S1 crashes; S5 restarts, wins term 4 with S2, S3, S4 (its log ends in term 2 > 1) and overwrites
    index 3 everywhere with its term-2 no-op.

Correct Raft never commits X in (c) (it is not of S1's term), so nothing executed is lost. The planted
leader commits and executes X at index 3 in (c); the SMR oracle then sees replicas disagree on index 3.
"""

from __future__ import annotations

import pytest

from bftlab.api import TimerFired
from bftlab.core import kv
from bftlab.oracles import smr
from bftlab.protocols.raft import PROTOCOL, RaftParams
from bftlab.protocols.raft.messages import AppendEntries
from bftlab.protocols.raft.replica import HEARTBEAT_TIMER
from bftlab.testing import Harness
from tests.raft.harness import elect
from tests.raft.planted import FIGURE8

CLIENT = 5


def figure8(spec) -> Harness:
    h = Harness(spec, n=5, clients=1, f=2, params=RaftParams(max_batch=1, max_inflight=1))
    elect(h, 0)
    h.submit(CLIENT, kv.encode_op("put", b"k", b"a"))
    h.deliver_all()
    assert len(h.accepted()) == 1 and h.nodes[0].log.last == 2
    # (a)
    h.partition([[0, 1, CLIENT], [2, 3, 4]])
    h.submit(CLIENT, kv.encode_op("put", b"k", b"X"))
    h.deliver_all()
    assert [h.nodes[i].log.last for i in range(5)] == [3, 3, 2, 2, 2]
    # (b)
    h.crash(0)
    elect(h, 4, silent=True)
    assert h.nodes[4].term == 2 and h.nodes[4].log.last_term == 2
    h.crash(4)  # before any of its AppendEntries left
    # (c)
    h.recover(0)
    h.partition([[0, 1, 2, CLIENT], [3], [4]])
    lost = h.add_filter(lambda e: type(e.msg) is AppendEntries and any(x.term == 3 for x in e.msg.entries))
    elect(h, 0)
    assert h.nodes[0].term == 3
    h._step(0, TimerFired(HEARTBEAT_TIMER))  # no progress since it was elected: probe the followers again
    h.deliver_all()
    assert [h.nodes[i].log.term_at(3) for i in range(3)] == [1, 1, 1]  # X is on a majority
    h.remove_filter(lost)
    h.drop()
    # (d)
    h.crash(0)
    h.recover(4)
    h.partition([[1, 2, 3, 4, CLIENT]])
    elect(h, 4)
    assert h.nodes[4].term == 4
    h._step(4, TimerFired(HEARTBEAT_TIMER))
    h.deliver_all()
    assert [h.nodes[i].log.term_at(3) for i in (1, 2, 3, 4)] == [2, 2, 2, 2]  # X is gone
    h._step(4, TimerFired(HEARTBEAT_TIMER))  # the followers learn the commit index
    h.deliver_all()
    return h


def test_correct_raft_does_not_commit_an_old_term_entry_by_counting_replicas():
    h = figure8(PROTOCOL)
    # The new leader committed its own term's entry, and the term-2 no-op before it, on every live replica.
    assert [h.nodes[i].commit for i in (1, 2, 3, 4)] == [4, 4, 4, 4]
    verdict = smr.check(h.history)
    assert verdict.violations == [], verdict.violations
    assert not any(e.seq == 3 and e.entries for e in h.executed_by(0))  # S1 never executed X


def test_the_planted_eager_commit_executes_an_entry_that_a_later_leader_overwrites():
    h = figure8(FIGURE8)
    assert any(e.seq == 3 and e.entries for e in h.executed_by(0))  # S1 committed X in (c) ...
    kinds = {v.kind for v in smr.check(h.history).violations}
    assert "agreement" in kinds  # ... and S2..S5 executed S5's no-op at index 3


@pytest.mark.parametrize("spec", [PROTOCOL, FIGURE8])
def test_the_schedule_really_reaches_figure_8c(spec):
    """Both runs pass through (c) the same way: the difference is only the commit decision."""
    h = figure8(spec)
    assert h.nodes[3].term == 4 and h.nodes[4].role == "leader"
