"""PBFT crash recovery on the real transport: SIGKILL, a fresh process, its write-ahead log on disk.

The simulator's side is tests/pbft/test_pbft_recovery.py; these are the same
claims with one OS process per replica. A crash in ``faults:`` is SIGKILL of the
replica's process group; its restart is a new process that reads the log its
previous life wrote (``node-<id>.wal`` in the run's folder, kept here with
``run_real(keep_dir=tmp_path)``) and catches up from its peers.

What "held by f+1 replicas at the end" means here: after the run every
replica's log is read back from disk and replayed as ``PbftReplica._recover``
would (the stable checkpoint's last-reply table, then the executed batches
``x/<n>`` contiguous above it). A replica holds ``(client, ts)`` if that table
reaches ``ts`` for the client: each client has one request outstanding at a
time, so its timestamps only grow in every replica's state. Reading the disk
rather than the event logs is the sound choice: a SIGKILL may cut the last
0.1 s of a process's event log, while the WAL holds exactly what a restarted
replica would come back with, and it is what survives the end of the run.

"Nothing executed twice" across a restart: the report's oracles judge each
incarnation as its own replica, so they cannot see a restarted process execute
again what its previous life executed. The test joins every incarnation's
``Executed`` events per replica and requires each request and each sequence
number at most once.

Linearizability: the real transport logs no ``Submitted`` events, so the test
regenerates each client's operations from the workload's seeded stream (the
same generator, in the order the open-loop driver hands them out) and checks
that every ``Issued`` pairs with its operation before asking the checker.

Time bounds (rejoin, catch-up) count from the restarted process's boot, its
first event: how long a new Python process takes to start on a loaded machine
(measured: 0.5 s idle, over 3 s with other work on both cores) is not the
protocol's business. Loads are open-loop for a fixed duration so that they
outlast the restarts however slowly the machine runs.

A restarted client group against live replicas is exercised end to end here;
tests/transport/test_incarnation.py only checks the incarnation numbers that
client processes report, with no replica running.

Two deterministic tests at the end (simulator and harness) pin PBFT recovery
bugs these runs led to: restarted replicas waiting forever for f+1 active
replicas while the others were changing views, and a restarted replica's
VIEW-CHANGE missing the certificates of batches it executed since its checkpoint.
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from typing import Any

from bftlab.api import Accepted, Executed, Issued, StateTransferred
from bftlab.protocols.pbft import PROTOCOL, durability, op_put
from bftlab.protocols.pbft.checkpoint import restore
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import Harness
from bftlab.transport.events import read_log
from tests.transport import helpers

N, F = 4, 1
FAST = {"checkpoint_interval": 16, "log_window": 64, "view_change_timeout_s": 0.5, "client_retry_timeout_s": 0.3}
ALLOWANCE_S = 1.25  # a restarted replica counts as faulty for 1 s after its restart: the next crash waits longer


def schedule(seed: int) -> list[dict]:
    """2-3 crashes of random replicas (the primary included), one down at a time, each after the last one's
    recovery allowance has passed."""
    rng = random.Random(seed)
    t, out = 0.3, []
    for _ in range(rng.choice((2, 3))):
        crash = round(t + rng.uniform(0.0, 0.3), 3)
        back = round(crash + rng.uniform(0.2, 0.6), 3)
        out.append({"node": rng.randrange(N), "crash_at_s": crash, "recover_at_s": back})
        t = back + ALLOWANCE_S
    return out


def make_spec(seed: int, faults: list[dict], *, duration_s: float | None = None, rate: float = 80.0,
              clients: int = 3, **params: Any) -> Any:
    """An open-loop load at ``rate`` per second that lasts until 3 s after the last restart (a few hundred
    requests; a fixed duration, not a count, so the load outlasts the restarts on a slow machine too), 50% reads
    of 8 keys (so linearizability has something to check)."""
    if duration_s is None:
        duration_s = max(f["recover_at_s"] for f in faults) + 3.0
    return helpers.spec("pbft", n=N, clients=clients, seed=seed, params={**FAST, **params}, faults=faults,
                        workload={"clients": clients, "mode": "open", "rate_rps": rate, "requests": 0,
                                  "duration_s": duration_s, "keys": 8, "read_fraction": 0.5})


class Run(helpers.RealRun):
    """A finished real run (:class:`helpers.RealRun`) and PBFT's reading of the replicas' disks."""

    def durable_replies(self, r: int) -> tuple[int, dict[int, int]]:
        """Replica ``r``'s disk replayed as its restart would: (last executed seq, client -> last executed ts)."""
        st = durability.load(self.wal(r))
        last, replies = 0, {}
        if st.ckpt is not None:
            last, _, _, snap = st.ckpt
            replies = {c: ts for c, (ts, _) in restore(snap)[1].items()}
        while last + 1 in st.executed:
            last += 1
            for req in st.executed[last].batch:
                replies[req.client] = max(req.ts, replies.get(req.client, -1))
        return last, replies


def check_recovered_run(run: Run) -> None:
    """Oracles, every acknowledged request on f+1 disks, nothing executed twice by any replica's lives."""
    rep, where = run.report, run.spec.faults
    assert rep["safety"]["ok"], (where, rep["safety"]["violations"][:3])
    assert rep["liveness"]["ok"], (where, rep["liveness"].get("pending", [])[:5])
    accepted = [ev for _, ev in run.events(Accepted)]
    assert rep["metrics"]["committed"] == rep["metrics"]["issued"] == len(accepted) >= 200, where
    assert rep["run"]["restarts"] == len(run.spec.faults)
    disks = [run.durable_replies(r) for r in range(N)]
    short = [(a.client, a.ts) for a in accepted
             if sum(1 for _, replies in disks if replies.get(a.client, -1) >= a.ts) < F + 1]
    assert not short, (where, len(short), short[:5])
    for r in range(N):
        execs = [ev for name in run.incarnations(r) for _, ev in run.events(Executed, name)]
        twice = [k for k, c in Counter((e.client, e.ts) for ev in execs for e in ev.entries).items() if c > 1]
        assert not twice, (where, r, twice[:5])
        seqs = Counter(ev.seq for ev in execs)
        assert max(seqs.values()) == 1, (where, r, [s for s, c in seqs.items() if c > 1][:5])
        # The disk covers every execution any of its lives reported (an Executed is observed once durable).
        assert disks[r][0] >= max(seqs), (where, r, disks[r][0], max(seqs))


def linearizability(run: Run) -> Any:
    """The client-visible history, with each client's operations regenerated from the workload's stream."""
    return helpers.client_history(run, F)


# ------------------------------------------------------------------ random kill/restart schedules
def test_random_kill_restart_schedules_keep_every_acknowledged_request(tmp_path):
    restarted_from_disk = 0
    for seed in (1, 2, 3):
        run = Run(make_spec(seed, schedule(seed)), tmp_path / f"seed-{seed}")
        check_recovered_run(run)
        lin = linearizability(run)
        assert lin.safe and not lin.undecided, (seed, lin.violations)
        assert lin.section["operations"] == len(run.events(Issued)) and lin.section["keys"] > 1
        # Each restart booted from what its previous life wrote: it said so with a StateTransferred from disk.
        reborn = [name for name in run.logs if name.startswith("replica-") and not name.endswith(".0")]
        assert len(reborn) == len(run.spec.faults)
        restarted_from_disk += sum(1 for name in reborn if run.events(StateTransferred, name))
    assert restarted_from_disk >= 6


# ------------------------------------------------------------------ restarted primary, late restart
def test_a_restarted_primary_rejoins_and_executes_again_soon_after_its_restart(tmp_path):
    run = Run(make_spec(7, [{"node": 0, "crash_at_s": 1.0, "recover_at_s": 1.5}], duration_s=6.0), tmp_path)
    check_recovered_run(run)
    prog = run.report["run"]["replica_progress"]
    assert prog["replica-0.0"]["max_seq"] > 0  # it was primary and executed before the crash
    boot = run.boot("replica-0.1")
    assert run.events(Accepted)[-1][0] > boot + 1.5e9, "the load ended before the restarted replica booted"
    top_at_boot = max(ev.seq for t, ev in run.events(Executed) if t <= boot)
    new = [t for t, ev in run.events(Executed, "replica-0.1") if ev.seq > top_at_boot and ev.entries]
    assert new, "the restarted primary executed no new request"
    assert new[0] - boot <= 3e9, (new[0] - boot) / 1e9
    views = {name: p["view"] for name, p in prog.items() if name != "replica-0.0"}
    assert views["replica-0.1"] >= 1 and len(set(views.values())) == 1, views  # it entered the others' view
    top = max(p["max_seq"] for p in prog.values())
    assert prog["replica-0.1"]["max_seq"] >= top - FAST["checkpoint_interval"], prog


def test_a_replica_restarted_late_catches_up_from_its_peers_without_a_new_checkpoint(tmp_path):
    params = {"checkpoint_interval": 1024, "log_window": 1024}  # no checkpoint becomes stable in this run
    run = Run(make_spec(8, [{"node": 3, "crash_at_s": 0.3, "recover_at_s": 2.0}], duration_s=6.5, **params), tmp_path)
    check_recovered_run(run)
    assert all(run.durable_replies(r)[0] < 1024 for r in range(N))
    boot = run.boot("replica-3.1")
    before = max(ev.seq for _, ev in run.events(Executed, "replica-3.0"))
    others_at_boot = max(ev.seq for t, ev in run.events(Executed) if t <= boot)
    assert others_at_boot > before + 50  # it was far behind
    # Its only "state transfer" is the replay of its own disk at the restart: nothing came from a checkpoint.
    jumps = [ev.seq for _, ev in run.events(StateTransferred, "replica-3.1")]
    assert len(jumps) == 1 and jumps[0] >= before, (jumps, before)
    mine = [(t, ev.seq) for t, ev in run.events(Executed, "replica-3.1")]
    assert [s for _, s in mine] == list(range(jumps[0] + 1, mine[-1][1] + 1))  # in order, none skipped or repeated
    caught_up = next(t for t, s in mine if s >= others_at_boot)
    assert caught_up - boot <= 2e9, (caught_up - boot) / 1e9  # a STATUS round and FETCH-LOGs, no checkpoint wait
    top = max(p["max_seq"] for p in run.report["run"]["replica_progress"].values())
    assert mine[-1][1] >= top - 8


def test_two_overlapping_outages_do_not_leave_the_restarted_replicas_waiting_forever():
    """In the simulator, deterministic. The primary and a backup are down together (over budget; on the real
    transport a restart that boots slowly on a loaded machine overlaps the next crash the same way): replicas 1
    and 2 keep changing views, needing a third VIEW-CHANGE, while each restarted replica waited for f+1 replicas
    active in one view. The restarted replicas join the view change (TOCS §4.5.2: f+1 replicas at a higher view
    include a correct one) once they caught up, and the run completes."""
    spec = spec_from_dict({
        "name": "overlap", "seed": 1, "n": N, "f": F, "allow_exceeding_f": True,
        "protocol": {"name": "pbft", "params": {**FAST, "view_change_timeout_s": 0.2, "client_retry_timeout_s": 0.1}},
        "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
        "workload": {"clients": 4, "mode": "closed", "requests": 400},
        "faults": [{"node": 0, "crash_at_s": 0.1, "recover_at_s": 1.0},
                   {"node": 3, "crash_at_s": 0.3, "recover_at_s": 1.1}],
        "stop": {"time_limit_s": 30.0},
    })
    sim = runner.build(spec)
    sim.run()
    rep = sim.report(1.0)
    assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
    assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 400
    nodes = [sim.nodes[r] for r in range(N)]
    assert not any(nd.recovering for nd in nodes) and all(nd.active for nd in nodes)
    assert len({nd.view for nd in nodes}) == 1 and nodes[0].view >= 1


def test_a_restarted_replica_still_reports_what_it_prepared_above_its_stable_checkpoint():
    """Harness, deterministic. A VIEW-CHANGE carries every certificate its sender prepared above its stable
    checkpoint (TOCS §4.4), executed or not. A restarted replica used to rebuild only the slots above what it
    had executed, so two replicas restarted between checkpoints could hand a new primary a quorum of
    VIEW-CHANGEs without a committed request, and it would fill that seq with a null request."""
    h = Harness(PROTOCOL, n=N, clients=1, f=F)
    h.submit(h.clients[0], op_put(b"k", b"v"))
    assert h.run_until(lambda: len(h.accepted()) == 1 and all(h.nodes[r].last_exec == 1 for r in range(N)))

    def certs(r: int) -> list[int]:
        node = h.nodes[r]
        return [c.pre_prepare.seq for c in node.log.prepared_certs(node.checkpoints.h)]

    assert [certs(r) for r in range(N)] == [[1]] * N
    h.crash(1)
    h.recover(1)
    assert h.run_until(lambda: not h.nodes[1].recovering)
    assert h.nodes[1].last_exec == 1 and h.nodes[1].checkpoints.h == 0
    assert certs(1) == certs(2) == [1]


# ------------------------------------------------------------------ a restarted client group
def test_a_restarted_client_group_completes_against_live_replicas(tmp_path):
    """The same client ids, started twice against replicas that stay up, finish both times: the second life
    numbers its requests above the first (its incarnation), so no replica refuses them as old."""
    s = helpers.with_ports(helpers.spec(clients=2, params=FAST, workload={"clients": 2, "requests": 60}))
    path = helpers.write_spec(s, tmp_path / "spec.yaml")
    replicas = [helpers.start_node(path, [r]) for r in range(N)]
    lives: list[list[tuple[str, int, Any]]] = []
    try:
        for proc in replicas:
            helpers.wait_line(proc, "ready")
        for proc in replicas:
            helpers.say_go(proc)
        for life in range(2):
            events = tmp_path / f"clients.{life}.events"
            clients = helpers.start_node(path, [N, N + 1], "--events", str(events), control=False)
            try:
                _, err = clients.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                helpers.kill_group(clients)
                raise AssertionError(f"client group life {life} hung") from None
            finally:
                helpers.kill_group(clients)
            assert clients.returncode == 0 and b"60 of 60 requests accepted" in err, err[-2000:]
            lives.append([(kind, ev.client, ev.ts) for kind, _, ev, _ in read_log(events) if kind in "IA"])
        stats = [helpers.stop_gracefully(proc) for proc in replicas]
    finally:
        for proc in replicas:
            helpers.kill_group(proc)
    for records in lives:
        assert Counter(k for k, _, _ in records) == {"I": 60, "A": 60}
        assert len({(c, ts) for k, c, ts in records if k == "I"}) == 60  # timestamps unique
    for c in (N, N + 1):
        first = max(ts for k, cc, ts in lives[0] if cc == c)
        assert min(ts for k, cc, ts in lives[1] if cc == c) > first  # above everything its first life used
    assert all(st is not None for st in stats)  # the replicas served both lives and stopped cleanly
