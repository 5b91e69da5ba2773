"""VR scenarios, one protocol path each: normal case, view change, diskless recovery, state transfer.

Runs use the simulator with a constant 2 ms link unless a test steps replicas by
hand with :class:`bftlab.testing.Harness`.
"""

from __future__ import annotations

import pytest

from bftlab.api import Executed, Recovered, StateTransferred, ViewChanged
from bftlab.core import wire
from bftlab.core.kernel import NS
from bftlab.core.kv import encode_op
from bftlab.errors import ConfigError
from bftlab.protocols.cft import ClientReply, ClientRequest
from bftlab.protocols.vr import PROTOCOL, VrParams
from bftlab.protocols.vr.messages import (
    MESSAGE_TYPES,
    Commit,
    DoViewChange,
    Entry,
    GetState,
    NewState,
    Prepare,
    PrepareOk,
    Recovery,
    RecoveryResponse,
    StartView,
    StartViewChange,
)
from bftlab.testing import Harness, of_type, to
from tests.vr.helpers import exceptions, in_log, make_doc, simulate


def op_put(key: bytes, value: bytes) -> bytes:
    return encode_op("put", key, value)


def executed(sim, r: int) -> list[Executed]:
    return [e for _, e in sim.history if type(e) is Executed and e.node == r]


# ------------------------------------------------------------------ normal case (§4.1)
def test_normal_case_every_replica_executes_the_same_log_and_only_the_primary_replies():
    sim, rep = simulate(make_doc(requests=80, clients=2))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["metrics"]["committed"] == 80
    assert rep["oracles"]["linearizability"]["safe"]
    by_type = rep["metrics"]["messages"]["by_type"]
    assert by_type["ClientReply"] == 80 and "Redirect" not in by_type
    assert by_type["Prepare"] == by_type["PrepareOk"] == 2 * 80  # n-1 = 2 backups per op
    logs = [sim.nodes[r].log for r in range(3)]
    assert logs[0] == logs[1] == logs[2] and len(logs[0]) == 80
    assert [e.seq for e in executed(sim, 0)] == list(range(1, 81))
    assert exceptions(sim, 3) == 0


def test_a_duplicate_request_gets_its_cached_reply_and_executes_once():
    h = Harness(PROTOCOL, n=3, clients=1, f=1)
    client = h.clients[0]
    h.submit(client, op_put(b"k", b"v"))
    h.stabilize(max_time_s=0.5)
    req = h.nodes[client].outstanding
    assert req is None and len(h.accepted()) == 1
    first = h.events(Executed)
    ts = h.accepted()[0].ts
    h.inject(client, 0, ClientRequest(client, ts, op_put(b"k", b"v")))  # a retry of an executed request
    h.deliver(to(client))  # nothing queued for the client yet: the retry first goes to the primary
    h.deliver(to(0))
    replies = [e for e in h.queue if type(e.msg) is ClientReply and e.receiver == client]
    assert len(replies) == 1 and replies[0].msg.ts == ts
    assert h.events(Executed) == first  # answered from the client table, not executed again


def test_a_backup_redirects_a_client_to_the_primary():
    h = Harness(PROTOCOL, n=3, clients=1, f=1)
    client = h.clients[0]
    h.inject(client, 2, ClientRequest(client, 7, op_put(b"k", b"v")))
    h.deliver(to(2))
    [redirect] = [e.msg for e in h.queue if e.receiver == client]
    assert redirect.leader == 0 and redirect.replica == 2


# ------------------------------------------------------------------ view change (§4.2)
def test_the_primary_crashes_and_the_backups_change_view_without_losing_a_committed_op():
    crash = 0.1
    sim, rep = simulate(make_doc(requests=120, faults=[{"node": 0, "crash_at_s": crash}]))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["oracles"]["linearizability"]["safe"]
    done_before = {k for t, e in sim.history if type(e) is Executed and t <= crash * NS for k in
                   [(x.client, x.ts) for x in e.entries]}
    assert done_before and all(done_before <= in_log(sim, r) for r in (1, 2))
    views = {(e.node, e.view) for _, e in sim.history if type(e) is ViewChanged}
    assert (1, 1) in views and (2, 1) in views  # view 1: primary 1
    assert sim.nodes[1].view == sim.nodes[2].view == 1 and sim.nodes[1].is_primary
    by_type = rep["metrics"]["messages"]["by_type"]
    assert by_type["StartViewChange"] >= 2 and by_type["DoViewChange"] >= 1 and by_type["StartView"] >= 1
    for r in (1, 2):  # executions continue in order through the view change (a backup learns the last commit
        # from the next PREPARE or COMMIT, after the run stopped)
        assert [e.seq for e in executed(sim, r)] == list(range(1, sim.nodes[r].executed + 1))
        assert sim.nodes[r].executed >= 119


def test_the_new_primary_takes_the_log_with_the_largest_last_normal_view_and_op_number():
    h = Harness(PROTOCOL, n=3, clients=1, f=1)
    node = h.nodes[1]
    node.view, node.status, node.svc_from, node.dvcs = 4, "view-change", set(), {}
    short = DoViewChange(4, (Entry(3, 1, b"a"),) * 4, 2, 4, 1, 2)
    stale_long = DoViewChange(4, (Entry(3, 1, b"b"),) * 6, 1, 6, 1, 0)
    node.log = [Entry(3, 1, b"c")] * 3
    node.last_normal = 2
    h.inject(2, 1, StartViewChange(4, 2))  # view 4: primary 4 mod 3 = 1
    h.deliver(of_type(StartViewChange))  # f=1 STARTVIEWCHANGE: its own DOVIEWCHANGE counts
    h.inject(0, 1, stale_long)
    h.inject(2, 1, short)
    h.deliver(of_type(DoViewChange))
    # f+1 DOVIEWCHANGEs arrived before the one from 2 (its own and 0's): (v'=2, n=3) beats (v'=1, n=6)
    assert node.status == "normal" and node.view == 4
    assert [e.op for e in node.log] == [b"c"] * 3
    [sv] = {e.msg for e in h.queue if type(e.msg) is StartView}
    assert sv.op_number == 3 and sv.commit == 1


# ------------------------------------------------------------------ recovery (§4.3)
def test_a_first_boot_persists_only_the_marker_and_acts_after_its_sync():
    h = Harness(PROTOCOL, n=3, clients=1, f=1, hold_syncs=True)
    assert all(h.nodes[r].status == "booting" for r in range(3))
    assert all(h.pending_syncs(r) == 1 for r in range(3))
    client = h.clients[0]
    h.submit(client, op_put(b"k", b"v"))
    h.deliver()
    assert not h.events(Executed) and h.nodes[0].log == []  # the primary drops it until its marker is durable
    h.complete_syncs()
    assert all(h.nodes[r].status == "normal" for r in range(3))
    assert set(h.disk(0).recover()) == {"booted"}


def test_a_recovering_replica_takes_no_part_until_f_plus_one_answers_include_the_primary():
    h = Harness(PROTOCOL, n=3, clients=1, f=1)
    client = h.clients[0]
    for i in range(3):
        h.submit(client, op_put(b"k%d" % i, b"v"))
        h.stabilize(max_time_s=0.05)
    h.drop()
    h.crash(2)
    start = len(h.history)
    h.recover(2)
    node = h.nodes[2]
    assert node.status == "recovering" and node.log == [] and node.executed == 0
    # A PREPARE and a view change reach it before any answer: it says nothing.
    h.inject(0, 2, Prepare(0, 4, Entry(client, 99, b"x"), 3))
    h.inject(1, 2, StartViewChange(1, 1))
    h.deliver(all_to_2 := to(2))
    assert not [e for e in h.queue if e.sender == 2 and type(e.msg) is not Recovery]
    assert node.counters["drop.recovering"] == 2
    # The backup answers first (no log): not enough. Then the primary: recovery completes with its log.
    h.deliver(of_type(Recovery), max_msgs=10)
    h.deliver(lambda e: type(e.msg) is RecoveryResponse and e.sender == 1)
    assert node.status == "recovering"
    h.deliver(all_to_2)
    assert node.status == "normal" and node.view == 0 and node.executed == node.commit == 3
    assert node.machine.data == h.nodes[0].machine.data
    mine = [e for e in h.history[start:] if getattr(e, "node", None) == 2]
    assert [type(e) for e in mine] == [StateTransferred, ViewChanged, Recovered]
    assert mine[0].seq == 3


def test_a_restarted_backup_recovers_from_its_peers_and_executes_new_ops_in_order():
    back = 0.35
    sim, rep = simulate(make_doc(requests=200, faults=[{"node": 2, "crash_at_s": 0.1, "recover_at_s": back}]))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["oracles"]["linearizability"]["safe"]
    [(t_jump, jump)] = [(t, e) for t, e in sim.history if type(e) is StateTransferred]
    [(t_rec, _)] = [(t, e) for t, e in sim.history if type(e) is Recovered]
    assert jump.node == 2 and back * NS < t_jump == t_rec <= (back + 0.01) * NS  # one round trip, 4 ms
    before = [e.seq for t, e in sim.history if type(e) is Executed and e.node == 2 and t < back * NS]
    after = [e.seq for t, e in sim.history if type(e) is Executed and e.node == 2 and t > back * NS]
    assert jump.seq >= before[-1] and after == list(range(jump.seq + 1, sim.nodes[2].executed + 1))
    assert sim.nodes[2].executed >= 199
    assert rep["fault_budget"]["held"] and rep["fault_budget"]["outages"][0]["recovery_s"] < 0.01
    assert sim.nodes[2].log == sim.nodes[0].log


def test_a_restarted_primary_waits_for_the_view_change_then_recovers_as_a_backup():
    back = 0.15  # before the backups' view-change timeout: its peers still think it leads view 0
    sim, rep = simulate(make_doc(requests=200, faults=[{"node": 0, "crash_at_s": 0.1, "recover_at_s": back}]))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["oracles"]["linearizability"]["safe"]
    node = sim.nodes[0]
    assert node.view >= 1 and not node.is_primary and node.status == "normal"
    [(t_rec, _)] = [(t, e) for t, e in sim.history if type(e) is Recovered]
    first_view = min(t for t, e in sim.history if type(e) is ViewChanged and e.node != 0)
    assert t_rec > first_view  # it could recover only from the primary of the new view
    assert exceptions(sim, 3) == 0


# ------------------------------------------------------------------ state transfer (§5.2)
def test_a_lagging_backup_fetches_the_missing_suffix_and_executes_every_op_in_order():
    # Replica 2 is cut off for less than the view-change timeout (0.1 s): 0 and 1 go on without it.
    cut = [{"start_s": 0.05, "end_s": 0.13, "groups": [[0, 1, 3]]}]
    sim, rep = simulate(make_doc(requests=150, partitions=cut))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    by_type = rep["metrics"]["messages"]["by_type"]
    assert by_type.get("GetState", 0) >= 1 and by_type.get("NewState", 0) >= 1
    assert not [e for _, e in sim.history if type(e) is StateTransferred]  # no jump: it ran every op
    assert [e.seq for e in executed(sim, 2)] == list(range(1, sim.nodes[2].executed + 1))
    assert sim.nodes[2].executed >= 149
    assert sim.nodes[2].view == 0  # the partition left a majority: no view change needed


def test_a_backup_that_missed_a_view_change_cuts_its_log_to_the_commit_number_and_fetches_the_rest():
    h = Harness(PROTOCOL, n=3, clients=0, f=1)
    node = h.nodes[2]
    node.log = [Entry(9, 1, b"a"), Entry(9, 2, b"b"), Entry(9, 3, b"old")]
    node.commit = node.executed = 0
    node.commit = 2
    h.inject(1, 2, Commit(4, 2))  # the primary of view 4 talks to us
    h.deliver(to(2))
    assert node.view == 4 and node.log == [Entry(9, 1, b"a"), Entry(9, 2, b"b")]
    [gs] = [e.msg for e in h.queue if type(e.msg) is GetState]
    assert gs == GetState(4, 2, 2)
    h.drop()
    h.inject(1, 2, NewState(4, 2, (Entry(9, 4, b"new"),), 3, 3, 1))
    h.deliver(to(2))
    assert [e.op for e in node.log] == [b"a", b"b", b"new"] and node.commit == 3


# ------------------------------------------------------------------ robustness
def test_malformed_and_foreign_messages_are_dropped_and_counted_never_raised():
    h = Harness(PROTOCOL, n=3, clients=1, f=1, wire_roundtrip=False)
    bad = [Prepare("0", 1, Entry(3, 1, b"x"), 0), PrepareOk(0, 1, 5), Commit(0, None),
           DoViewChange(1, (b"no",), 0, 1, 0, 2), StartView(0, (), -1, 0), Recovery(1, "x"),
           NewState(0, 0, (Entry(3, 1, "s"),), 1, 0, 1), ClientRequest(3, "t", b""), "garbage", Entry(3, 1, b"x")]
    for m in bad:
        h.inject(1, 0, m)
    h.deliver(to(0))
    c = h.nodes[0].counters
    assert sum(v for k, v in c.items() if k.startswith("drop.")) == len(bad) and "drop.exception" not in c
    assert h.nodes[0].log == [] and h.nodes[0].status == "normal"


def test_every_message_round_trips_through_the_wire():
    e = Entry(3, 1, b"op")
    msgs = [e, Prepare(0, 1, e, 0), PrepareOk(0, 1, 1), Commit(0, 1), StartViewChange(1, 2),
            DoViewChange(1, (e,), 0, 1, 1, 2), StartView(1, (e, e), 2, 1), Recovery(2, 12345),
            RecoveryResponse(1, 12345, True, (e,), 1, 1, 1), GetState(0, 0, 2), NewState(0, 0, (e,), 1, 1, 0)]
    assert {type(m) for m in msgs} == set(MESSAGE_TYPES)
    for m in msgs:
        assert wire.decode(wire.encode(m)) == m


def test_params_are_validated():
    for bad in ({"commit_interval_s": 0}, {"view_change_timeout_s": 0.01}, {"max_resend": 0}):
        with pytest.raises(ConfigError):
            VrParams(**bad)
