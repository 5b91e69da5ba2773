"""View changes: crashed, partitioned and silent primaries; loss with retransmission; back-off."""

from __future__ import annotations

from bftlab.api import Executed, ViewChanged
from bftlab.protocols.pbft.messages import (
    Commit,
    NewView,
    Prepare,
    PrePrepare,
    Reply,
    Request,
    ViewChange,
    new_view_body,
    pre_prepare_body,
)
from bftlab.testing import all_of, from_, of_type, to

from .helpers import assert_live, assert_no_surprises, assert_safe, harness, submit_round


def views_installed(h, node):
    return [e.view for e in h.events(ViewChanged) if e.node == node]


def test_crashed_primary_is_replaced_and_all_requests_complete():
    h = harness(n=4, clients=2)
    h.crash(0)
    submit_round(h, "p", per_client=4)
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)
    for r in (1, 2, 3):
        assert views_installed(h, r) == [0, 1]
        assert h.nodes[r].view == 1 and h.nodes[r].active
    assert_no_surprises(h, (1, 2, 3))


def test_primary_crash_after_partial_commit_loses_nothing_and_executes_nothing_twice():
    h = harness(n=4, clients=3, batch_window=0)  # the batch timer cuts one batch of all three requests
    submit_round(h, "x")
    h.deliver(of_type(Request))
    h.advance(0.002)
    h.deliver(of_type(PrePrepare))
    h.deliver(of_type(Prepare))
    # Only replica 1 receives commits: it alone executes seq 1, then the primary dies.
    h.deliver(all_of(of_type(Commit), to(1)))
    h.drop(of_type(Commit))
    assert [e.seq for e in h.executed_by(1)] == [1]
    assert h.executed_by(2) == []
    h.crash(0)
    submit_round(h, "y")
    assert h.stabilize()
    by_seq = assert_safe(h)
    assert_live(h)
    assert len(by_seq[1]) == 3  # seq 1 kept its batch across the view change
    for r in (1, 2, 3):
        assert [e.seq for e in h.executed_by(r)] == sorted(by_seq)


def test_partitioned_primary_heals_and_rejoins_the_new_view():
    h = harness(n=4, clients=2, checkpoint_interval=4, log_window=16)
    h.partition([[1, 2, 3, *h.clients], [0]])
    submit_round(h, "a", per_client=3)
    assert h.stabilize()
    assert_live(h)
    assert h.nodes[0].view == 0
    h.heal()
    submit_round(h, "b", per_client=6)
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)
    node0 = h.nodes[0]
    assert node0.view == 1 and node0.active  # caught up on the view it missed
    assert node0.last_exec == h.nodes[1].last_exec
    assert node0.kv.items() == h.nodes[1].kv.items()


def test_message_loss_is_recovered_by_client_retransmission():
    h = harness(n=4, clients=2)
    submit_round(h, "r")
    h.drop(of_type(Request))  # the first transmissions are lost
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)
    # The replies are lost too: the client retransmits to all, replicas resend cached replies.
    submit_round(h, "s")
    lossy = h.add_filter(of_type(Reply))
    h.deliver_all()
    h.remove_filter(lossy)
    assert h.stabilize()
    assert_live(h)
    assert_safe(h)
    assert all(e.view == 0 for e in h.events(Executed))


def test_silent_primary_that_drops_preprepares_is_voted_out():
    h = harness(n=4, clients=1)
    silent = h.add_filter(all_of(from_(0), of_type(PrePrepare)))
    submit_round(h, "q", per_client=2)
    assert h.stabilize()
    h.remove_filter(silent)
    assert_safe(h)
    assert_live(h)
    assert {e.view for e in h.events(Executed)} == {1}


def test_two_faulty_primaries_in_a_row_with_backoff_n7():
    h = harness(n=7, clients=2, view_change_timeout_s=0.5)
    h.crash(0)
    h.crash(1)  # primaries of views 0 and 1
    submit_round(h, "z", per_client=2)
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)
    for r in range(2, 7):
        assert views_installed(h, r) == [0, 2]
        assert h.nodes[r].view_changer.attempts == 0  # reset by progress in view 2


def test_view_change_timer_doubles_while_views_fail():
    h = harness(n=4, clients=1, view_change_timeout_s=1.0)
    vc = h.nodes[1].view_changer
    assert vc.timeout() == 1.0
    vc.attempts = 1
    assert vc.timeout() == 1.0
    vc.attempts = 3
    assert vc.timeout() == 4.0
    vc.attempts = 10_000
    assert vc.timeout() == 1.0 * 2**h.nodes[1].params.view_change_backoff_max


def test_f_plus_one_view_changes_make_a_replica_join():
    h = harness(n=4, clients=1)
    h.crash(0)
    deaf = h.add_filter(all_of(of_type(Request), to(3)))  # replica 3 never sees the request
    submit_round(h, "j")
    h.deliver_all()
    h.advance(1.0)  # client retransmits to all; replicas 1 and 2 forward it and start their timers
    h.deliver_all()
    assert h.nodes[3].view == 0 and not h.nodes[3].view_changer.timer_armed
    h.advance(0.5)  # replicas 1 and 2 time out and send VIEW-CHANGE for view 1
    h.deliver(all_of(of_type(ViewChange), to(3), from_(1)))
    assert h.nodes[3].view == 0
    h.deliver(all_of(of_type(ViewChange), to(3), from_(2)))
    assert h.nodes[3].view == 1  # joined after f+1 = 2 view changes
    h.remove_filter(deaf)
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)


def test_new_view_whose_o_set_does_not_follow_from_v_is_rejected():
    h = harness(n=4, clients=1)
    h.crash(0)
    submit_round(h, "o")
    h.run_until(lambda: bool(h.pending(of_type(NewView))))
    nv = h.pending(of_type(NewView))[0].msg
    assert nv.pre_prepares == ()  # nothing was prepared in view 0
    # The new primary (replica 1) is Byzantine: it adds a null request at seq 1, properly signed.
    sign = h.crypto(1).sign
    null = h.nodes[2].view_changer.null_digest
    pp = PrePrepare(1, 1, null, (), (sign(pre_prepare_body(1, 1, null)),))
    forged = NewView(1, nv.view_changes, (pp,), 1, sign(new_view_body(1, nv.view_changes, (pp,), 1)))
    h.drop(of_type(NewView))
    h.inject(1, 2, forged)
    h.deliver(all_of(of_type(NewView), to(2)))
    assert h.nodes[2].counters.get("drop.bad_new_view", 0) == 1
    assert not h.nodes[2].active
    # A tampered signature is rejected too.
    h.inject(1, 2, NewView(1, nv.view_changes, (pp,), 1, nv.sig))
    h.deliver(all_of(of_type(NewView), to(2)))
    assert h.nodes[2].counters.get("drop.bad_auth", 0) == 1


def _lagging_replica(behind: bool):
    """Replica 3 misses the normal-case messages while the others execute four requests; with ``behind`` it
    gets their CHECKPOINTs (they executed past it), not the state those prove. Then it holds a client's
    request and its view-change timer fires."""
    from bftlab.api import TimerFired
    from bftlab.protocols.pbft.messages import Checkpoint, FetchState
    from bftlab.protocols.pbft.replica import VC_TIMER

    h = harness(n=4, clients=1, checkpoint_interval=2, log_window=4)
    h.add_filter(all_of(to(3), lambda e: type(e.msg) in (PrePrepare, Prepare, Commit)))
    h.add_filter(of_type(FetchState))  # the state transfer stays in flight
    if not behind:
        h.add_filter(all_of(to(3), of_type(Checkpoint)))
    for i in range(4):
        submit_round(h, f"r{i}")
        h.deliver_all()
    node = h.nodes[3]
    assert node.last_exec == 0 and h.nodes[1].last_exec == 4
    submit_round(h, "late")
    (env,) = h.pending(of_type(Request))
    h.inject(env.sender, 3, env.msg)  # as a client's retransmission to every replica would
    h.deliver(to(3))
    assert node.pending
    h._step(3, TimerFired(VC_TIMER))
    return h, node


def test_a_replica_behind_its_peers_does_not_vote_out_the_primary_when_its_timer_fires():
    h, node = _lagging_replica(behind=True)
    assert node.checkpoints.h == 4 and node.checkpoints.fetch is not None  # proven behind, fetching state
    assert node.view_changer.view == 0 and node.view_changer.active
    assert node.counters.get("vc.deferred_behind") == 1
    assert not h.pending(of_type(ViewChange))


def test_a_replica_not_shown_to_be_behind_still_votes_out_the_primary():
    h, node = _lagging_replica(behind=False)
    assert node.checkpoints.h == 0
    assert node.view_changer.view == 1 and not node.view_changer.active
    assert h.pending(all_of(from_(3), of_type(ViewChange)))
