"""PBFT crash recovery: what is stable, the write-ahead rule, and catching up from peers.

A PBFT replica persists its view, its PRE-PREPAREs, its prepared certificates,
what it executed and its stable checkpoint, and sends nothing before the Sync
covering what the message depends on (protocols/pbft/durability.py). In the
simulator a crashed replica loses its memory and restarts from its disk
(``run.crash_model: persisted-state``), then learns the current view and the
batches it missed from its peers.

The planted twin (tests/pbft/eagerpbft.py) sends before its Sync completes; with
``storage.faults: lose-unsynced`` a crash makes it execute again what it already
executed and replied to, and the smr oracle must say so on the seeds pinned below.
"""

from __future__ import annotations

import random

import pytest

from bftlab.api import Accepted, Executed, StateTransferred, ViewChanged
from bftlab.core import wire
from bftlab.core.kernel import NS
from bftlab.protocols.pbft import PROTOCOL, op_put
from bftlab.protocols.pbft.messages import (
    FetchLog,
    LogReply,
    Prepare,
    PrePrepare,
    Request,
    batch_bytes,
    pre_prepare_body,
)
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import Harness, of_type
from tests.pbft.eagerpbft import EAGER

SEEDS = range(20)
CAUGHT = (2, 3, 5, 7)  # seeds where the crash schedule catches the eager replica (found by running SEEDS)
FAST = {"view_change_timeout_s": 0.2, "client_retry_timeout_s": 0.1}


def schedule(seed: int, crashes: int = 3) -> list[dict]:
    """One replica faulty at a time (f=1): crash, restart, its recovery (0.1 s allowed), the next crash."""
    rng = random.Random(seed)
    t, out = 0.02, []
    for _ in range(crashes):
        crash = round(t + rng.uniform(0.0, 0.25), 4)
        back = round(crash + rng.uniform(0.01, 0.35), 4)
        out.append({"node": rng.randrange(4), "crash_at_s": crash, "recover_at_s": back})
        t = back + 0.11
    return out


def make_spec(seed: int, faults: list[dict], *, proto: str = "pbft", requests: int = 400, clients: int = 4,
              raw: bool = False, **params) -> object:
    doc = {
        "name": "pbft-recovery", "seed": seed, "n": 4, "f": 1,
        "protocol": {"name": proto, "params": {**FAST, "checkpoint_interval": 16, "log_window": 64, **params}},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
        "workload": {"clients": clients, "mode": "closed", "requests": requests},
        "storage": {"faults": "lose-unsynced"}, "faults": faults,
        "trace": {"keep": True}, "stop": {"time_limit_s": 30.0},
    }
    return doc if raw else spec_from_dict(doc)


def simulate(spec: object) -> tuple[runner.Simulation, dict]:
    sim = runner.build(spec)
    sim.run()
    return sim, sim.report(1.0)


def holders(sim: runner.Simulation, client: int, ts: int) -> int:
    """Replicas whose state, at the end, includes the request ``(client, ts)`` (closed loop: ts only grows)."""
    return sum(1 for r in range(4) if sim.nodes[r].replies.get(client, (0, b""))[0] >= ts)


# ------------------------------------------------------------------ the write-ahead rule
def test_a_backup_prepares_only_once_its_pre_prepare_is_durable_and_the_eager_one_does_not_wait():
    for spec, waits in ((PROTOCOL, True), (EAGER, False)):
        h = Harness(spec, n=4, clients=1, f=1, hold_syncs=True)
        h.complete_syncs()  # the first boot's record
        h.submit(h.clients[0], op_put(b"k", b"v"))
        h.deliver(of_type(*(t for t in spec.message_types if t is not PrePrepare and t is not Prepare)))
        h.complete_syncs(0)  # the primary's PRE-PREPARE is durable: it goes out
        h.deliver(of_type(PrePrepare))
        prepares = [e for e in h.queue if type(e.msg) is Prepare]
        assert h.pending_syncs(1) == 1
        assert (prepares == []) is waits, spec.name
        if waits:
            h.complete_syncs(1)
            assert [e.receiver for e in h.queue if type(e.msg) is Prepare and e.sender == 1] == [0, 2, 3]


def conflicting_pre_prepare(h: Harness, pp: PrePrepare) -> PrePrepare:
    """Another batch (a null one) for the same ``(v, n)``, sealed with the primary's own keys."""
    d = h.nodes[0].crypto.digest(batch_bytes(()))
    return PrePrepare(pp.view, pp.seq, d, (), h.nodes[0].cfg.auth.seal(pre_prepare_body(pp.view, pp.seq, d)))


@pytest.mark.parametrize(("spec", "synced_before_crash"), [(PROTOCOL, True), (PROTOCOL, False), (EAGER, False)])
def test_a_restarted_backup_never_prepares_two_batches_for_one_view_and_seq(spec, synced_before_crash):
    """Backup 1 gets a PRE-PREPARE, crashes (power loss) and restarts; then a second PRE-PREPARE for the same
    (v, n) arrives. Correct PBFT either remembers the first (its Sync completed: it refuses the second) or never
    sent a PREPARE for it (it did not); the eager replica prepared the first and, amnesiac, prepares the second."""
    h = Harness(spec, n=4, clients=1, f=1, hold_syncs=True)
    h.complete_syncs()  # the first boot's records
    h.submit(h.clients[0], op_put(b"k", b"v"))
    h.deliver(of_type(Request))
    h.complete_syncs(0)
    h.deliver(of_type(PrePrepare))  # the primary's PRE-PREPARE reaches the backups
    pp = h.nodes[1].log.slots[(0, 1)].pp
    if synced_before_crash:
        h.complete_syncs(1)
    prepared = {e.msg.digest for e in h.queue if type(e.msg) is Prepare and e.sender == 1}
    h.crash(1)
    h.recover(1)
    for _ in range(20):  # STATUS and its replies, with every Sync answered: it recovers
        h.complete_syncs()
        if not h.deliver_all():
            break
    assert not h.nodes[1].recovering and h.nodes[1].view == 0
    h.drop()
    h.inject(0, 1, conflicting_pre_prepare(h, pp))
    h.deliver(of_type(PrePrepare))
    h.complete_syncs()
    prepared |= {e.msg.digest for e in h.queue if type(e.msg) is Prepare and e.sender == 1}
    if spec is EAGER:
        assert prepared == {pp.digest, conflicting_pre_prepare(h, pp).digest}  # the planted bug, caught
    else:
        assert len(prepared) <= 1
        assert (prepared == {pp.digest}) is synced_before_crash
        assert (h.nodes[1].counters.get("drop.equivocation", 0) == 1) is synced_before_crash


def test_a_lone_client_pays_four_fsyncs_on_top_of_five_one_way_delays():
    """The PRE-PREPARE, the PREPARE, the prepared certificate (before COMMIT) and the execution (before
    REPLY) are each synced on the critical path: 4 x (1 ms fsync + 5 us write) with the default disk."""
    spec = spec_from_dict({
        "name": "one-way", "seed": 3, "n": 4, "protocol": {"name": "pbft"},
        "network": {"latency_model": "constant", "latency_ms": 10.0, "bandwidth_mbps": 0},
        "cpu": {"base_us": 0, "per_byte_ns": 0, "sign_us": 0, "verify_us": 0, "mac_us": 0, "hash_base_us": 0,
                "hash_per_byte_ns": 0},
        "workload": {"clients": 1, "mode": "closed", "requests": 20}, "stop": {"time_limit_s": 60},
    })
    _, rep = simulate(spec)
    lat = rep["metrics"]["latency_s"]
    assert lat["p50"] == lat["max"] == pytest.approx(0.050 + 4 * 0.001005, abs=1e-9)
    stats = rep["metrics"]["storage"]
    assert rep["run"]["crash_model"] == "persisted-state" and stats["lost_records"] == 0


def test_group_commit_answers_many_syncs_with_one_fsync_under_load():
    sim, rep = simulate(make_spec(1, [], clients=32, requests=1600))
    stats, seqs = rep["metrics"]["storage"], sim.nodes[0].last_exec
    assert rep["metrics"]["committed"] == 1600 and stats["lost_records"] == 0
    # Per replica and batch at most one fsync for its PRE-PREPARE/PREPARE, one for its COMMIT, one for its
    # execution; concurrent steps share one (measured: 3341 syncs, 2709 fsyncs, 274 batches on 4 replicas).
    assert stats["fsyncs"] <= 3 * 4 * seqs and stats["fsyncs"] < 0.9 * stats["syncs"]


# ------------------------------------------------------------------ random crash/restart schedules
def test_random_crash_restart_schedules_keep_every_acknowledged_request():
    lost_somewhere = recovered_somewhere = 0
    for seed in SEEDS:
        sim, rep = simulate(make_spec(seed, schedule(seed)))
        where = f"seed {seed}, faults {schedule(seed)}"
        assert rep["run"]["crash_model"] == "persisted-state"
        budget = rep["fault_budget"]  # measured: each restarted replica reported Recovered within its allowance
        assert budget["held"] and budget["max_faulty"] == 1, (where, budget)
        assert all(o["recovery_s"] is not None and o["recovery_s"] <= 0.1 for o in budget["outages"]), (where, budget)
        assert rep["safety"]["ok"], (where, rep["safety"]["violations"])  # agreement, order, exactly-once
        assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 400, where
        accepted = [e for _, e in sim.history if type(e) is Accepted]
        assert len(accepted) == 400, where
        short = [(a.client, a.ts) for a in accepted if holders(sim, a.client, a.ts) < 2]  # f+1
        assert not short, (where, short[:5])
        lost_somewhere += rep["metrics"]["storage"]["lost_records"]
        recovered_somewhere += sum(1 for r in range(4) if sim.nodes[r].counters.get("drop.recovering"))
    # The schedules do exercise recovery: crashes lost unsynced records and restarted replicas caught up.
    assert lost_somewhere > 0 and recovered_somewhere > 0


@pytest.mark.parametrize("faults", ["none", "torn-tail"])
@pytest.mark.parametrize("seed", [24, 26, 29])
def test_crashes_that_keep_unsynced_records_or_tear_the_last_one_are_recovered_from_too(faults, seed):
    """``none`` keeps records whose Sync never completed (their messages were never sent); ``torn-tail``
    keeps a prefix of them and a torn record, cut on recovery. Seeds picked where records survived or tore."""
    spec = spec_from_dict({**make_spec(seed, schedule(seed), raw=True), "storage": {"faults": faults}})
    sim, rep = simulate(spec)
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], (faults, seed, rep["safety"]["violations"])
    accepted = [e for _, e in sim.history if type(e) is Accepted]
    assert all(holders(sim, a.client, a.ts) >= 2 for a in accepted)


@pytest.mark.parametrize("seed", CAUGHT)
def test_the_eager_replica_executes_twice_after_a_crash_and_correct_pbft_does_not(seed):
    _, bad = simulate(make_spec(seed, schedule(seed), proto="tests.pbft.eagerpbft:EAGER"))
    kinds = {v["kind"] for v in bad["safety"]["violations"]}
    assert not bad["safety"]["ok"] and kinds & {"order", "exactly_once"}, bad["safety"]["violations"]
    _, good = simulate(make_spec(seed, schedule(seed)))
    assert good["safety"]["ok"] and good["liveness"]["ok"], good["safety"]["violations"]


# ------------------------------------------------------------------ restarted primary, late restart
def test_a_restarted_primary_learns_the_view_and_rejoins_as_a_backup():
    back = 0.6
    sim, rep = simulate(make_spec(1, [{"node": 0, "crash_at_s": 0.1, "recover_at_s": back}]))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"]
    node, others = sim.nodes[0], [sim.nodes[r] for r in (1, 2, 3)]
    assert node.view >= 1 and node.view % 4 != 0 and node.active and not node.recovering
    assert {o.view for o in others} == {node.view}
    views = [e.view for t, e in sim.history if type(e) is ViewChanged and e.node == 0 and t > back * NS]
    assert views and views[0] >= 1  # it entered the others' view (from their NEW-VIEW), not view 0
    top_at_restart = max(e.seq for t, e in sim.history if type(e) is Executed and t <= back * NS)
    new = [t for t, e in sim.history if type(e) is Executed and e.node == 0 and e.seq > top_at_restart and e.entries]
    assert new and new[0] <= (back + 0.3) * NS  # it executes new requests soon after the restart
    assert node.last_exec == max(o.last_exec for o in others)


def test_a_replica_restarted_late_catches_up_from_its_peers_without_a_new_checkpoint():
    back = 0.8  # of a load that lasts about a second
    params = {"checkpoint_interval": 512, "log_window": 512}  # no checkpoint becomes stable in this run
    sim, rep = simulate(make_spec(2, [{"node": 3, "crash_at_s": 0.05, "recover_at_s": back}], requests=300, **params))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"], rep["safety"]["violations"]
    assert all(sim.nodes[r].h == 0 for r in range(4))
    # Its only "state transfer" is the replay of its own disk at the restart: nothing came from a checkpoint.
    jumps = [e for _, e in sim.history if type(e) is StateTransferred]
    mine = [(t, e.seq) for t, e in sim.history if type(e) is Executed and e.node == 3 and t > back * NS]
    before = max(e.seq for t, e in sim.history if type(e) is Executed and e.node == 3 and t <= back * NS)
    others_at_restart = max(e.seq for t, e in sim.history if type(e) is Executed and t <= back * NS)
    assert others_at_restart > before + 50  # it was far behind
    assert [(e.node, e.seq) for e in jumps] == [(3, before)]
    assert [s for _, s in mine] == list(range(before + 1, mine[-1][1] + 1))  # in order, none skipped or repeated
    caught_up = next(t for t, s in mine if s >= others_at_restart)
    assert caught_up <= (back + 0.1) * NS
    assert sim.nodes[3].last_exec == max(sim.nodes[r].last_exec for r in range(3))


def test_the_recovery_queries_round_trip_through_the_wire():
    sim, _ = simulate(make_spec(0, [], requests=20))
    done = sim.nodes[1].done
    for msg in (FetchLog(3, 2), LogReply(tuple(done[s] for s in sorted(done)), 1)):
        assert wire.decode(wire.encode(msg)) == msg
