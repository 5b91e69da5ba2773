"""The spec's adversary section on the real transport: partitions, drops, delays, copies, Byzantine replicas.

Outcomes are judged, not traces: real runs are not reproducible.
"""

from __future__ import annotations

from bftlab.sim import runner
from bftlab.transport.adversary import network_router
from tests.transport import helpers

PBFT = {"view_change_timeout_s": 0.5, "client_retry_timeout_s": 0.5}


def _ok(rep) -> None:
    m = rep["metrics"]
    assert rep["safety"]["ok"], rep["safety"]["violations"][:3]
    assert rep["liveness"]["ok"], rep["liveness"]["pending"][:5]
    assert m["committed"] == m["issued"] > 0
    assert helpers.wait_gone([p["pid"] for p in rep["run"]["processes"]], 5) == []


def test_the_router_composes_strategies_on_the_runtime_clock():
    s = helpers.spec("pbft", adversary=[
        {"strategy": "partition", "params": {"partitions": [{"start_s": 1.0, "end_s": 2.0, "groups": [[0]]}]}},
        {"strategy": "replay", "params": {"fraction": 1.0, "min_age_s": 0.5, "max_age_s": 0.5}},
    ])
    counts: dict[str, int] = {}
    route = network_router(s, "1", counts)
    assert route is not None and network_router(helpers.spec("pbft"), "1", {}) is None
    assert route(1, 0, None, 10, 0.5) == [0.0, 0.5]  # before the partition: the message and its replay
    assert route(1, 0, None, 10, 1.5) == []  # across the cut
    assert route(1, 2, None, 10, 1.5) == [0.0, 0.5]  # same side
    assert counts == {"dropped": 1, "delayed": 2, "copies": 2}


def test_a_partition_isolating_the_primary_forces_a_view_change_and_heals():
    s = helpers.spec("pbft", clients=4, params=PBFT, workload={"clients": 4, "requests": 0, "duration_s": 3.5},
                     adversary={"strategy": "partition",
                                "params": {"partitions": [{"start_s": 1.0, "end_s": 2.0, "groups": [[0]]}]}})
    rep = runner.run(s)
    _ok(rep)
    assert rep["metrics"]["view_changes"] >= 1
    assert rep["metrics"]["dropped"]["drop.adversary"] > 0
    assert rep["adversary"]["network"]["dropped"] == rep["metrics"]["dropped"]["drop.adversary"]
    prog = rep["run"]["replica_progress"]
    assert all(p["view"] >= 1 for p in prog.values()), prog  # the old primary rejoined in the new view


def test_dropping_everything_to_a_backup_is_counted_and_tolerated():
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 100},
                     adversary={"strategy": "targeted-delay", "params": {"node": 3, "direction": "to", "drop": True}})
    rep = runner.run(s)
    _ok(rep)
    assert rep["metrics"]["dropped"]["drop.adversary"] >= 100  # at least every request's pre-prepare slot
    assert rep["run"]["replica_progress"]["replica-3.0"]["max_seq"] is None  # it never heard of any request


def test_delays_and_copies_are_applied_without_blocking_the_replicas():
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 40}, adversary=[
        {"strategy": "targeted-delay", "params": {"msg_types": ["Reply"], "delay_s": 0.2}},
        {"strategy": "replay", "params": {"fraction": 0.5, "max_age_s": 0.3}},
    ])
    rep = runner.run(s)
    _ok(rep)
    assert rep["metrics"]["latency_s"]["p50"] >= 0.2
    net = rep["adversary"]["network"]
    assert net["delayed"] >= rep["metrics"]["messages"]["by_type"]["Reply"] and net["copies"] > 0


def test_a_byzantine_primary_runs_wrapped_by_its_strategy():
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 40},
                     adversary={"strategy": "silent", "byzantine": [0]})
    rep = runner.run(s)
    _ok(rep)
    assert rep["adversary"]["byzantine"] == [0]
    assert rep["metrics"]["view_changes"] >= 1  # a mute primary must be voted out
    assert rep["metrics"]["messages"]["by_type"].get("PrePrepare", 0) > 0  # by the new primary
