"""SWIM's measured detection times, false positives and message load against the closed forms of
Das, Gupta & Motivala (sections 3.1 and 5): measured means within a few standard errors."""

from __future__ import annotations

import math
from statistics import mean, stdev

import pytest

from bftlab.protocols.swim import theory
from tests.swim.helpers import Run, swim_spec

Z = 3.5  # standard errors allowed: each check fails by chance about once in 2000 runs of the suite


def test_closed_forms():
    assert theory.first_detection_periods(1.0) == pytest.approx(math.e / (math.e - 1))
    assert theory.first_detection_periods_exact(10_000, 10_000) == pytest.approx(theory.first_detection_periods(1.0),
                                                                                  rel=1e-4)
    assert theory.first_detection_periods(0.5) > theory.first_detection_periods(1.0)  # fewer live pingers: slower
    assert theory.false_positive_probability(0.1, 0) == pytest.approx(1 - 0.9**2)
    assert theory.false_positive_probability(0.1, 3) == pytest.approx((1 - 0.81) * (1 - 0.9**4) ** 3)
    assert theory.false_positive_probability(0.0, 3) == 0.0
    assert theory.message_load(0.0, 3) == 2.0  # a ping and an ack per member and period, whatever k


def _detections(selection: str, seeds: range) -> tuple[list[float], list[float]]:
    got, expected = [], []
    for seed in seeds:
        # four crashes per run, 25 periods apart (more than the 5-period suspicion timeout and its spread), each
        # 0.3 periods after a boundary so the probe already under way has been answered
        faults = [{"node": (7 * seed + 5 * j) % 24, "crash_at_s": 10.3 + 25 * j} for j in range(4)]
        r = Run(swim_spec(n=24, seed=seed, faults=faults, phase="aligned", target_selection=selection,
                          suspicion_periods=5, time_limit_s=110.0))
        for d in r.swim["detections"]:
            got.append(d["detection_periods"])
            expected.append(d["expected_periods"])
    return got, expected


def test_time_to_first_detection_matches_section_3_1():
    got, expected = _detections("random", range(1, 26))
    assert len(got) == 100 and all(x == pytest.approx(round(x), abs=0.01) and x >= 1 for x in got)  # whole periods
    se = stdev(got) / math.sqrt(len(got))
    assert abs(mean(got) - mean(expected)) < Z * se, (mean(got), se, mean(expected))
    assert abs(mean(expected) - theory.first_detection_periods(1.0)) < 0.05  # n = 24 is close to the limit e/(e-1)


def test_round_robin_detects_no_slower_on_average():
    got, expected = _detections("round-robin", range(101, 126))
    se = stdev(got) / math.sqrt(len(got))
    assert mean(got) < mean(expected) + Z * se, (mean(got), se, mean(expected))
    assert max(got) <= 2 * 23  # section 4.3: bounded by two traversals of the list


@pytest.mark.parametrize(("loss", "k"), [(0.3, 0), (0.2, 1), (0.2, 2)])
def test_false_positive_probability_of_the_basic_protocol(loss, k):
    failed = probes = 0
    for seed in range(1, 9):
        r = Run(swim_spec(n=16, seed=seed, loss=loss, k=k, suspicion=False, time_limit_s=60.0))
        fp = r.swim["false_positives"]
        failed += fp["failed_live_probes"]
        probes += fp["live_probes"]
    p = failed / probes
    want = theory.false_positive_probability(loss, k)
    se = math.sqrt(want * (1 - want) / probes)
    assert abs(p - want) < Z * se, (p, se, want)


def test_message_load_per_member_is_constant_and_matches_the_closed_form():
    for n in (8, 32):
        loads = [Run(swim_spec(n=n, seed=seed, loss=0.1, k=2, time_limit_s=60.0)).swim["load"]["per_member_period"]
                 for seed in (1, 2)]
        assert mean(loads) == pytest.approx(theory.message_load(0.1, 2, sync_periods=20), rel=0.04), (n, loads)
