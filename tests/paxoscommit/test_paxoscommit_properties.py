"""Property tests: random schedules of the faults Paxos Commit tolerates never break atomicity, and once the
faults heal nothing stays blocked and every client request completes. Without a majority of acceptors nothing
is decided (and nothing unsafe happens) until one is back.

The schedules (tests/paxoscommit/common.py): 2-4 participants, F = 1 or 2, crash/restart rounds with at most
F acceptors down at once (often the initial coordinator) and RMs crashing besides, a partition into two sides
that may leave no side with a majority of acceptors, 0-10 % message loss, duplicated (replayed) messages, lost
or torn unsynced records, lock conflicts and spontaneous no votes, the thrifty variant in about a third and
bundled Phase 2b (``bundle_2b``) in about half; everything healed by 2 s. The simulation then settles for 3 s
after the last answer (see ``simulate``) so that blocking is judged after the RMs' retries.
"""

from __future__ import annotations

from bftlab.api import Decided, Recovered
from bftlab.core.kernel import NS
from tests.paxoscommit.common import PROTO, random_doc, simulate

SEEDS = range(60)
REQUESTS = 30


def test_random_fault_schedules_keep_atomicity_and_leave_nothing_blocked():
    takeovers = ballots = lost = aborted = rm_restarts = duplicated = thrifty = bundled = bundle_timeouts = 0
    for seed in SEEDS:
        d = random_doc(seed, REQUESTS)
        sim, rep = simulate(d, settle_s=3.0)
        where = f"seed {seed}: n={d['n']} params={d['protocol']['params']} faults={d['faults']} " \
                f"network={d['network']} adversary={d.get('adversary')} storage={d['storage']}"
        atom = rep["oracles"]["atomicity"]
        assert atom["safe"], (where, atom)
        assert atom["blocked_at_end"] == 0 and atom["undecided"] == 0, (where, atom)
        assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == REQUESTS, where
        counters = [getattr(node, "counters", {}) for node in sim.nodes.values()]
        assert not any(c.get("drop.exception") or c.get("drop.contradicting_decision") or
                       c.get("drop.conflicting_2a") or c.get("drop.commit_without_prepare") for c in counters), where
        takeovers += any(c.get("coord.takeovers") for c in counters)
        ballots += sum(c.get("coord.ballots", 0) for c in counters)
        lost += rep["metrics"]["storage"]["lost_records"]
        aborted += atom["aborted"]
        rm_restarts += sum(1 for f in d["faults"] if f["node"] < d["protocol"]["params"]["shards"])
        duplicated += "adversary" in d
        thrifty += d["protocol"]["params"]["thrifty"]
        bundled += d["protocol"]["params"]["bundle_2b"]
        bundle_timeouts += sum(c.get("acc.bundle_timeouts", 0) for c in counters)
    # The schedules do exercise the protocol: takeovers, higher ballots, aborts, lost writes, restarted RMs.
    assert takeovers >= 15 and ballots >= 80 and aborted >= 100 and lost > 0 and rm_restarts >= 20, \
        (takeovers, ballots, aborted, lost, rm_restarts)
    assert duplicated >= 20 and thrifty >= 10
    assert bundled >= 20 and bundle_timeouts > 0, (bundled, bundle_timeouts)  # and some bundles fell back


def base(**extra: object) -> dict:
    return {"name": "paxoscommit-majority", "seed": 5, "n": 6,
            "protocol": {"name": PROTO, "params": {"shards": 3, "shards_per_txn": 2, "acceptor_faults": 1}},
            "network": {"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0},
            "workload": {"clients": 2, "mode": "open", "rate_rps": 20, "requests": 40, "keys": 32},
            "trace": {"keep": True}, "stop": {"time_limit_s": 30.0}, **extra}


def test_with_a_majority_of_acceptors_down_nothing_is_decided_until_one_returns():
    down, back = 0.5, 1.5
    sim, rep = simulate(base(allow_exceeding_f=True, faults=[{"node": 4, "crash_at_s": down, "recover_at_s": back},
                                                             {"node": 5, "crash_at_s": down, "recover_at_s": back}]),
                        settle_s=2.0)
    # Votes no decide abort on their own; a commit, or any decision by an acceptor, needs F+1 = 2 acceptors.
    stuck = [e for t, e in sim.history if type(e) is Decided and down * NS + 10**7 < t < back * NS
             and (e.commit or e.node >= 3)]
    resumed = [t for t, e in sim.history if type(e) is Decided and e.commit and t >= back * NS]
    assert stuck == [] and resumed
    assert {e.node for _, e in sim.history if type(e) is Recovered} == {4, 5}
    atom = rep["oracles"]["atomicity"]
    assert atom["safe"] and atom["blocked_at_end"] == 0 and rep["liveness"]["ok"]
    assert atom["uncertain_s"]["max"] > (back - down) / 2  # RMs that voted yes waited, blocked, for the acceptors


def test_a_partition_that_leaves_no_acceptor_majority_blocks_then_heals():
    cut, heal = 0.5, 1.2
    sim, rep = simulate(base(network={"latency_model": "uniform", "latency_ms": 2.0, "jitter_ms": 1.0,
                                      "partitions": [{"start_s": cut, "end_s": heal, "groups": [[4], [5]]}]}),
                        settle_s=2.0)
    during = [e for t, e in sim.history if type(e) is Decided and cut * NS + 10**7 < t < heal * NS
              and (e.commit or e.node >= 3)]
    assert during == []
    atom = rep["oracles"]["atomicity"]
    assert atom["safe"] and atom["blocked_at_end"] == 0 and rep["liveness"]["ok"] and atom["committed"] > 0
