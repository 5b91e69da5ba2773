"""The planted bug: a follower that ACKs a PROPOSAL before its log write is durable (tests/zab/ackfirst.py).

The leader counts that ACK towards the quorum that commits the transaction and
answers the client. A power failure (``storage.faults: lose-unsynced``) then
takes the transaction from the follower's log; cut the leader off, and the
follower and a replica that never saw it form a quorum of a new epoch without
it: another transaction takes its index (agreement), and when the old leader
returns its history is truncated under what it executed (order,
exactly-once). Correct ZAB ACKs only after the Sync, so the committed
transaction survives in the follower's log and the new epoch keeps it.
"""

from __future__ import annotations

import pytest

from bftlab.core import kv
from bftlab.oracles import smr
from bftlab.protocols.zab import PROTOCOL, ZabParams
from bftlab.testing import Harness, any_of, from_, to

from .ackfirst import ACK_FIRST
from .helpers import ACK_FIRST as ACK_FIRST_PATH
from .helpers import FAST, ZAB, run_until_leader, settle, simulate, spec

SEEDS = range(8)
CAUGHT = (2, 3, 4, 5, 6)  # seeds where the schedule below catches the planted bug (found by running SEEDS)


def step_by_step(proto) -> tuple[smr.Verdict, int]:
    """The scenario of the module docstring with the harness: ``(verdict, writes the client saw acknowledged
    before the crash)``."""
    h = Harness(proto, n=3, clients=1, f=1, hold_syncs=True, params=ZabParams(**FAST))
    leader = run_until_leader(h)
    f, g = [r for r in h.replicas if r != leader]
    c = h.clients[0]
    h.submit(c, kv.encode_op("put", b"a", b"1"))
    settle(h)
    cut = h.add_filter(any_of(to(g), from_(g)))  # g misses the next proposal
    h.submit(c, kv.encode_op("put", b"b", b"2"))
    for _ in range(50):  # everything moves but f's disk: its Sync never completes
        h.complete_syncs(leader)
        if not h.deliver_all():
            break
    acked = len(h.accepted())
    h.crash(f)  # power loss: f's unsynced log entry is gone
    h.recover(f)
    h.remove_filter(cut)
    h.add_filter(any_of(to(leader), from_(leader)))  # the old leader is cut off
    run_until_leader(h, among=(f, g))
    h.submit(c, kv.encode_op("put", b"c", b"3"))
    for _ in range(60):
        settle(h)
        h.advance(0.05)
    return smr.check(h.history), acked


def test_step_by_step_the_planted_follower_loses_a_committed_write_and_correct_zab_does_not():
    bad, acked_bad = step_by_step(ACK_FIRST)
    assert acked_bad == 2  # the leader committed "b" on the strength of the early ACK and answered
    assert not bad.safe and "agreement" in {v.kind for v in bad.violations}, bad.violations
    good, acked_good = step_by_step(PROTOCOL)
    assert acked_good == 1  # no durable ACK, no commit: "b" waits
    assert good.safe and good.live, good.violations


def schedule_spec(seed: int, proto: str):
    """n=3, leader 2: replica 0 cut off from 0.2 s, follower 1 loses power at ``crash`` (4 ms fsyncs leave
    ACKed-but-unsynced entries to lose), then the leader is cut off until 0.8 s."""
    crash = round(0.3 + (seed % 7) * 0.0013, 4)
    net = {"latency_model": "uniform", "latency_ms": 1.0, "jitter_ms": 0.5,
           "partitions": [{"start_s": 0.2, "end_s": crash, "groups": [[0]]},
                          {"start_s": crash, "end_s": 0.8, "groups": [[2]]}]}
    return spec(seed, proto=proto, requests=200, clients=2, network=net,
                faults=[{"node": 1, "crash_at_s": crash, "recover_at_s": round(crash + 0.03, 4)}],
                storage={"faults": "lose-unsynced", "fsync_ms": 4.0})


@pytest.mark.parametrize("seed", CAUGHT)
def test_the_oracles_catch_the_planted_bug_with_a_crash_schedule_and_correct_zab_is_clean(seed):
    _, bad = simulate(schedule_spec(seed, ACK_FIRST_PATH))
    kinds = {v["kind"] for v in bad["safety"]["violations"]}
    assert not bad["safety"]["ok"] and kinds & {"agreement", "order", "exactly_once"}, bad["safety"]["violations"]
    _, good = simulate(schedule_spec(seed, ZAB))
    assert good["safety"]["ok"] and good["liveness"]["ok"], good["safety"]["violations"]
    assert all(v["safe"] for v in good["oracles"].values())


def test_correct_zab_shows_no_violation_on_any_seed_of_the_schedule():
    for seed in SEEDS:
        if seed in CAUGHT:
            continue  # checked above
        _, good = simulate(schedule_spec(seed, ZAB))
        assert good["safety"]["ok"] and good["liveness"]["ok"], (seed, good["safety"]["violations"])
