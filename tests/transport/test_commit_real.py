"""The commit protocols on the real transport: SIGKILL of the coordinator under load, then its restart.

One OS process per replica on loopback, logs fsynced on disk. Each run
offers open-loop load (100 transactions/s over 50 keys, each writing 2 of 3
shards) for 4 s; the coordinator (2PC, 3PC: replica 3; Paxos Commit: acceptor
3, the initial leader the clients try first) is SIGKILLed at 1 s and restarted
at 2 s (the spec's ``crash_at_s`` / ``recover_at_s``), and the run drains for
1 s after the last answer. The checks:

* the report's atomicity oracle (built from the processes' ``TxnBegan`` /
  ``Voted`` / ``Decided`` events and each process's final store) finds no
  violation, transactions committed, and none is blocked at the end;
* the load went on across the outage: under 2PC and 3PC requests made while
  the coordinator was down commit after its restart; under Paxos Commit the
  clients' retries make acceptor 4 coordinate new transactions meanwhile;
* the kill was mid-protocol: a participant had voted yes before it and
  learned the outcome more than 0.1 s after it (not from a message already
  on its way). An open-loop load at 100/s has a few participants uncertain
  at any instant, but on a loaded machine the kill may land in a lull: then
  the run is redone once with another seed (the participants' event logs are
  whole; the killed process's loses up to its last 0.1 s, so the
  participants' are the ones read);
* blocking: under 2PC every participant uncertain at the kill decided only
  after the restarted coordinator was up, no participant decided anything
  while it was down, and the oracle's longest uncertainty covers the outage;
  under 3PC and Paxos Commit every participant uncertain at the kill decided
  before the restarted process was up (termination among the participants,
  or another acceptor's takeover);
* all-or-nothing on disk: after the run, every participant's log
  (``node-<id>.wal``) is decoded by the protocol's own recovery (a fresh
  replica stepped with ``Start(recovered)``, what a restart reads). A
  transaction committed in one participant's log is committed in the log of
  every participant of that transaction, or that participant is still
  uncertain in it; none is aborted anywhere; and the transactions committed
  on disk are exactly those the oracle saw committed.

Time: each run is 4 s of load, 1 s of drain and the processes' start-ups and
stops (11-13 s each on a 2-core machine), three runs in all unless a kill lands in a lull: 36-59 s measured
with pytest's start-up under a load average of 6-8 from other work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bftlab.api import Decided, Start, TxnBegan, Voted
from bftlab.protocols.paxoscommit import PROTOCOL as PAXOSCOMMIT
from bftlab.protocols.threepc import PROTOCOL as THREEPC
from bftlab.protocols.twopc import PROTOCOL as TWOPC
from bftlab.transport.node_main import build_nodes
from tests.transport import helpers

Txn = tuple[int, int]
SHARDS, COORDINATOR = 3, 3  # participants 0-2; 2PC and 3PC's coordinator, Paxos Commit's leader acceptor
CRASH_S, BACK_S = 1.0, 2.0
SEEDS = (7, 8)  # a second run only if the kill caught no participant uncertain (an idle instant under load)
GRACE_NS = int(0.1e9)  # a decision this soon after the kill may come from what the coordinator sent before it
TXN = {"shards": SHARDS, "shards_per_txn": 2, "client_retry_s": 0.5}
CASES = {
    "twopc": (TWOPC, SHARDS + 1, {"vote_timeout_s": 0.2, "inquire_s": 0.2}),
    "threepc": (THREEPC, SHARDS + 1, {"vote_timeout_s": 0.1, "ack_timeout_s": 0.1, "timeout_s": 0.3,
                                      "term_timeout_s": 0.3, "collect_timeout_s": 0.1}),
    "paxoscommit": (PAXOSCOMMIT, SHARDS + 3, {"acceptor_faults": 1, "abort_after_s": 0.2, "rm_retry_s": 0.1,
                                              "takeover_s": 0.1}),
}


VOTES = {"twopc": "Vote", "threepc": "Vote", "paxoscommit": "Phase2b"}  # what tells the coordinator


def make_spec(name: str, seed: int) -> Any:
    _, n, params = CASES[name]
    return helpers.spec(name, n=n, clients=8, seed=seed, params={**TXN, **params},
                        faults=[{"node": COORDINATOR, "crash_at_s": CRASH_S, "recover_at_s": BACK_S}],
                        workload={"clients": 8, "mode": "open", "rate_rps": 100.0, "requests": 0,
                                  "duration_s": 4.0, "keys": 50},
                        stop={"time_limit_s": 30.0, "settle_s": 1.0},
                        # Votes reach the coordinator 30 ms late, so a participant stays uncertain at least that
                        # long per transaction and the kill finds some uncertain even on an idle machine, where
                        # a transaction otherwise takes a few ms.
                        adversary=[{"strategy": "targeted-delay",
                                    "params": {"node": COORDINATOR, "direction": "to", "delay_s": 0.03,
                                               "msg_types": [VOTES[name]]}}])


def disk_state(run: helpers.RealRun, r: int) -> Any:
    """Participant ``r`` as a restart would rebuild it from its log on disk."""
    (node,) = build_nodes(run.spec, [r]).values()
    node.step(0.0, Start(recovered=run.wal(r)))
    return node


def members(node: Any, txn: Txn) -> tuple[int, ...]:
    """The participants of ``txn`` as recorded in a participant's log (2PC/3PC: with the prepared record;
    Paxos Commit: with the vote)."""
    if hasattr(node, "parts"):
        return tuple(node.parts[txn])
    return tuple(node.votes[txn][1])


def check_disks(run: helpers.RealRun) -> set[Txn]:
    """All-or-nothing over the participants' logs; returns the transactions committed on disk."""
    nodes = [disk_state(run, r) for r in range(SHARDS)]
    committed: set[Txn] = set()
    for r, node in enumerate(nodes):
        for txn in node.store.applied:
            committed.add(txn)
            parts = members(node, txn)
            assert r in parts, (r, txn, parts)
            for p in parts:
                other = nodes[p].store
                assert txn in other.applied or txn in other.prepared, (
                    f"{txn} committed in participant {r}'s log, neither committed nor uncertain in {p}'s")
                assert txn not in other.aborted, f"{txn} committed in participant {r}'s log, aborted in {p}'s"
    return committed


def outage(run: helpers.RealRun) -> tuple[int, int, dict[str, Any]]:
    """When the coordinator was killed and when its restart booted (event-log clock, ns), and the report's
    record of the outage."""
    (out,) = run.report["fault_budget"]["outages"]
    # The participants boot at the launcher's go, or just after (an acceptor that never acts logs nothing).
    go = min(run.boot(f"replica-{r}.0") for r in range(SHARDS))
    back = run.logs[f"replica-{COORDINATOR}.1"]
    reboot = run.boot(f"replica-{COORDINATOR}.1") if back else go + int(out["restarted_at_s"] * 1e9)
    return go + int(out["crashed_at_s"] * 1e9), reboot, out


def across_the_kill(run: helpers.RealRun, t_kill: int) -> list[tuple[int, int]]:
    """``(vote, decision)`` times (ns) of every participant that voted yes before the kill and decided after it
    (the participants are never killed: their event logs are whole)."""
    decided: dict[tuple[int, int, int], int] = {}
    for t, ev in run.events(Decided):
        if ev.node < SHARDS:
            decided.setdefault((ev.node, ev.client, ev.ts), t)
    out = []
    for t, ev in run.events(Voted):
        d = decided.get((ev.node, ev.client, ev.ts))
        if ev.yes and t < t_kill and d is not None and d > t_kill:
            out.append((t, d))
    return out


def check_run(run: helpers.RealRun, name: str) -> None:
    """What holds in every run: the oracle, the restart, the load across the outage, the disks, the processes."""
    rep = run.report
    atom = rep["oracles"]["atomicity"]
    assert rep["safety"]["ok"] and atom["safe"], atom.get("violations", [])[:3]
    assert atom["violation_count"] == 0 and atom["committed"] > 150, atom
    assert atom["blocked_at_end"] == 0 and atom["undecided"] == 0, atom
    assert rep["liveness"]["ok"], rep["liveness"].get("pending", [])[:5]
    assert rep["run"]["restarts"] == 1
    old = f"replica-{COORDINATOR}.0"
    assert run.incarnations(COORDINATOR) == [old, f"replica-{COORDINATOR}.1"]
    t_kill, t_reboot, _ = outage(run)
    assert len(run.events(TxnBegan, old)) > 50
    # (its event log is flushed every 0.1 s: a SIGKILL loses up to that much of its tail)
    last_alive = max(t for _, t, _, _ in run.logs[old])
    assert t_kill - last_alive < 0.3e9, "the coordinator had stopped working before it was killed"
    # The load went on across the outage. Under 2PC and 3PC the clients wait for their coordinator: requests
    # made while it was down commit after the restart. Under Paxos Commit they retry at the next acceptor,
    # which coordinates new transactions while the first is down (the restart, slow to boot on a loaded
    # machine, may come after the load has ended).
    if name == "paxoscommit":
        others = {(ev.client, ev.ts) for r in range(COORDINATOR + 1, run.spec.n)
                  for _, ev in run.events(TxnBegan, f"replica-{r}.0")}
        assert any(ev.commit and t_kill < t < t_reboot and (ev.client, ev.ts) in others
                   for t, ev in run.events(Decided)), "no acceptor took over while the leader was down"
    else:
        assert any(ev.commit and t > t_reboot for t, ev in run.events(Decided))

    on_disk = check_disks(run)
    seen = {(ev.client, ev.ts) for _, ev in run.events(Decided) if ev.commit}
    assert on_disk == seen and len(on_disk) == atom["committed"], (len(on_disk), len(seen), atom["committed"])

    procs = rep["run"]["processes"]
    assert all(p["exit_code"] is not None for p in procs)
    assert helpers.wait_gone([p["pid"] for p in procs], timeout_s=5) == []


@pytest.mark.parametrize("name", list(CASES))
def test_sigkill_of_the_coordinator_under_load_keeps_every_transaction_all_or_nothing(tmp_path: Path,
                                                                                       name: str) -> None:
    for seed in SEEDS:
        run = helpers.RealRun(make_spec(name, seed=seed), tmp_path / f"seed{seed}")
        check_run(run, name)
        t_kill, t_reboot, out = outage(run)
        spans = across_the_kill(run, t_kill)
        if any(d - t_kill > GRACE_NS for _, d in spans):
            break  # the kill caught a participant uncertain, with no outcome on the way to it
    else:
        pytest.fail(f"in {len(SEEDS)} runs the kill never caught a participant uncertain")

    longest = run.report["oracles"]["atomicity"]["uncertain_s"]["max"]
    if name == "twopc":
        # Blocking: a participant uncertain at the kill learns the outcome only from the restarted coordinator,
        # and while it is down nothing at all is decided (what it had sent before dying arrives within GRACE).
        assert all(d > t_reboot for _, d in spans if d - t_kill > GRACE_NS), (spans, t_reboot)
        assert not [t for t, ev in run.events(Decided) if ev.node < SHARDS and t_kill + GRACE_NS < t < t_reboot]
        assert longest >= out["restarted_at_s"] - out["crashed_at_s"], (longest, out)
        assert longest >= (t_reboot - t_kill - GRACE_NS) / 1e9, (longest, (t_reboot - t_kill) / 1e9)
    else:
        # Nonblocking: every participant uncertain at the kill decided before the restarted process was up
        # (3PC: termination among the participants; Paxos Commit: another acceptor's takeover).
        assert all(d < t_reboot for _, d in spans), ([(d - t_kill) / 1e9 for _, d in spans], t_reboot)
        assert longest < (t_reboot - t_kill) / 1e9, (longest, (t_reboot - t_kill) / 1e9)
