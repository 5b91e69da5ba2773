"""Raft under random faults: the history oracles hold on every seed, and progress returns with a majority.

Each seed draws (tests/raft/schedules.py) n = 3 or 5, rounds of up to f
simultaneous crashes with restarts from disk, one partition that cuts a
minority off, 2 % message loss, reordering, duplicated (replayed) messages,
and a storage fault model (lose-unsynced, torn-tail or none). All faults end
by about 3 s of a 20 s run, so every request must complete: the SMR oracle
(agreement, order, exactly-once, client consistency, liveness) and the
linearizability oracle must both say ok.
"""

from __future__ import annotations

from bftlab.api import Executed, ReadServed, StateTransferred
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from tests.raft.schedules import PROTO, spec_doc

SEEDS = range(50)


def simulate(doc: dict) -> tuple[runner.Simulation, dict]:
    sim = runner.build(spec_from_dict({**doc, "trace": {"keep": True}}))
    sim.run()
    return sim, sim.report(1.0)


def check_run(seed: int, doc: dict) -> tuple[runner.Simulation, dict]:
    sim, rep = simulate(doc)
    where = f"seed {seed}: faults {doc['faults']}, partition {doc['network']['partitions']}"
    assert rep["safety"]["ok"], (where, rep["safety"]["violations"][:3])
    assert rep["oracles"]["linearizability"]["verdict"] == "ok", where
    assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == doc["workload"]["requests"], where
    return sim, rep


def test_fifty_seeds_of_crashes_partitions_loss_reordering_duplication_and_storage_faults():
    lost = jumps = elections = lease_refusals = 0
    for seed in SEEDS:
        sim, rep = check_run(seed, spec_doc(seed))
        lost += rep["metrics"]["storage"]["lost_records"] + rep["metrics"]["storage"]["torn_cut"]
        jumps += sum(1 for _, e in sim.history if type(e) is StateTransferred)
        elections += rep["metrics"]["view_changes"]
        lease_refusals += sum(sim.nodes[i].counters.get("vote.leader_lease", 0) for i in range(sim.spec.n))
    # The schedules bite: crashes lost unsynced records, restarted replicas replayed their disks, leaders changed,
    # and check-quorum turned away vote requests from replicas that had been cut off.
    assert lost > 0 and jumps > 0 and elections > len(SEEDS) and lease_refusals > 0


def test_snapshots_and_install_snapshot_under_the_same_faults():
    installed = 0
    for seed in range(20):
        sim, _ = check_run(seed, spec_doc(seed, params={"snapshot_every": 8}))
        installed += sum(sim.nodes[i].counters.get("snapshots.installed", 0) for i in range(sim.spec.n))
        assert all(len(sim.nodes[i].log.entries) < 8 + 64 for i in range(sim.spec.n))  # the log was compacted
    assert installed > 0  # lagging or restarted replicas were brought up by InstallSnapshot


def test_read_index_reads_are_linearizable_under_the_same_faults():
    """Gets answered by ReadIndex are not in the log: the leader reports them as ReadServed, which the SMR
    oracle checks for the client's sake (issued, the result accepted), and linearizability judges their values."""
    served = 0
    for seed in range(10):
        sim, rep = simulate(spec_doc(seed, params={"read_index": True}))
        assert rep["oracles"]["linearizability"]["verdict"] == "ok", seed
        assert rep["safety"]["ok"] and rep["liveness"]["ok"], (seed, rep["safety"]["violations"][:3])
        reads = [e for _, e in sim.history if type(e) is ReadServed]
        executed = {(x.client, x.ts) for _, e in sim.history if type(e) is Executed for x in e.entries}
        assert not {(r.client, r.ts) for r in reads} & executed  # served outside the log, never also executed
        served += len(reads)
    assert served > 0


def test_a_read_result_no_replica_served_is_caught():
    """The planted lie: a client accepts a different result for a ReadIndex read than the leader served."""
    from bftlab.api import Accepted
    from bftlab.oracles.smr import check

    sim, _ = simulate(spec_doc(0, params={"read_index": True}))
    read = next(e for _, e in sim.history if type(e) is ReadServed)
    lie = Accepted(read.client, read.ts, b"\x00" * 32)
    events = [lie if type(e) is Accepted and (e.client, e.ts) == (read.client, read.ts) else e
              for _, e in sim.history]
    assert lie in events and not check([e for _, e in sim.history]).violations
    assert [v.detail for v in check(events).violations] == [
        f"client {read.client} accepted a result for read ts {read.ts} that no correct replica served"]


def majority_down_doc(seed: int, heal: bool) -> dict:
    doc = spec_doc(seed, requests=80)
    doc.update(n=3, faults=[], allow_exceeding_f=True, adversary=[])
    doc["network"] = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                      "partitions": [{"start_s": 0.5, "end_s": 2.0 if heal else 25.0, "groups": [[0], [1], [2]]}]}
    return doc


def test_with_no_majority_able_to_talk_nothing_commits_and_progress_returns_when_it_heals():
    for heal in (False, True):
        sim, rep = simulate(majority_down_doc(11, heal))
        assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
        cut_off = [t for t, e in sim.history if type(e) is Executed and 0.6e9 < t < 2.0e9]
        assert cut_off == []  # no replica executes anything while each is alone (the clients sit in no group)
        if heal:
            assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 80
        else:
            assert not rep["liveness"]["ok"] and 0 < rep["metrics"]["committed"] < 80


def test_with_a_majority_crashed_nothing_commits_and_nothing_is_lost():
    doc = spec_doc(5, requests=80)
    doc.update(n=3, allow_exceeding_f=True, adversary=[],
               faults=[{"node": 0, "crash_at_s": 0.5}, {"node": 1, "crash_at_s": 0.5}])
    doc["network"] = {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0}
    doc["protocol"] = {"name": PROTO}
    sim, rep = simulate(doc)
    assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
    assert [t for t, e in sim.history if type(e) is Executed and t > 0.52e9] == []
    assert not rep["liveness"]["ok"] and rep["metrics"]["committed"] < 80
