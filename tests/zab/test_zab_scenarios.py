"""ZAB scenarios: the normal case and its message pattern, leader change, restart from disk, catch-up,
and the three sync modes (DIFF, TRUNC, SNAP), driven step by step or in the simulator."""

from __future__ import annotations

import pytest

from bftlab.api import Accepted, Executed, Issued, Recovered, StateTransferred, ViewChanged
from bftlab.core import kv, wire
from bftlab.core.kernel import NS
from bftlab.protocols.cft import ClientRequest, Redirect
from bftlab.protocols.zab import PROTOCOL, ZabParams
from bftlab.protocols.zab.messages import (
    DIFF,
    SNAP,
    TRUNC,
    Ack,
    AckEpoch,
    Commit,
    FollowerInfo,
    NewLeader,
    Notification,
    Proposal,
    Txn,
)
from bftlab.testing import Harness, any_of, from_, of_type, to

from .helpers import FAST, no_exceptions, run_until_leader, settle, simulate, spec

ZERO_CPU = {"base_us": 0, "per_byte_ns": 0, "sign_us": 0, "verify_us": 0, "mac_us": 0, "hash_base_us": 0,
            "hash_per_byte_ns": 0}


def put(k: bytes, v: bytes) -> bytes:
    return kv.encode_op("put", k, v)


def harness(**kw) -> Harness:
    return Harness(PROTOCOL, n=3, clients=1, f=1, params=ZabParams(**FAST), **kw)


# ------------------------------------------------------------------ normal case
def test_fle_elects_the_highest_id_among_equal_histories_and_every_replica_executes_in_order():
    h = harness()
    assert run_until_leader(h) == 2  # equal (currentEpoch, lastZxid): the id breaks the tie
    c = h.clients[0]
    for i in range(5):
        h.submit(c, put(b"k%d" % i, b"v"))
        settle(h)
    assert [a.ts for a in h.accepted()] == sorted(a.ts for a in h.accepted()) and len(h.accepted()) == 5
    h.advance(0.05)  # a PING carries the last commit index to the followers
    settle(h)
    for r in h.replicas:
        assert [e.seq for e in h.executed_by(r)] == [1, 2, 3, 4, 5]
        assert [t.zxid for t in h.nodes[r].history] == [(1, i) for i in range(1, 6)]
        assert h.nodes[r].current_epoch == h.nodes[r].accepted_epoch == 1
    assert no_exceptions(h, 3)


def test_a_follower_acks_a_proposal_only_once_its_log_write_is_durable():
    h = harness(hold_syncs=True)
    leader = run_until_leader(h)
    f = next(r for r in h.replicas if r != leader)
    h.submit(h.clients[0], put(b"k", b"v"))
    for _ in range(3):  # the client asks replica 0 first and follows its redirect
        h.deliver(of_type(ClientRequest, Redirect))
    h.complete_syncs(leader)  # the leader's own write: the PROPOSAL leaves
    h.deliver(of_type(Proposal))
    assert h.pending_syncs(f) == 1 and not h.pending(all_of_ack(f))
    h.complete_syncs(f)
    assert [e.msg for e in h.pending(all_of_ack(f))] == [Ack(1, 1)]


def all_of_ack(f: int):
    return lambda env: env.sender == f and type(env.msg) is Ack


@pytest.mark.parametrize("n", [3, 5])
def test_message_pattern_and_latency_match_the_paper(n):
    """Client -> leader, PROPOSAL to the n-1 followers, their ACKs, COMMIT to them and the reply: per request
    1 + 3(n-1) + 1 messages; the leader commits 2 one-way delays after it gets the request (3 after the
    client issued it) and the client sees 4, with a zero-latency disk and no CPU cost."""
    def run(requests: int):
        return simulate(spec(3, n=n, requests=requests, clients=1, cpu=ZERO_CPU,
                             network={"latency_model": "constant", "latency_ms": 10.0, "bandwidth_mbps": 0},
                             storage={"write_us": 0, "fsync_ms": 0}))

    (_, short), (sim, long) = run(20), run(40)
    per = {t: (long["metrics"]["messages"]["by_type"].get(t, 0) - short["metrics"]["messages"]["by_type"].get(t, 0))
           / 20 for t in ("ClientRequest", "Proposal", "Ack", "Commit", "ClientReply", "Redirect")}
    fan = n - 1
    assert per == {"ClientRequest": 1, "Proposal": fan, "Ack": fan, "Commit": fan, "ClientReply": 1, "Redirect": 0}
    issued = {e.ts: t for t, e in sim.history if type(e) is Issued}
    accepted = {e.ts: t for t, e in sim.history if type(e) is Accepted}
    leader = next(r for r in range(n) if sim.nodes[r].state == 2)
    executed = {e.entries[0].ts: t for t, e in sim.history if type(e) is Executed and e.node == leader and e.entries}
    later = sorted(issued)[1:]  # the first request waits for the election and follows a redirect
    assert len(later) == 39
    assert {round((accepted[ts] - issued[ts]) / NS / 0.010, 6) for ts in later} == {4.0}
    assert {round((executed[ts] - issued[ts]) / NS / 0.010, 6) for ts in later} == {3.0}


def test_a_restart_keeps_the_epochs_and_the_synced_history_and_loses_only_what_was_never_acked():
    h = harness(hold_syncs=True)
    leader = run_until_leader(h)
    f = next(r for r in h.replicas if r != leader)
    c = h.clients[0]
    h.submit(c, put(b"a", b"1"))
    settle(h)
    h.submit(c, put(b"b", b"2"))
    for _ in range(3):
        h.deliver(of_type(ClientRequest, Redirect))
    h.complete_syncs(leader)
    h.deliver(of_type(Proposal))  # f logged "b" but its Sync is still pending, so it has not ACKed it
    before = h.nodes[f]
    assert len(before.history) == 2 and not h.pending(all_of_ack(f))
    h.crash(f)
    h.recover(f)
    after = h.nodes[f]
    assert after is not before  # rebuilt from its disk
    assert (after.accepted_epoch, after.current_epoch) == (before.accepted_epoch, before.current_epoch) == (1, 1)
    assert after.history == before.history[:1] and after.commit == before.commit
    assert [type(e).__name__ for e in h.history[-4:]].count("Recovered") == 1


# ------------------------------------------------------------------ leader change
def test_a_crashed_leader_is_replaced_and_rejoins_as_a_follower_of_the_new_epoch():
    sim, rep = simulate(spec(4, n=5, requests=200, faults=[{"node": 4, "crash_at_s": 0.3, "recover_at_s": 0.9}]))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"]
    assert all(v["safe"] for v in rep["oracles"].values())
    nodes = [sim.nodes[r] for r in range(5)]
    assert {n.current_epoch for n in nodes} == {2}
    assert nodes[3].state == 2 and nodes[4].state == 1  # the next-highest id leads; the old leader follows
    views = [e.view for t, e in sim.history if type(e) is ViewChanged and e.node == 4 and t > 0.9 * NS]
    assert views == [1, 2]  # it boots in its durable epoch, then joins the new one
    assert len({tuple(n.history) for n in nodes}) == 1 and nodes[3].commit == len(nodes[3].history)
    assert min(n.commit for n in nodes) >= nodes[3].commit - 1  # the run stops before the last COMMIT lands
    assert no_exceptions(sim, 5)


def test_a_leader_cut_off_from_its_quorum_steps_down_and_the_majority_goes_on():
    net = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
           "partitions": [{"start_s": 0.3, "end_s": 1.0, "groups": [[2]]}]}
    sim, rep = simulate(spec(5, n=3, requests=300, network=net))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"]
    assert sim.nodes[2].counters.get("zab.leader_lost_quorum", 0) >= 1
    during = [e for t, e in sim.history if type(e) is Executed and 0.45 * NS < t < 0.95 * NS]
    assert during and {e.node for e in during} <= {0, 1}  # the majority committed while 2 was cut off


# ------------------------------------------------------------------ restart from disk, catch-up
def test_a_restarted_follower_replays_its_log_silently_and_is_brought_up_to_date_with_a_diff():
    sim, rep = simulate(spec(6, n=3, requests=300, faults=[{"node": 0, "crash_at_s": 0.4, "recover_at_s": 0.8}]))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"]
    back = [(t, e) for t, e in sim.history if e.__class__ in (StateTransferred, Recovered) and e.node == 0]
    assert [type(e) for _, e in back] == [StateTransferred, Recovered] and abs(back[0][0] - 0.8 * NS) < 0.001 * NS
    replayed = back[0][1].seq
    before = max(e.seq for t, e in sim.history if type(e) is Executed and e.node == 0 and t < 0.4 * NS)
    assert 0 < replayed <= before  # what was executed and durable before the crash comes back from its disk
    mine = [e.seq for t, e in sim.history if type(e) is Executed and e.node == 0 and t > 0.8 * NS]
    assert mine[0] == replayed + 1 and mine == list(range(mine[0], mine[-1] + 1))
    others_at_restart = max(e.seq for t, e in sim.history if type(e) is Executed and t <= 0.8 * NS)
    assert others_at_restart > replayed + 20  # it was far behind and caught up
    assert sim.nodes[0].history == sim.nodes[2].history and sim.nodes[0].commit >= sim.nodes[2].commit - 1


def test_restart_of_every_replica_in_turn_keeps_every_accepted_write():
    faults = [{"node": r, "crash_at_s": 0.15 + 0.4 * i, "recover_at_s": 0.3 + 0.4 * i} for i, r in enumerate((2, 0, 1))]
    sim, rep = simulate(spec(7, n=3, requests=400, faults=faults))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"]
    assert rep["metrics"]["storage"]["lost_records"] > 0  # the crashes did lose unsynced records
    assert max(sim.nodes[r].current_epoch for r in range(3)) >= 2


# ------------------------------------------------------------------ sync modes, step by step
def test_an_old_leader_with_an_uncommitted_proposal_gets_trunc_and_a_restarted_empty_follower_a_diff():
    h = harness()
    old = run_until_leader(h)
    a, b = [r for r in h.replicas if r != old]
    c = h.clients[0]
    h.submit(c, put(b"x", b"1"))
    settle(h)
    lost = h.add_filter(of_type(Proposal))  # the next proposal reaches no follower
    h.submit(c, put(b"y", b"2"))
    settle(h)
    stray = h.nodes[old].history[-1]
    assert len(h.nodes[old].history) == 2 and len(h.nodes[a].history) == 1
    h.crash(old)
    h.remove_filter(lost)
    new = run_until_leader(h, among=(a, b))
    h.advance(0.3)  # the client's retry reaches the new leader
    settle(h)
    assert len(h.accepted()) == 2 and h.nodes[new].history[-1].epoch == 2
    seen: list[NewLeader] = []
    h.add_filter(lambda env: bool(type(env.msg) is NewLeader and seen.append(env.msg)))  # records, drops nothing
    h.recover(old)
    for _ in range(100):
        settle(h)
        if h.nodes[old].state == 1 and h.nodes[old].phase == 2:
            break
        h.advance(0.01)
    (nl,) = seen
    assert (nl.mode, nl.base, nl.entries) == (TRUNC, 1, tuple(h.nodes[new].history[1:]))
    assert stray not in h.nodes[old].history and h.nodes[old].history == h.nodes[new].history
    # The leader's choice for each kind of follower state (what its ACKEPOCH says).
    leader = h.nodes[new]
    ours = leader.history
    assert leader._new_leader_for(AckEpoch(2, 1, *stray.zxid, 2, (), 0, 1)).mode == TRUNC
    nl = leader._new_leader_for(AckEpoch(2, 1, 1, 1, 1, (), 0, 1))
    assert (nl.mode, nl.base, nl.entries) == (DIFF, 1, tuple(ours[1:]))
    nl = leader._new_leader_for(AckEpoch(2, 0, 0, 0, 0, (), 0, 1))
    assert (nl.mode, nl.base, nl.entries) == (DIFF, 0, tuple(ours))
    nl = leader._new_leader_for(AckEpoch(2, 1, 1, 1, -1, (), 0, 1))  # it asked for a snapshot
    assert (nl.mode, nl.base, nl.entries) == (SNAP, 0, tuple(ours))
    assert all(not h.nodes[r].counters.get("zab.sync_mismatch") for r in h.replicas)


def test_a_replayed_newleader_of_an_earlier_attempt_cannot_roll_a_follower_back():
    h = harness()
    a = 0  # a follower: replica 2 wins the first election
    old: list[NewLeader] = []
    h.add_filter(lambda env: bool(type(env.msg) is NewLeader and env.receiver == a and old.append(env.msg)))
    leader = run_until_leader(h)
    assert leader == 2 and len(old) == 1
    h.crash(a)
    h.recover(a)  # a second attempt, with the empty history it had then
    run_until_leader(h)
    h.advance(0.05)
    settle(h)
    first = old[0]
    c = h.clients[0]
    for i in range(3):
        h.submit(c, put(b"k%d" % i, b"v"))
        settle(h)
    node = h.nodes[a]
    length = len(node.history)
    assert len(old) == 2 and old[1].attempt != first.attempt and length == 3
    node.phase = 1  # SYNCING, as in a later attempt
    dropped = node.counters.get("drop.stale_epoch", 0)
    h.inject(leader, a, first)  # DIFF from an empty history: it would drop three acknowledged entries
    h.deliver(to(a))
    assert len(node.history) == length and node.counters.get("drop.stale_epoch", 0) == dropped + 1


def test_a_follower_whose_log_does_not_match_the_sync_point_asks_for_a_snap():
    h = harness()
    leader = run_until_leader(h)
    a = next(r for r in h.replicas if r != leader)
    h.submit(h.clients[0], put(b"x", b"1"))
    settle(h)
    node = h.nodes[a]
    node.phase = 1  # SYNCING, as after an ACKEPOCH
    bad = NewLeader(node.accepted_epoch, TRUNC, 1, 7, 7, (), node.attempt)  # a sync point it does not have
    h.inject(leader, a, bad)
    h.deliver(to(a))
    assert node.counters["zab.sync_mismatch"] == 1 and node.want_snap
    fi = [e.msg for e in h.queue if e.sender == a and type(e.msg) is FollowerInfo]
    assert fi, "it starts discovery again"
    settle(h)
    acks = [m for m in node.counters if m.startswith("drop.exception")]
    assert not acks and node.history == h.nodes[leader].history and not node.want_snap


# ------------------------------------------------------------------ robustness
@pytest.mark.parametrize("msg", [
    Proposal(1, "2", Txn(1, 1, 3, 1, b"x")),  # type: ignore[arg-type]
    Commit(True, 1),
    Notification(0, 1, 0, 0, 0, 0, b"0"),  # type: ignore[arg-type]
    NewLeader(1, 0, 0, 0, 0, (b"junk",), 0),  # type: ignore[arg-type]
    "not a message",
    ClientRequest(3, "ts", b"op"),  # type: ignore[arg-type]
])
def test_malformed_messages_are_dropped_and_counted_never_raised(msg):
    h = harness(wire_roundtrip=False)
    leader = run_until_leader(h)
    for r in h.replicas:
        sender = 3 if type(msg) is ClientRequest else (leader if r != leader else (r + 1) % 3)
        h.inject(sender, r, msg)
    h.deliver_all()
    assert all(h.nodes[r].counters.get("drop.malformed", 0) == 1 for r in h.replicas)


def test_every_message_round_trips_through_the_wire():
    t = Txn(1, 2, 3, 4, b"op")
    sample = [t, Proposal(1, 1, t), NewLeader(2, SNAP, 0, 0, 0, (t, t), 5), AckEpoch(2, 1, 1, 2, 2, (t,), 5, 1),
              Ack(1, 1)]
    for m in sample:
        assert wire.decode(wire.encode(m)) == m


def test_non_leaders_redirect_clients_to_the_leader():
    h = harness()
    leader = run_until_leader(h)
    c = h.clients[0]
    h.submit(c, put(b"k", b"v"))
    h.deliver(any_of(to(*[r for r in h.replicas if r != leader]), from_(c)))  # replica 0 gets it first
    redirects = [e.msg for e in h.queue if type(e.msg).__name__ == "Redirect"]
    assert redirects and redirects[0].leader == leader
    settle(h)
    assert len(h.accepted()) == 1


def test_the_shipped_config_runs_a_leader_crash_and_restart():
    from pathlib import Path

    from bftlab.specs.spec import load_spec

    path = Path(__file__).parents[2] / "configs" / "zab-crash-leader.yaml"
    sim, rep = simulate(load_spec(path))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["metrics"]["committed"] == 500
    assert all(v["safe"] for v in rep["oracles"].values())
    assert sim.nodes[3].state == 2 and sim.nodes[4].state == 1 and sim.nodes[4].current_epoch == 2
    assert sim.nodes[4].history == sim.nodes[3].history


def test_lost_ackleaders_are_made_up_by_pongs_and_a_lost_newleader_by_a_new_attempt():
    """Every ACKLEADER is lost and follower 0's first NEWLEADER too: PONGs say the same thing as ACKLEADER
    (the follower answers PINGs only once its NEWLEADER is durable), and a follower that hears two PINGs
    while it still waits for NEWLEADER starts a new attempt."""
    from bftlab.protocols.zab.messages import AckLeader

    h = harness()
    h.add_filter(of_type(AckLeader))
    lost: list[NewLeader] = []
    h.add_filter(lambda env: type(env.msg) is NewLeader and env.receiver == 0 and not lost and not lost.append(1))
    leader = run_until_leader(h, max_s=1.0)
    c = h.clients[0]
    for i in range(3):
        h.submit(c, put(b"k%d" % i, b"v"))
        settle(h)
        h.advance(0.05)
        settle(h)
    assert len(h.accepted()) == 3 and lost
    assert h.nodes[0].counters.get("zab.gaps", 0) >= 1 and set(h.nodes[leader].acked) == {0, 1}


def _acks_after_sync(node, now, out) -> list:
    """``out`` plus what the step's Sync releases; the AckEpochs among them."""
    from bftlab.api import Send, Sync, Synced

    for a in [a for a in out if type(a) is Sync]:
        out = out + node.step(now, Synced(a.token))
    return [a.msg for a in out if type(a) is Send and type(a.msg) is AckEpoch]


def test_an_epoch_promised_to_one_leader_does_not_count_for_another_that_picked_the_same_number():
    """Two prospective leaders that computed the same e' must not both gather a quorum (found by a random
    schedule with replays: two leaders of one epoch, then a committed index truncated)."""
    from bftlab.api import Receive
    from bftlab.protocols.zab.messages import FOLLOWING, NewEpoch

    h = harness()
    run_until_leader(h)  # replica 2 leads epoch 1
    node = h.nodes[0]
    acks = []
    for leader in (1, 2):  # both propose epoch 2 to replica 0
        node.state, node.leader = FOLLOWING, leader
        node._out = []
        node._send_info()
        out = node.step(h.now, Receive(leader, NewEpoch(2, 1, 1, 0, node.attempt)))
        acks += _acks_after_sync(node, h.now, out)
    assert [(a.epoch, a.fresh) for a in acks] == [(2, 1), (2, 0)] and node.accepted_from == 1
    # The leader side: ACKEPOCHs that do not count leave it in discovery; one that counts completes it.
    lead = h.nodes[1]
    lead.start_election()
    lead._out = []
    lead._decide(1)
    lead.step(h.now, Receive(0, FollowerInfo(0, 1, 1, 1, 0, 0, 77)))
    assert lead.epoch == 2 and lead.phase == 0
    lead.step(h.now, Receive(0, AckEpoch(2, 1, 1, 0, 0, (), 77, 0)))
    assert lead.phase == 0  # itself and a replica that promised epoch 2 to someone else: no quorum
    lead.step(h.now, Receive(0, FollowerInfo(0, 1, 1, 1, 0, 0, 78)))
    lead.step(h.now, Receive(0, AckEpoch(2, 1, 1, 0, 0, (), 78, 1)))
    assert lead.phase == 1  # synchronisation


def test_a_rewrite_of_the_history_cuts_it_first_so_a_torn_write_leaves_a_prefix():
    from bftlab.api import Persist
    from bftlab.protocols.zab import durability

    h = harness()
    node = h.nodes[0]
    old = [Txn(1, i, 3, i, b"op") for i in range(1, 6)]
    new = old[:2] + [Txn(2, 1, 3, 9, b"other")]
    node._out = []
    node._replace_history(0, old)
    node._out = []
    node._replace_history(0, new)
    writes = [(a.key, a.value) for a in node._out if type(a) is Persist]
    assert [k for k, _ in writes] == ["len", "h/3", "len"]
    for cut in range(len(writes) + 1):  # whatever prefix of the rewrite reaches the disk
        disk = {f"h/{i + 1}": wire.encode(t) for i, t in enumerate(old)} | {"len": (5).to_bytes(8, "big")}
        disk |= dict(writes[:cut])
        got = durability.load(disk).history
        assert got in (old, old[:2], new), cut
