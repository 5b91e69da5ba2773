"""Raft on the real transport: one OS process per replica on loopback, its log on disk with fsync, SIGKILL.

The simulator's side is tests/raft/; these are the same claims with real
processes, sockets and fsyncs. The load is open-loop for a fixed duration (a
few hundred requests, half of them reads of 8 keys so that linearizability has
something to check); the history is judged by the report's oracles (SMR per
incarnation) and by the linearizability checker on the client history, whose
operations :func:`helpers.client_history` regenerates from the workload's
seeded stream (the real transport logs no ``Submitted``).

Crashing the leader. Raft elects its leader, so the spec names it in advance
with the ``first_candidate`` parameter: that replica's first election timeout
is T/2 and every other replica's is in [T, 2T). The test does not take the
parameter's word for it; it checks from the event logs that the replica it
killed led the term it died in:

* every other replica entered term 1 less than T after its own boot, before
  its own election timer could fire, so it adopted the term from a
  RequestVote, and the only timer shorter than T is the first candidate's: it
  was the only candidate of term 1;
* entries of term 1 were executed, so term 1 had a leader: the first candidate;
* no replica entered a later term before the killed process's last event,
  and that process was executing requests until shortly before the SIGKILL.

"No acknowledged write is lost": after the run every replica's log is read
back from disk (``node-<id>.wal`` in the run's folder) with the Raft package's
own recovery decoding (:func:`bftlab.protocols.raft.log.load`, what a
restarted replica reads), and each accepted request must be in the logs of a
majority. "Nothing executed twice": the oracles judge each incarnation as its
own replica, so the test joins the ``Executed`` events of all the lives of a
replica and requires each request and each index at most once.

Time: two runs of 3 s of load and two of 9 s, each plus the processes'
start-up (about 1-2 s idle). Measured on a 2-core machine under a load
average of 9-12 from other work: 49-56 s of test time (56-67 s with pytest's
own start-up); idle it should be about 35 s. The 9 s load is what lets a restart
that boots slowly on a loaded machine (3-4 s measured) still join while the
cluster runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bftlab.api import Accepted, Executed, StateTransferred, ViewChanged
from bftlab.protocols.raft import log as raft_log
from bftlab.protocols.raft.messages import COMMAND
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from tests.transport import helpers

T = 0.5  # election timeout: long enough that a loaded machine's scheduling delays do not depose a leader
PARAMS = {"election_timeout_s": T, "heartbeat_s": 0.05, "client_retry_timeout_s": 0.3}


def make_spec(n: int, *, seed: int, duration_s: float, faults: tuple = (), rate: float = 100.0,
              **params: Any) -> Any:
    return helpers.spec("raft", n=n, clients=3, seed=seed, params={**PARAMS, **params}, faults=list(faults),
                        workload={"clients": 3, "mode": "open", "rate_rps": rate, "requests": 0,
                                  "duration_s": duration_s, "keys": 8, "read_fraction": 0.5})


def majority(n: int) -> int:
    return n // 2 + 1


def disk_logs(run: helpers.RealRun) -> list[raft_log.Stable]:
    """Each replica's durable state as its next restart would read it."""
    return [raft_log.load(run.wal(r)) for r in range(run.spec.n)]


def held(st: raft_log.Stable) -> set[tuple[int, int]]:
    """The client commands in a replica's durable log (no snapshot is taken in these runs)."""
    assert st.snap is None
    return {(e.client, e.ts) for e in st.log.entries if e.kind == COMMAND}


def check_run(run: helpers.RealRun, min_requests: int = 200) -> list[raft_log.Stable]:
    """Oracles, linearizability, every request answered, every accepted request on a majority's disk, nothing
    executed twice by any replica's lives."""
    rep, n = run.report, run.spec.n
    assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
    assert rep["liveness"]["ok"], rep["liveness"].get("pending", [])[:5]
    accepted = [(ev.client, ev.ts) for _, ev in run.events(Accepted)]
    assert rep["metrics"]["committed"] == rep["metrics"]["issued"] == len(accepted) >= min_requests
    lin = helpers.client_history(run, (n - 1) // 2)
    assert lin.safe and not lin.undecided, lin.violations
    assert lin.section["operations"] == len(accepted) and lin.section["keys"] > 1
    disks = disk_logs(run)
    logs = [held(st) for st in disks]
    short = [a for a in accepted if sum(a in log for log in logs) < majority(n)]
    assert not short, (len(short), short[:5])
    for r in range(n):
        execs = [ev for name in run.incarnations(r) for _, ev in run.events(Executed, name)]
        twice = [k for k, c in Counter((e.client, e.ts) for ev in execs for e in ev.entries).items() if c > 1]
        assert not twice, (r, twice[:5])
        seqs = Counter(ev.seq for ev in execs)
        assert max(seqs.values()) == 1, (r, [s for s, c in seqs.items() if c > 1][:5])
        # An Executed is reported only once its applied index is durable: the disk covers every one of them.
        assert disks[r].applied >= max(seqs) and disks[r].log.last >= disks[r].applied, r
    procs = rep["run"]["processes"]
    assert all(p["exit_code"] is not None for p in procs)  # every process the launcher started has exited
    assert helpers.wait_gone([p["pid"] for p in procs], timeout_s=5) == []
    return disks


# ------------------------------------------------------------------ a cluster under load
@pytest.mark.parametrize("n", [3, 5])
def test_a_real_cluster_serves_a_few_hundred_requests_from_its_fsynced_log(tmp_path: Path, n: int) -> None:
    run = helpers.RealRun(make_spec(n, seed=10 + n, duration_s=3.0), tmp_path)
    disks = check_run(run)
    assert run.report["run"]["restarts"] == 0
    # One leader served the whole load (no term began after the first execution), and every replica holds
    # (nearly) the whole log on its disk, in that term.
    first_exec = run.events(Executed)[0][0]
    terms = {ev.view for _, ev in run.events(ViewChanged)}
    assert not [ev for t, ev in run.events(ViewChanged) if t > first_exec], "the leader changed under load"
    top = max(st.log.last for st in disks)
    assert all(st.log.last >= top - 8 for st in disks), [st.log.last for st in disks]
    assert {st.term for st in disks} == {max(terms)} and max(terms) >= 1


# ------------------------------------------------------------------ SIGKILL of the leader
@pytest.mark.parametrize("n,leader", [(3, 1), (5, 3)])
def test_sigkill_of_the_leader_elects_a_new_one_and_loses_no_acknowledged_write(tmp_path: Path, n: int,
                                                                                  leader: int) -> None:
    crash_s, back_s = 1.2, 2.2  # the restart usually boots after the new leader's election, even on an idle machine
    spec = make_spec(n, seed=20 + n, duration_s=9.0, first_candidate=leader,
                     faults=[{"node": leader, "crash_at_s": crash_s, "recover_at_s": back_s}])
    run = helpers.RealRun(spec, tmp_path)
    disks = check_run(run, min_requests=300)
    assert run.report["run"]["restarts"] == 1
    old, new = f"replica-{leader}.0", f"replica-{leader}.1"
    assert run.incarnations(leader) == [old, new]

    # The killed replica led term 1 and still did when it died.
    views = run.events(ViewChanged)
    entered = _first_entries(views)
    for r in range(n):
        if r != leader:
            boot = run.boot(f"replica-{r}.0")
            assert entered[(r, 1)] - boot < T * 1e9, (r, (entered[(r, 1)] - boot) / 1e9)
    assert entered[(leader, 1)] == min(entered[(r, 1)] for r in range(n))
    last_alive = max(t for _, t, _, _ in run.logs[old])
    mine = [(t, ev) for t, ev in run.events(Executed, old) if ev.entries]
    assert mine and all(ev.view == 1 for _, ev in mine)
    later_terms = [t for t, ev in views if ev.view >= 2]
    assert min(later_terms) > last_alive, "a new term started while the first leader was still running"
    (outage,) = run.report["fault_budget"]["outages"]
    go = min(run.boot(f"replica-{r}.0") for r in range(n))  # the replicas boot at the launcher's go, or just after
    t_kill = go + outage["crashed_at_s"] * 1e9  # at or after the real SIGKILL
    assert t_kill - mine[-1][0] < 0.6e9, "the leader was not executing requests when it was killed"

    # The load was in flight across the crash, and a new leader of a later term committed requests while the
    # old one was down.
    accepted = [t for t, _ in run.events(Accepted)]
    assert any(t < last_alive for t in accepted) and any(t > t_kill for t in accepted)
    reboot = run.boot(new)
    assert reboot < accepted[-1] - 0.5e9, f"the restart booted {(reboot - accepted[-1]) / 1e9:+.1f} s from the end"
    # (Entries of term 1 the old leader had replicated may be executed after its death too: they commit with
    # the new leader's first entries, Figure 8's rule.)
    during = [t for t, ev in run.events(Executed) if last_alive < t < reboot and ev.entries and ev.view >= 2]
    assert during, "no request of a later term was executed while the old leader was down"
    assert (during[0] - t_kill) / 1e9 < 3 * T + 1.0  # detection, pre-vote, vote, first commit

    # The restarted old leader replayed its disk, then caught up from the new leader, in order, none twice.
    jumps = [ev.seq for _, ev in run.events(StateTransferred, new)]
    before = max(ev.seq for _, ev in run.events(Executed, old))
    assert len(jumps) == 1 and jumps[0] >= before, (jumps, before)
    again = [ev.seq for _, ev in run.events(Executed, new)]
    assert again, "the restarted replica executed nothing"
    assert again == list(range(jumps[0] + 1, again[-1] + 1)), again[:10]
    top_at_reboot = max(ev.seq for t, ev in run.events(Executed) if t <= reboot)
    caught_up = [t for t, ev in run.events(Executed, new) if ev.seq >= top_at_reboot]
    assert caught_up, "the restarted replica never reached what the others had executed when it booted"
    assert caught_up[0] - reboot <= 2e9, (caught_up[0] - reboot) / 1e9  # from its boot: process start-up is not Raft's
    top = max(st.log.last for st in disks)
    assert again[-1] >= top - 8, (again[-1], top)  # and it kept up until the end
    assert disks[leader].log.last >= top - 8 and disks[leader].term >= 2, (disks[leader].log.last, top)


def _first_entries(views: list[tuple[int, ViewChanged]]) -> dict[tuple[int, int], int]:
    """When each replica (any incarnation) first entered each term."""
    out: dict[tuple[int, int], int] = {}
    for t, ev in views:
        out.setdefault((ev.node, ev.view), t)
    return out


# ------------------------------------------------------------------ the parameter, in the simulator
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_candidate_leads_term_one_in_the_simulator(seed: int) -> None:
    for first in (0, 2, 4):
        spec = spec_from_dict({"name": "first", "seed": seed, "n": 5,
                               "protocol": {"name": "raft", "params": {"first_candidate": first}},
                               "workload": {"clients": 2, "mode": "closed", "requests": 20},
                               "stop": {"time_limit_s": 10.0}})
        sim = runner.build(spec)
        sim.run()
        assert sim.report(1.0)["liveness"]["ok"]
        assert [r for r in range(5) if sim.nodes[r].role == "leader"] == [first]
        assert {sim.nodes[r].term for r in range(5)} == {1}
