"""Property tests: VR stays safe under random crashes, restarts, partitions, loss, duplication and reordering.

Each seed draws a schedule (tests/vr/schedules.py): n = 3 or 5, one to three
crash/restart pairs (a restarted replica has lost its memory and runs §4.3),
network adversaries (random delay with loss, reorder, replay = duplication,
random partitions) that all end by 1.5 s, some link loss, and a storage fault
model (the only record, the boot marker, is synced before a replica acts).

On every run the smr and linearizability oracles must hold. Liveness must hold
whenever the fault budget held, i.e. no more than f replicas were down or still
recovering at once (the report's ``fault_budget``, fed by the replicas'
``Recovered`` events): a diskless replica needs f+1 live peers to recover, so a
crash while another replica is still recovering may stall VR for good, safely.
"""

from __future__ import annotations

from bftlab.api import Executed, Recovered, ViewChanged
from bftlab.core.kernel import NS
from tests.vr.helpers import exceptions, make_doc, simulate
from tests.vr.schedules import random_spec

SEEDS = range(60)


def test_random_fault_schedules_never_break_safety_and_complete_when_the_budget_held():
    stalled, recovered, views, fetched, lost = [], 0, 0, 0, 0
    for seed in SEEDS:
        doc = random_spec(seed)
        sim, rep = simulate(doc)
        where = f"seed {seed}: faults {doc['faults']}, adversaries {[a['strategy'] for a in doc['adversary']]}"
        assert rep["safety"]["ok"], (where, rep["safety"]["violations"][:3])
        lin = rep["oracles"]["linearizability"]
        assert lin["safe"] and lin["verdict"] == "ok", (where, lin)
        assert exceptions(sim, doc["n"]) == 0, where
        if rep["fault_budget"]["held"]:
            assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 60, where
        else:
            stalled.append(seed)
        recovered += sum(1 for _, e in sim.history if type(e) is Recovered)
        views += sum(1 for _, e in sim.history if type(e) is ViewChanged)
        fetched += rep["metrics"]["messages"]["by_type"].get("NewState", 0)
        lost += rep["metrics"]["dropped"].get("adversary", 0)
    # The schedules exercise what they should: recoveries, view changes, state transfers and lost messages;
    # and almost every run stays within the budget (measured: 60 of 60 at the time of writing).
    assert recovered >= 40 and views >= 40 and fetched > 0 and lost > 0, (recovered, views, fetched, lost)
    assert len(stalled) <= 3, stalled


def test_with_a_majority_crashed_nothing_executes_and_nothing_is_lost():
    crash = 0.1
    doc = make_doc(requests=100, faults=[{"node": 1, "crash_at_s": crash}, {"node": 2, "crash_at_s": crash}],
                   allow_exceeding_f=True, stop={"time_limit_s": 2.0})
    sim, rep = simulate(doc)
    assert rep["safety"]["ok"] and rep["oracles"]["linearizability"]["safe"]
    late = [e for t, e in sim.history if type(e) is Executed and t > (crash + 0.01) * NS]
    assert not late and not rep["liveness"]["ok"] and rep["metrics"]["committed"] < 100


def test_a_majority_that_lost_its_memory_stays_out_instead_of_forgetting():
    """Two of three replicas crash and restart: neither can collect f+1 answers (the other is recovering too), so
    VR stops rather than let them vote with empty logs. The amnesiac variant would carry on from scratch."""
    faults = [{"node": 1, "crash_at_s": 0.1, "recover_at_s": 0.2}, {"node": 2, "crash_at_s": 0.1, "recover_at_s": 0.2}]
    doc = make_doc(requests=100, faults=faults, allow_exceeding_f=True, stop={"time_limit_s": 2.0})
    sim, rep = simulate(doc)
    assert rep["safety"]["ok"] and rep["oracles"]["linearizability"]["safe"]
    assert {sim.nodes[1].status, sim.nodes[2].status} == {"recovering"}
    assert not [e for t, e in sim.history if type(e) is Executed and t > 0.11 * NS]
    assert not rep["fault_budget"]["held"] and not rep["liveness"]["ok"]


def test_with_every_replica_cut_off_nothing_executes_and_progress_returns_when_a_majority_reconnects():
    cut = [{"start_s": 0.1, "end_s": 0.8, "groups": [[0, 3], [1], [2]]}]
    sim, rep = simulate(make_doc(requests=100, partitions=cut))
    assert rep["safety"]["ok"] and rep["liveness"]["ok"] and rep["oracles"]["linearizability"]["safe"]
    during = [e for t, e in sim.history if type(e) is Executed and 0.11 * NS < t < 0.8 * NS]
    assert not during
    after = [t for t, e in sim.history if type(e) is Executed and t >= 0.8 * NS]
    assert after and min(after) < 1.5 * NS and rep["metrics"]["committed"] == 100
