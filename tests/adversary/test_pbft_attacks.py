"""The built-in Byzantine strategies against PBFT.

Within the budget (at most f Byzantine replicas) every strategy, under every
network adversary, must leave safety intact, and every request must complete
once the network has stabilised. CI runs a sample; the full sweep (50 seeds per
strategy and network adversary) is::

    .venv/bin/python -m pytest tests/adversary -m slow

Beyond the budget (f+1 with allow_exceeding_f) equivocation and Twins must
break agreement, and the checker must say so.
"""

from __future__ import annotations

import pytest

from bftlab import pipeline
from bftlab.specs.spec import spec_from_dict

PRIMARY = ["equivocating-primary", "censoring-primary", "slow-primary"]
ANY = ["silent", "crash-recover", "twins", "conflicting-votes", "forged-auth", "stale-replay", "needless-view-change"]
NETWORK = {
    "none": [],
    "random-delay": [{"strategy": "random-delay", "params": {"delay_max_s": 0.03, "drop": 0.02, "end_s": 1.5}}],
    "gst": [{"strategy": "gst", "params": {"gst_s": 1.0, "max_delay_s": 0.4}}],
    "partition": [{"strategy": "rotating-partition", "params": {"period_s": 0.4, "end_s": 1.6, "mode": "hold"}}],
    "replay": [{"strategy": "replay", "params": {"fraction": 0.2, "max_age_s": 1.0}},
               {"strategy": "reorder", "params": {"fraction": 0.2, "end_s": 2.0}}],
}


def pbft_spec(strategy: str, seed: int, network: str, requests: int = 40, **over):
    byz = [0] if strategy in PRIMARY else [seed % 4]
    params = {"end_s": 2.0} if strategy not in ("crash-recover", "twins") else {}
    if strategy == "crash-recover":
        params = {"windows": [[0.3, 1.2]]}
    d = {"name": f"pbft-{strategy}", "protocol": {"name": "pbft"}, "n": 4, "seed": seed,
         "network": {"latency_model": "uniform", "latency_ms": 10, "jitter_ms": 3},
         "workload": {"clients": 3, "requests": requests}, "stop": {"time_limit_s": 30},
         "adversary": [*NETWORK[network], {"strategy": strategy, "byzantine": byz, "params": params}]}
    d.update(over)
    return spec_from_dict(d)


def check_within_budget(strategy: str, seed: int, network: str) -> dict:
    rep = pipeline.execute(pbft_spec(strategy, seed, network))
    assert rep["safety"]["ok"], (strategy, seed, network, rep["safety"]["violations"][:2])
    assert rep["liveness"]["ok"], (strategy, seed, network, rep["liveness"]["pending_count"])
    return rep


@pytest.mark.parametrize("strategy", PRIMARY + ANY)
def test_within_budget_sample(strategy):
    for seed, network in ((1, "none"), (2, "gst"), (3, "replay")):
        check_within_budget(strategy, seed, network)


@pytest.mark.slow
@pytest.mark.parametrize("network", sorted(NETWORK))
@pytest.mark.parametrize("strategy", PRIMARY + ANY)
def test_within_budget_full_sweep(strategy, network):
    for seed in range(1, 51):
        check_within_budget(strategy, seed, network)


def test_forged_authenticators_are_rejected_and_counted():
    rep = check_within_budget("forged-auth", 1, "none")
    dropped = rep["metrics"]["dropped"]
    assert dropped.get("drop.bad_auth", 0) > 0 and dropped.get("drop.bad_sender", 0) > 0


def test_equivocation_is_seen_and_contained():
    rep = check_within_budget("equivocating-primary", 1, "none")
    assert rep["metrics"]["committed"] == 40


@pytest.mark.parametrize("adv", [
    {"strategy": "equivocating-primary", "byzantine": [0, 1]},
    {"strategy": "twins", "byzantine": [0, 1], "params": {"side_a": [2, 4], "side_b": [3, 5]}},
], ids=["equivocation", "twins"])
def test_f_plus_one_byzantine_break_agreement(adv):
    spec = spec_from_dict({"name": "f1", "protocol": {"name": "pbft"}, "n": 4, "seed": 3, "allow_exceeding_f": True,
                           "workload": {"clients": 2, "requests": 20}, "stop": {"time_limit_s": 10},
                           "adversary": adv})
    rep = pipeline.execute(spec)
    assert not rep["safety"]["ok"]
    assert "agreement" in {v["kind"] for v in rep["safety"]["violations"]}
    assert {2, 3} <= set(rep["safety"]["violations"][0]["replicas"])  # the two correct replicas disagree


def test_slow_primary_cuts_throughput():
    """Aardvark's attack: each PRE-PREPARE held 0.45 s (90% of the 0.5 s view-change timeout)."""
    base = {"name": "slow", "protocol": {"name": "pbft"}, "n": 4, "seed": 1,
            "workload": {"clients": 4, "requests": 200}, "stop": {"time_limit_s": 60}}
    honest = pipeline.execute(spec_from_dict(base))
    slow = pipeline.execute(spec_from_dict({**base, "adversary": {"strategy": "slow-primary", "byzantine": [0]}}))
    assert slow["safety"]["ok"] and slow["liveness"]["ok"] and slow["metrics"]["view_changes"] == 0
    factor = honest["metrics"]["throughput_rps"] / slow["metrics"]["throughput_rps"]
    assert factor > 5, factor
