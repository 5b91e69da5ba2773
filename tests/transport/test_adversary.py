"""The spec's adversary section on the real transport: partitions, drops, delays, copies, Byzantine replicas.

Outcomes are judged, not traces: real runs are not reproducible.
"""

from __future__ import annotations

import json

from bftlab import cli, pipeline
from bftlab.adversary import DELIVER, NetworkStrategy, NodeStrategy
from bftlab.transport.adversary import attack_for, network_router
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
    attack = attack_for(s, [1], "1")
    route = network_router(attack)
    assert route is not None and network_router(attack_for(helpers.spec("pbft"), [1], "1")) is None
    assert route(1, 0, None, 10, 0.5) == [0.0, 0.5]  # before the partition: the message and its replay
    assert route(1, 0, None, 10, 1.5) == []  # across the cut
    assert route(1, 2, None, 10, 1.5) == [0.0, 0.5]  # same side
    assert attack.counts == {"dropped": 1, "delayed": 2, "copies": 2}


def test_a_partition_isolating_the_primary_forces_a_view_change_and_heals():
    s = helpers.spec("pbft", clients=4, params=PBFT, workload={"clients": 4, "requests": 0, "duration_s": 3.5},
                     adversary={"strategy": "partition",
                                "params": {"partitions": [{"start_s": 1.0, "end_s": 2.0, "groups": [[0]]}]}})
    rep = pipeline.execute(s)
    _ok(rep)
    assert rep["metrics"]["view_changes"] >= 1
    assert rep["metrics"]["dropped"]["drop.adversary"] > 0
    assert rep["adversary"]["network"]["dropped"] == rep["metrics"]["dropped"]["drop.adversary"]
    prog = rep["run"]["replica_progress"]
    assert all(p["view"] >= 1 for p in prog.values()), prog  # the old primary rejoined in the new view


def test_dropping_everything_to_a_backup_is_counted_and_tolerated():
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 100},
                     adversary={"strategy": "targeted-delay", "params": {"node": 3, "direction": "to", "drop": True}})
    rep = pipeline.execute(s)
    _ok(rep)
    assert rep["metrics"]["dropped"]["drop.adversary"] >= 100  # at least every request's pre-prepare slot
    assert rep["run"]["replica_progress"]["replica-3.0"]["max_seq"] is None  # it never heard of any request


def test_delays_and_copies_are_applied_without_blocking_the_replicas():
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 40}, adversary=[
        {"strategy": "targeted-delay", "params": {"msg_types": ["Reply"], "delay_s": 0.2}},
        {"strategy": "replay", "params": {"fraction": 0.5, "max_age_s": 0.3}},
    ])
    rep = pipeline.execute(s)
    _ok(rep)
    assert rep["metrics"]["latency_s"]["p50"] >= 0.2
    net = rep["adversary"]["network"]
    assert net["delayed"] >= rep["metrics"]["messages"]["by_type"]["Reply"] and net["copies"] > 0


def test_a_byzantine_primary_runs_wrapped_by_its_strategy():
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 40},
                     adversary={"strategy": "silent", "byzantine": [0]})
    rep = pipeline.execute(s)
    _ok(rep)
    assert rep["adversary"]["byzantine"] == [0]
    assert rep["metrics"]["view_changes"] >= 1  # a mute primary must be voted out
    assert rep["metrics"]["messages"]["by_type"].get("PrePrepare", 0) > 0  # by the new primary


class CountSends(NetworkStrategy):
    """Changes nothing; counts every message its process puts on the network."""

    def route(self, env):
        self.ctx.count("seen")
        return DELIVER


class CountActions(NodeStrategy):
    """An honest replica, counting what it does."""

    def on_actions(self, nid, now, inp, actions):
        self.ctx.count("actions", len(actions))
        return actions


def test_strategy_counters_from_every_process_are_summed_into_the_report(tmp_path):
    """Each process sends its strategies' counters in its stats; the report sums them per strategy."""
    s = helpers.spec("pbft", params=PBFT, workload={"clients": 2, "requests": 20}, adversary=[
        {"strategy": f"{__name__}:CountSends"}, {"strategy": f"{__name__}:CountActions", "byzantine": [1]}])
    path = helpers.write_spec(s, tmp_path / "spec.yaml")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    _ok(rep)
    counters = rep["adversary"]["counters"]
    assert sorted(counters) == [f"{__name__}:CountActions", f"{__name__}:CountSends"]
    # every process routes its own sends (replicas' and clients'), so only the sum matches the whole run's
    assert counters[f"{__name__}:CountSends"] == {"seen": rep["metrics"]["messages"]["total"]}
    assert counters[f"{__name__}:CountActions"]["actions"] >= 20  # replica 1 at least replies to every request
