"""The fast path (``engine: periods``): the paper's round model against its closed forms, at sizes the
message-level simulator cannot run, and its spec checks."""

from __future__ import annotations

import math

import pytest

from bftlab.errors import ConfigError
from bftlab.protocols.swim import theory
from bftlab.protocols.swim.run import run
from bftlab.specs.spec import spec_from_dict

Z = 3.5


def _spec(n: int, seed: int = 1, loss: float = 0.0, **params) -> object:
    return spec_from_dict({"name": "swim-periods", "n": n, "seed": seed,
                           "protocol": {"name": "bftlab.protocols.swim:PROTOCOL",
                                        "params": {"engine": "periods", **params}},
                           "workload": {"clients": 1, "requests": 1}, "network": {"loss": loss}})


def _swim(n: int, **kw) -> dict:
    return run(_spec(n, **kw))["metrics"]["swim"]


@pytest.mark.parametrize(("n", "failed"), [(1000, 1), (100, 50)])
def test_first_detection_matches_the_closed_form(n, failed):
    s = _swim(n, failed=failed, trials=1500)
    d = s["detection_periods"]
    assert abs(d["mean"] - s["theory"]["detection_periods"]) < Z * d["se"], (d, s["theory"])
    if failed == 50:  # q_f = 1/2: clearly slower than e/(e-1), and the limit formula is close at n = 100
        assert s["theory"]["detection_periods_limit"] == pytest.approx(1 / (1 - math.exp(-0.5)))
        assert d["mean"] > theory.first_detection_periods(1.0) + 0.5


@pytest.mark.parametrize("n", [1000, 20000])
def test_dissemination_without_loss_takes_log3_n_plus_a_small_term(n):
    s = _swim(n, trials=60)
    assert s["informed_all"] == 1.0
    spread = s["dissemination_periods"]["mean"]
    assert theory.push_pull_periods(n) < spread < theory.push_pull_periods(n) + 2 * math.log(math.log(n)), spread


def test_loss_slows_dissemination_but_not_detection():
    clean = _swim(2000, trials=300)
    lossy = _swim(2000, trials=300, loss=0.2)
    assert lossy["dissemination_periods"]["mean"] > clean["dissemination_periods"]["mean"] + 1.0
    diff = abs(lossy["detection_periods"]["mean"] - clean["detection_periods"]["mean"])
    assert diff < Z * math.hypot(lossy["detection_periods"]["se"], clean["detection_periods"]["se"])


def test_too_few_retransmissions_leave_members_uninformed():
    s = _swim(2000, trials=40, retransmit_mult=0.1)  # each member passes the news on once
    assert s["retransmit_limit"] == 1 and s["informed_all"] < 0.5 and s["residue"]["mean"] > 0.01


def test_a_run_is_reproducible_from_its_seed():
    a, b, c = run(_spec(500, trials=30)), run(_spec(500, trials=30)), run(_spec(500, seed=2, trials=30))
    assert a["trace_digest"] == b["trace_digest"] != c["trace_digest"]


def test_spec_checks():
    with pytest.raises(ConfigError, match="at most|512"):
        spec_from_dict({"name": "x", "n": 600, "protocol": {"name": "bftlab.protocols.swim:PROTOCOL"},
                        "workload": {"clients": 1, "requests": 1}})
    assert _spec(50_000).n == 50_000  # the fast path goes far beyond the simulator's cap
    with pytest.raises(ConfigError, match="engine: periods"):
        spec_from_dict({"name": "x", "n": 10, "faults": [{"node": 1, "crash_at_s": 1.0}],
                        "protocol": {"name": "bftlab.protocols.swim:PROTOCOL", "params": {"engine": "periods"}},
                        "workload": {"clients": 1, "requests": 1}})
    with pytest.raises(ConfigError, match="simulator only"):
        spec_from_dict({"name": "x", "n": 4, "transport": {"kind": "real"},
                        "protocol": {"name": "bftlab.protocols.swim:PROTOCOL"},
                        "workload": {"clients": 1, "requests": 1}})
    with pytest.raises(ConfigError, match="joiners"):
        spec_from_dict({"name": "x", "n": 6, "protocol": {"name": "bftlab.protocols.swim:PROTOCOL",
                                                          "params": {"joiners": [9]}},
                        "workload": {"clients": 1, "requests": 1}})
