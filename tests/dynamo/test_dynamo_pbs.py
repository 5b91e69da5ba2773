"""Probabilistically bounded staleness: the simulated store against the WARS model (experiments/dynamo-pbs.yaml).

R + W > N never returns a stale read; with R + W <= N reads right after a write are stale measurably often,
less so for larger W and later reads, and the measured rates agree with the WARS Monte Carlo prediction."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from bftlab.protocols.dynamo.theory import delay_sampler, p_consistent, strict

from .helpers import simulate

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "dynamo-pbs.yaml"
QUORUMS = ((1, 1), (1, 2), (2, 2))
LAGS = (0.0, 50.0)
SEEDS = (1, 2)


def measure(r: int, w: int, t: float, seed: int) -> tuple[int, int]:
    """(first reads, consistent first reads) of one run of the experiment's base spec."""
    base = yaml.safe_load(EXPERIMENT.read_text())["base"]
    base["protocol"]["params"].update(r=r, w=w, read_delay_ms=t)
    rep = simulate({**base, "name": "pbs-test", "seed": seed})
    s = rep["oracles"]["staleness"]
    if strict(3, r, w):
        assert s["stale_reads"] == 0, (r, w, t, seed)
    return s["first_reads"], round(s["first_read_consistent_rate"] * s["first_reads"])


@pytest.fixture(scope="module")
def measured() -> dict[tuple[int, int, float], float]:
    out = {}
    for r, w in QUORUMS:
        for t in LAGS:
            runs = [measure(r, w, t, seed) for seed in SEEDS]
            total = sum(n for n, _ in runs)
            assert total >= 400
            out[(r, w, t)] = sum(c for _, c in runs) / total
    return out


def test_strict_quorums_are_never_stale(measured):
    assert measured[(2, 2, 0.0)] == measured[(2, 2, 50.0)] == 1.0


def test_partial_quorums_are_stale_right_after_a_write_and_less_so_later(measured):
    assert measured[(1, 1, 0.0)] < measured[(1, 2, 0.0)] < 1.0
    assert measured[(1, 1, 0.0)] < measured[(1, 1, 50.0)]
    assert measured[(1, 2, 0.0)] < measured[(1, 2, 50.0)]


def test_the_measurements_agree_with_the_wars_prediction(measured):
    base = yaml.safe_load(EXPERIMENT.read_text())["base"]["network"]
    delay = delay_sampler(base["latency_model"], base["latency_ms"], sigma=base["lognormal_sigma"])
    for (r, w, t), got in measured.items():
        want = p_consistent(3, r, w, t, delay, trials=40_000, seed=3)
        se = math.sqrt(max(want * (1 - want), 1e-4) / 400)
        assert abs(got - want) < 4 * se + 0.01, (r, w, t, got, want)


def test_the_model_orders_quorums_and_lags():
    delay = delay_sampler("lognormal", 2.0, sigma=1.5)
    p = {(r, w, t): p_consistent(3, r, w, t, delay, trials=20_000) for r, w in QUORUMS for t in (0.0, 10.0, 100.0)}
    for t in (0.0, 10.0, 100.0):
        assert p[(1, 1, t)] < p[(1, 2, t)] < p[(2, 2, t)] == 1.0
    assert p[(1, 1, 0.0)] < p[(1, 1, 10.0)] < p[(1, 1, 100.0)]
    assert p_consistent(3, 1, 1, 5.0, delay_sampler("constant", 2.0)) == 1.0  # equal delays: never stale
