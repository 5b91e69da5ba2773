"""The planted bug: an acceptor that forgets its promise on restart (tests/multipaxos/amnesiacpaxos.py).

Script (n=3, clients 3 and 4, replica 0 the shared acceptor):

1. replica 1 runs phase 1 with ballot 4; only replica 0 promises (with itself: a majority);
2. replica 2 runs phase 1 with ballot 5; again only replica 0 promises;
3. replica 0 crashes and restarts (everything it synced survives);
4. leader 1 proposes client 3's command in slot 1 under ballot 4: a correct replica 0 refuses (it promised 5),
   the amnesiac one accepts, so the command is chosen by {0, 1};
5. leader 2, whose phase 1 found nothing accepted, proposes client 4's command in slot 1 under ballot 5:
   replica 0 accepts, so it is chosen by {0, 2} too.

Replicas 1 and 2 then execute different commands at slot 1: the SMR oracle's agreement violation.
"""

from __future__ import annotations

import pytest

from bftlab.api import Executed
from bftlab.core import kv
from bftlab.oracles.smr import check
from bftlab.protocols.cft import ClientRequest
from bftlab.protocols.multipaxos import PROTOCOL
from bftlab.protocols.multipaxos.messages import Accept, Prepare
from bftlab.protocols.multipaxos.replica import ELECTION_TIMER, LEADER
from bftlab.testing import Harness, all_of, of_type, to
from tests.multipaxos.amnesiacpaxos import AMNESIAC
from tests.multipaxos.common import simulate


def elect(h: Harness, node: int) -> None:
    """``node`` runs phase 1 now; only replica 0 hears its Prepare."""
    h.timers.schedule(node, ELECTION_TIMER, h.now)
    h.fire_timers()
    h.drop(lambda e: type(e.msg) is Prepare and e.receiver != 0)
    h.deliver(of_type(Prepare))
    h.deliver(to(node))  # the Promise


def route(h: Harness, client: int, leader: int) -> None:
    """The client's request goes to ``leader`` instead of the replica it guessed."""
    (env,) = h.pending(of_type(ClientRequest))
    h.drop(of_type(ClientRequest))
    h.inject(client, leader, env.msg)
    h.deliver(of_type(ClientRequest))


def competing_leaders(spec) -> Harness:
    h = Harness(spec, n=3, clients=2, f=1)
    # No failure detector and no learners but the leaders in the script: each leader executes what it chose.
    h.add_filter(lambda e: type(e.msg).__name__ in ("Heartbeat", "Nack", "Decide"))
    elect(h, 1)
    assert h.nodes[1].role == LEADER and h.nodes[1].ballot == 4
    elect(h, 2)
    assert h.nodes[2].role == LEADER and h.nodes[2].ballot == 5
    h.crash(0)
    h.recover(0)
    h.drop()  # the restarted replica's CatchUp broadcast
    h.submit(3, kv.encode_op("put", b"x", b"from-1"))
    route(h, 3, 1)
    h.drop(all_of(of_type(Accept), to(2)))  # replica 2 would refuse it anyway
    h.deliver(all_of(of_type(Accept), to(0)))
    h.deliver(to(1))  # replica 0's answer (Accepted from the amnesiac one)
    h.submit(4, kv.encode_op("put", b"x", b"from-2"))
    route(h, 4, 2)
    h.drop(all_of(of_type(Accept), to(1)))
    h.deliver(all_of(of_type(Accept), to(0)))
    h.deliver(to(2))
    return h


def slot1(h: Harness) -> dict[int, tuple]:
    return {e.node: tuple(x.client for x in e.entries) for e in h.events(Executed) if e.seq == 1}


def test_an_acceptor_that_forgets_its_promise_lets_two_values_be_chosen_for_one_slot():
    h = competing_leaders(AMNESIAC)
    assert h.nodes[0].acceptor.promised == 5 and h.nodes[0].acceptor.accepted[1][0] == 5  # it took both
    assert slot1(h) == {1: (3,), 2: (4,)}  # leader 1 chose client 3's put, leader 2 client 4's
    verdict = check(h.history)
    assert not verdict.safe and [v.kind for v in verdict.violations] == ["agreement"]
    assert verdict.violations[0].seq == 1


def test_the_durable_promise_refuses_the_old_leader_and_one_value_is_chosen():
    h = competing_leaders(PROTOCOL)
    assert h.nodes[0].acceptor.promised == 5
    assert slot1(h) == {2: (4,)} and h.nodes[1].executed == 0  # leader 1 got no majority
    h.filters.clear()
    assert h.run_until(lambda: len(h.accepted()) == 2 and all(h.nodes[r].executed >= 2 for r in range(3)),
                       max_time_s=5.0)
    assert check(h.history).safe
    assert len({tuple(sorted(h.nodes[r].machine.data.items())) for r in range(3)}) == 1


@pytest.mark.parametrize("spec", [PROTOCOL, AMNESIAC], ids=["correct", "amnesiac"])
def test_the_same_script_is_deterministic(spec):
    assert [repr(e) for e in competing_leaders(spec).history] == [repr(e) for e in competing_leaders(spec).history]


# ------------------------------------------------------------------ the same bug in the simulator
def sim_doc(proto: str, second_crash_s: float) -> dict:
    """Replicas 1 and 2 cannot talk to each other; replica 0 crashes at 0.3 s, so both time out and compete
    for its promise (n=3: each needs it). At ~0.571 s replica 0 promises replica 2's ballot 5 while replica 1
    leads ballot 4 with Accepts in flight; it crashes right after that Promise and is back 20 ms later. The
    times were found by scanning ``second_crash_s`` over 0.570..0.5795 s in 0.5 ms steps with 5/20/50 ms
    downtimes: the amnesiac replica broke agreement for the three times pinned below (20 ms), correct
    Multi-Paxos for none."""
    return {
        "name": "multipaxos-amnesia", "seed": 1, "n": 3,
        "protocol": {"name": proto, "params": {"heartbeat_s": 0.02, "election_timeout_s": 0.1,
                                               "client_retry_s": 0.15}},
        "network": {"latency_model": "constant", "latency_ms": 5.0},
        "adversary": {"strategy": "scripted-network", "params": {"faults": [
            {"kind": "drop", "start_s": 0.0, "end_s": 3.0, "src": 1, "dst": 2},
            {"kind": "drop", "start_s": 0.0, "end_s": 3.0, "src": 2, "dst": 1}]}},
        "workload": {"clients": 2, "mode": "closed", "requests": 200},
        "storage": {"faults": "lose-unsynced"},
        "faults": [{"node": 0, "crash_at_s": 0.3, "recover_at_s": 0.5},
                   {"node": 0, "crash_at_s": second_crash_s, "recover_at_s": round(second_crash_s + 0.02, 4)}],
        "stop": {"time_limit_s": 10.0},
    }


CAUGHT = (0.5715, 0.572, 0.5725)


@pytest.mark.parametrize("second_crash_s", CAUGHT)
def test_in_the_simulator_the_oracle_catches_the_amnesiac_acceptor_and_not_the_correct_one(second_crash_s):
    _, bad = simulate(sim_doc("tests.multipaxos.amnesiacpaxos:AMNESIAC", second_crash_s))
    assert not bad["safety"]["ok"]
    assert {v["kind"] for v in bad["safety"]["violations"]} == {"agreement"}
    assert not bad["oracles"]["smr"]["safe"]
    assert bad["fault_budget"]["held"]  # one replica down at a time: the bug is the protocol's
    _, good = simulate(sim_doc("bftlab.protocols.multipaxos:PROTOCOL", second_crash_s))
    assert good["safety"]["ok"] and good["liveness"]["ok"] and good["metrics"]["committed"] == 200
    assert all(v["safe"] for v in good["oracles"].values())
