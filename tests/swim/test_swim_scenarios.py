"""SWIM scenarios: detection and its spread, refuted suspicions, false positives without suspicion, joins,
leaves, restarts and healed partitions."""

from __future__ import annotations

import pytest

from bftlab.api import Receive, Send, Start, TimerFired
from bftlab.core.kernel import to_ns
from bftlab.protocols.swim.member import SwimMember
from bftlab.protocols.swim.messages import Ack, JoinAck, Ping, PingReq
from bftlab.protocols.swim.view import ALIVE, DEAD, SUSPECT, Piggyback, overrides, retransmit_limit
from tests.swim.helpers import Run, deaths_of, sim, status, swim_spec


def test_a_crashed_member_is_detected_and_every_live_member_learns_it():
    s = sim(swim_spec(n=16, faults=[{"node": 5, "crash_at_s": 6.5}], phase="aligned"))
    s.kernel.run(until_ns=to_ns(6.4))
    assert all(status(s, m, 5) == "alive" for m in range(16) if m != 5)
    s.kernel.run(until_ns=to_ns(40.0))
    assert all(status(s, m, 5) == "dead" for m in range(16) if m != 5)
    first = min(t for t, _ in deaths_of(s, 5))
    assert 6.5 < first < 6.5 + s.nodes[0].suspicion_timeout_s + 6.0  # detection plus the suspicion timeout
    # the first claim was a member's own probe failing (a suspicion), not gossip
    probes = [t for m in range(16) for t, who, st, _, how in s.nodes[m].log if who == 5 and how == "probe"]
    assert probes and min(probes) < first


def test_the_run_reports_detection_and_the_membership_oracle_passes():
    r = Run(swim_spec(n=16, faults=[{"node": 3, "crash_at_s": 5.5}], phase="aligned", time_limit_s=40.0))
    d = r.swim["detections"][0]
    assert d["detected"] and d["detection_periods"] >= 1.0 and d["all_dead_s"] is not None
    assert d["detection_periods"] == pytest.approx(round(d["detection_periods"]), abs=0.01)  # whole periods
    assert r.swim["undetected_at_end"] == []
    assert r.membership["live"] is True and r.membership["gone_members"] == 1


def test_the_membership_oracle_fails_a_run_that_ends_before_the_crash_has_spread():
    r = Run(swim_spec(n=16, faults=[{"node": 3, "crash_at_s": 5.5}], time_limit_s=6.0))
    assert r.membership["live"] is False and r.membership["by_kind"]["undetected"] > 0


SLOW = [{"strategy": "targeted-delay", "params": {"node": 4, "delay_s": 0.7, "start_s": 5.0, "end_s": 9.0}}]


def test_a_slow_member_is_suspected_and_refutes_it_without_being_removed():
    r = Run(swim_spec(n=10, adversary=SLOW, time_limit_s=40.0, suspicion_periods=6))
    suspicions = [(t, m) for m in range(10) for t, who, st, _, _ in r.sim.nodes[m].log if who == 4 and st == SUSPECT]
    assert suspicions, "the slow member's probes must fail while its link is slow"
    assert r.sim.nodes[4].counters.get("refutations", 0) >= 1 and r.sim.nodes[4].inc >= 1
    assert deaths_of(r.sim, 4) == []  # refuted in time: never removed
    assert all(status(r.sim, m, 4) == "alive" for m in range(10) if m != 4)
    assert r.swim["false_positives"]["false_deaths"] == 0 and r.membership["live"] is True


def test_without_suspicion_the_same_slow_member_is_falsely_removed():
    r = Run(swim_spec(n=10, adversary=SLOW, time_limit_s=40.0, suspicion=False))
    assert deaths_of(r.sim, 4), "the basic protocol declares a slow member dead"
    assert r.swim["false_positives"]["false_deaths"] > 0
    # it comes back: told it is dead on an ack, it refutes with a higher incarnation
    assert all(status(r.sim, m, 4) == "alive" for m in range(10) if m != 4)


def test_under_loss_the_basic_detector_has_false_positives_and_suspicion_removes_them():
    basic = Run(swim_spec(n=12, loss=0.15, k=1, suspicion=False, time_limit_s=60.0))
    fp = basic.swim["false_positives"]
    assert fp["failed_live_probes"] > 0 and fp["false_deaths"] > 0
    susp = Run(swim_spec(n=12, loss=0.15, k=1, suspicion=True, time_limit_s=60.0))
    fp2 = susp.swim["false_positives"]
    assert fp2["failed_live_probes"] > 0 and fp2["false_suspicions"] > 0  # the same probes still fail...
    assert fp2["false_deaths"] == 0  # ...but every suspicion is refuted before it times out
    assert susp.membership["live"] is True


def test_joiners_enter_through_the_introducer_and_become_known_to_all():
    r = Run(swim_spec(n=12, joiners=[10, 11], join_at_s=3.0, time_limit_s=30.0))
    for m in range(10):
        assert status(r.sim, m, 10) == "alive" and status(r.sim, m, 11) == "alive"
    assert all(len(r.sim.nodes[j].view) == 11 for j in (10, 11))
    assert r.membership["live"] is True


def test_a_joiner_is_unknown_before_it_joins():
    s = sim(swim_spec(n=8, joiners=[7], join_at_s=5.0))
    s.kernel.run(until_ns=to_ns(4.9))
    assert all(status(s, m, 7) is None for m in range(7)) and not s.nodes[7].joined
    s.kernel.run(until_ns=to_ns(25.0))
    assert all(status(s, m, 7) == "alive" for m in range(7)) and s.nodes[7].joined


def test_a_leaver_is_marked_left_not_suspected():
    r = Run(swim_spec(n=10, leavers=[6], leave_at_s=5.0, time_limit_s=30.0))
    assert all(status(r.sim, m, 6) in ("left", "dead") for m in range(10) if m != 6)
    assert sum(status(r.sim, m, 6) == "left" for m in range(10) if m != 6) >= 5
    assert r.membership["live"] is True


def test_a_restarted_member_rejoins_at_a_higher_incarnation():
    faults = [{"node": 2, "crash_at_s": 4.0, "recover_at_s": 25.0}]
    s = sim(swim_spec(n=10, faults=faults))
    s.kernel.run(until_ns=to_ns(24.0))
    assert all(status(s, m, 2) == "dead" for m in range(10) if m != 2)
    s.kernel.run(until_ns=to_ns(50.0))
    assert s.nodes[2].inc >= 1 and s.nodes[2].joined
    assert all(status(s, m, 2) == "alive" and s.nodes[m].view[2][1] == s.nodes[2].inc for m in range(10) if m != 2)


PARTITION = [{"start_s": 5.0, "end_s": 35.0, "groups": [[0, 1, 2, 3, 4, 10], [5, 6, 7, 8, 9]]}]


def test_after_a_partition_heals_view_syncs_bring_both_sides_back():
    s = sim(swim_spec(n=10, partitions=PARTITION, sync_periods=5))
    s.kernel.run(until_ns=to_ns(34.0))
    assert status(s, 0, 7) == "dead" and status(s, 7, 0) == "dead"  # each side removed the other
    s.kernel.run(until_ns=to_ns(90.0))
    assert all(status(s, a, b) == "alive" for a in range(10) for b in range(10) if a != b)


def test_without_view_syncs_the_healed_sides_never_probe_each_other_again():
    r = Run(swim_spec(n=10, partitions=PARTITION, sync_periods=0, time_limit_s=90.0))
    assert status(r.sim, 0, 7) == "dead" and status(r.sim, 7, 0) == "dead"
    assert r.membership["live"] is False and r.membership["by_kind"]["wrongly-removed"] > 0


def test_round_robin_probes_every_member_within_two_traversals():
    # section 4.3: with the list reshuffled per traversal, gaps between probes of one target are < 2(n-1) periods
    n = 9
    r = Run(swim_spec(n=n, time_limit_s=80.0, phase="aligned"))
    for m in range(n):
        starts: dict[int, list[float]] = {}
        for t, target, _ in r.sim.nodes[m].outcomes:
            starts.setdefault(target, []).append(t)
        assert set(starts) == set(range(n)) - {m}
        for ts in starts.values():
            assert max(b - a for a, b in zip(ts, ts[1:])) <= 2 * (n - 1) - 1 + 0.01  # + processing-time drift


# ------------------------------------------------------------------ unit checks
def test_update_precedence_follows_section_4_2():
    assert overrides((SUSPECT, 3), (ALIVE, 3)) and not overrides((ALIVE, 3), (SUSPECT, 3))
    assert overrides((ALIVE, 4), (SUSPECT, 3)) and not overrides((SUSPECT, 3), (SUSPECT, 3))
    assert overrides((DEAD, 3), (SUSPECT, 3)) and overrides((DEAD, 3), (ALIVE, 3))
    assert overrides((ALIVE, 4), (DEAD, 3)) and not overrides((DEAD, 2), (ALIVE, 3))


def test_piggybacked_updates_are_sent_at_most_the_retransmission_limit():
    pb = Piggyback()
    for m in range(5):
        pb.add(ALIVE, m, 0)
    limit = retransmit_limit(3.0, 31)
    assert limit == 11  # ceil(3 ln 32)
    sends: dict[int, int] = {}
    for _ in range(100):  # bounded
        for _, m, _ in pb.take(2, limit):
            sends[m] = sends.get(m, 0) + 1
    assert sends == {m: limit for m in range(5)} and len(pb) == 0


def _member(n: int = 4, **params):
    from dataclasses import replace
    from random import Random

    from bftlab.api import NodeContext
    from bftlab.protocols.swim.params import SwimParams

    p = replace(SwimParams(), **params)
    return SwimMember(NodeContext(0, n, 0, tuple(range(n)), (n,), None, Random(1), p), p)  # type: ignore[arg-type]


def _sends(out, cls):
    return [a for a in out if type(a) is Send and type(a.msg) is cls]


def test_a_suspected_member_refutes_with_a_newer_incarnation():
    m = _member()
    m.step(0.0, Start())
    out = m.step(1.0, Receive(1, Ping(7, 0, ((SUSPECT, 0, 0),))))
    assert m.inc == 1
    (ack,) = [a.msg for a in _sends(out, Ack)]
    assert (ALIVE, 0, 1) in ack.updates


def test_a_member_pinged_by_one_it_holds_dead_tells_it_first():
    m = _member()
    m.step(0.0, Start())
    m.step(0.5, Receive(2, Ping(1, 0, ((DEAD, 1, 0),))))
    out = m.step(1.0, Receive(1, Ping(3, 0, ())))
    (ack,) = [a.msg for a in _sends(out, Ack)]
    assert ack.updates[0] == (DEAD, 1, 0)


def test_a_failed_probe_without_ack_leads_to_k_ping_reqs_then_a_suspicion():
    m = _member(n=6, k=2, target_selection="random")
    m.step(0.0, Start())
    out = m.step(1.0, TimerFired("period"))
    (ping,) = _sends(out, Ping)
    out = m.step(1.2, TimerFired(("ack", ping.msg.seq)))
    reqs = _sends(out, PingReq)
    assert len(reqs) == 2 and all(a.msg.target == ping.to and a.to != ping.to for a in reqs)
    m.step(2.0, TimerFired("period"))
    assert m.view[ping.to] == [SUSPECT, 0]


def test_a_forwarded_ack_counts_as_an_answer():
    m = _member(n=6, k=2, target_selection="random")
    m.step(0.0, Start())
    (ping,) = _sends(m.step(1.0, TimerFired("period")), Ping)
    m.step(1.2, TimerFired(("ack", ping.msg.seq)))
    helper = next(x for x in range(1, 6) if x != ping.to)
    m.step(1.5, Receive(helper, Ack(ping.msg.seq, ping.to, ())))
    m.step(2.0, TimerFired("period"))
    assert m.view[ping.to] == [ALIVE, 0]


def test_garbage_from_a_peer_is_dropped_not_raised():
    m = _member()
    m.step(0.0, Start())
    m.step(1.0, Receive(1, Ping(1, 0, ((9, 99, -1), ("x", 1, 2)))))  # type: ignore[arg-type]
    m.step(1.0, Receive(1, JoinAck(((ALIVE, 77, 0),))))
    m.step(1.0, Receive(42, Ping(1, 0, ())))
    assert m.counters.get("drop.bad_update", 0) + m.counters.get("drop.exception", 0) >= 2
    assert 77 not in m.view and 99 not in m.view
