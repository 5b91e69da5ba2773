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
* the kill was mid-protocol: the killed process had begun transactions it had
  not decided when it died;
* blocking: under 2PC the longest uncertainty (a yes vote until that
  participant's decision) is at least the coordinator's outage, since the
  participants wait for it; under 3PC and Paxos Commit it is shorter than
  the time from the kill to the restarted process's boot: the participants
  terminated without it;
* all-or-nothing on disk: after the run, every participant's log
  (``node-<id>.wal``) is decoded by the protocol's own recovery (a fresh
  replica stepped with ``Start(recovered)``, what a restart reads). A
  transaction committed in one participant's log is committed in the log of
  every participant of that transaction, or that participant is still
  uncertain in it; none is aborted anywhere; and the transactions committed
  on disk are exactly those the oracle saw committed.

Time: each run is 4 s of load, 1 s of drain and the processes' start-ups and
stops (11-13 s each on a 2-core machine), three runs in all: 36-59 s measured with pytest's start-up under
a load average of 6-8 from other work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bftlab.api import Decided, Start, TxnBegan
from bftlab.protocols.paxoscommit import PROTOCOL as PAXOSCOMMIT
from bftlab.protocols.threepc import PROTOCOL as THREEPC
from bftlab.protocols.twopc import PROTOCOL as TWOPC
from bftlab.transport.node_main import build_nodes
from tests.transport import helpers

Txn = tuple[int, int]
SHARDS, COORDINATOR = 3, 3  # participants 0-2; 2PC and 3PC's coordinator, Paxos Commit's leader acceptor
CRASH_S, BACK_S = 1.0, 2.0
TXN = {"shards": SHARDS, "shards_per_txn": 2, "client_retry_s": 0.5}
CASES = {
    "twopc": (TWOPC, SHARDS + 1, {"vote_timeout_s": 0.2, "inquire_s": 0.2}),
    "threepc": (THREEPC, SHARDS + 1, {"vote_timeout_s": 0.1, "ack_timeout_s": 0.1, "timeout_s": 0.3,
                                      "term_timeout_s": 0.3, "collect_timeout_s": 0.1}),
    "paxoscommit": (PAXOSCOMMIT, SHARDS + 3, {"acceptor_faults": 1, "abort_after_s": 0.2, "rm_retry_s": 0.1,
                                              "takeover_s": 0.1}),
}


def make_spec(name: str, seed: int) -> Any:
    _, n, params = CASES[name]
    return helpers.spec(name, n=n, clients=4, seed=seed, params={**TXN, **params},
                        faults=[{"node": COORDINATOR, "crash_at_s": CRASH_S, "recover_at_s": BACK_S}],
                        workload={"clients": 4, "mode": "open", "rate_rps": 100.0, "requests": 0,
                                  "duration_s": 4.0, "keys": 50},
                        stop={"time_limit_s": 30.0, "settle_s": 1.0})


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
    go = min(run.boot(f"replica-{r}.0") for r in range(run.spec.n))
    return go + int(out["crashed_at_s"] * 1e9), run.boot(f"replica-{COORDINATOR}.1"), out


@pytest.mark.parametrize("name", list(CASES))
def test_sigkill_of_the_coordinator_under_load_keeps_every_transaction_all_or_nothing(tmp_path: Path,
                                                                                       name: str) -> None:
    run = helpers.RealRun(make_spec(name, seed=7), tmp_path)
    rep = run.report
    atom = rep["oracles"]["atomicity"]
    assert rep["safety"]["ok"] and atom["safe"], atom.get("violations", [])[:3]
    assert atom["violation_count"] == 0 and atom["committed"] > 150, atom
    assert atom["blocked_at_end"] == 0 and atom["undecided"] == 0, atom
    assert rep["liveness"]["ok"], rep["liveness"].get("pending", [])[:5]
    assert rep["run"]["restarts"] == 1
    old, new = f"replica-{COORDINATOR}.0", f"replica-{COORDINATOR}.1"
    assert run.incarnations(COORDINATOR) == [old, new]

    # Mid-protocol: the killed process had begun transactions it never decided.
    t_kill, t_reboot, out = outage(run)
    begun = {(ev.client, ev.ts) for _, ev in run.events(TxnBegan, old)}
    decided = {(ev.client, ev.ts) for _, ev in run.events(Decided, old)}
    assert len(begun) > 50 and begun - decided, "the coordinator was idle when it was killed"
    last_alive = max(t for _, t, _, _ in run.logs[old])
    assert t_kill - last_alive < 0.3e9, "the coordinator had stopped working before it was killed"
    # and the load went on across the outage: transactions committed after the restart.
    assert any(ev.commit and t > t_reboot for t, ev in run.events(Decided))

    longest = atom["uncertain_s"]["max"]
    if name == "twopc":  # blocking: participants wait out the coordinator's outage
        assert longest >= out["restarted_at_s"] - out["crashed_at_s"], (longest, out)
        # and until the restarted process was up: its first event, give or take the few ms between the kill and
        # the last votes of attempts already in flight (t_kill is the launcher's time, at or after the SIGKILL).
        assert longest >= (t_reboot - t_kill) / 1e9 - 0.05, (longest, (t_reboot - t_kill) / 1e9)
    else:  # nonblocking: nobody waited for the restart
        assert longest < (t_reboot - t_kill) / 1e9, (longest, (t_reboot - t_kill) / 1e9)

    on_disk = check_disks(run)
    seen = {(ev.client, ev.ts) for _, ev in run.events(Decided) if ev.commit}
    assert on_disk == seen and len(on_disk) == atom["committed"], (len(on_disk), len(seen), atom["committed"])

    procs = rep["run"]["processes"]
    assert all(p["exit_code"] is not None for p in procs)
    assert helpers.wait_gone([p["pid"] for p in procs], timeout_s=5) == []
