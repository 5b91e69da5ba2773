"""Built-in network strategies on the toy protocol: each does what it says, deterministically."""

from __future__ import annotations

import pytest

from bftlab import pipeline
from bftlab.specs.spec import spec_from_dict

TOY = "tests.engine.toyproto:TOY"


def run(adv, seed=3, **over):
    d = {"name": "net", "protocol": {"name": TOY, "params": {"retry_s": 0.25}}, "n": 4, "seed": seed,
         "workload": {"clients": 3, "requests": 60}, "stop": {"time_limit_s": 30}, "adversary": adv,
         "network": {"latency_model": "uniform", "latency_ms": 10, "jitter_ms": 2}}
    d.update(over)
    return pipeline.execute(spec_from_dict(d))


ALL = [
    {"strategy": "random-delay", "params": {"delay_max_s": 0.05, "drop": 0.02}},
    {"strategy": "targeted-delay", "params": {"node": 0, "direction": "from", "delay_s": 0.2}},
    {"strategy": "partition", "params": {"partitions": [{"start_s": 0.1, "end_s": 0.6, "groups": [[0, 1]]}]}},
    {"strategy": "random-partition", "params": {"end_s": 2.0}},
    {"strategy": "rotating-partition", "params": {"period_s": 0.3, "end_s": 1.5}},
    {"strategy": "gst", "params": {"gst_s": 1.0, "max_delay_s": 0.5}},
    {"strategy": "reorder", "params": {"fraction": 0.5}},
    {"strategy": "replay", "params": {"fraction": 0.3, "max_age_s": 0.5}},
]


DROPPING = {"random-delay", "partition", "random-partition", "rotating-partition"}


@pytest.mark.parametrize("adv", ALL, ids=lambda a: a["strategy"])
def test_each_strategy_acts_heals_and_replays_identically(adv):
    a, b, c = run(adv), run(adv), run(adv, seed=4)
    assert a["trace_digest"] == b["trace_digest"] != c["trace_digest"]
    assert a["safety"]["ok"]
    if adv["strategy"] not in DROPPING:  # the toy leader ignores retransmissions, so lost Orders stall it
        assert a["liveness"]["ok"]
    acted = a["adversary"]["network"]
    assert acted["dropped"] + acted["delayed"] + acted["copies"] > 0


def test_hold_mode_delivers_at_the_heal_and_drop_mode_loses():
    part = [{"start_s": 0.0, "end_s": 1.0, "groups": [[0]]}]
    held = run({"strategy": "partition", "params": {"mode": "hold", "partitions": part}})
    lost = run({"strategy": "partition", "params": {"mode": "drop", "partitions": part}})
    assert held["metrics"]["latency_s"]["max"] >= 0.99 and "adversary" not in held["metrics"]["dropped"]
    assert lost["metrics"]["dropped"]["adversary"] > 0


def test_targeted_delay_hits_only_its_message_type():
    rep = run({"strategy": "targeted-delay", "params": {"msg_types": ["Rep"], "delay_s": 0.5}})
    assert rep["metrics"]["latency_s"]["p50"] >= 0.5
    assert rep["adversary"]["network"]["delayed"] == rep["metrics"]["messages"]["by_type"]["Rep"]


def test_gst_bounds_delays_after_stabilisation():
    rep = run({"strategy": "gst", "params": {"gst_s": 0.5, "max_delay_s": 5.0, "bound_s": 0.001}},
              workload={"clients": 3, "requests": 300})
    # before GST messages may take seconds, but all arrive by GST + bound; afterwards ~3 hops of 10 ms
    assert rep["metrics"]["latency_s"]["max"] < 0.5 + 0.2
    assert rep["metrics"]["latency_s"]["p50"] < 0.05


def test_replay_duplicates_are_counted_and_harmless():
    rep = run({"strategy": "replay", "params": {"fraction": 1.0, "copies": 2}})
    assert rep["adversary"]["network"]["copies"] == 2 * rep["metrics"]["messages"]["total"]  # every message
    assert rep["safety"]["ok"]


def test_each_adversary_has_its_own_stream():
    """seeds.rng(seed, "adversary/<name>"): adding a strategy does not shift another's stream."""
    from bftlab.attack.wiring import Attack
    from bftlab.core import seeds

    def first_draw(adv):
        spec = spec_from_dict({"name": "s", "protocol": {"name": TOY}, "seed": 9, "adversary": adv})
        return Attack(spec).network[0].rng.random()

    alone = first_draw([{"strategy": "random-delay"}])
    assert alone == seeds.rng(9, "adversary/random-delay").random()
    assert first_draw([{"strategy": "reorder"}, {"strategy": "random-delay"}]) != alone  # network[0] is reorder
    assert first_draw([{"strategy": "random-delay"}, {"strategy": "reorder"}]) == alone
