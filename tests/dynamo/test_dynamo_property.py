"""Convergence under 50 random schedules of message loss, partitions and crash/restart churn (vector clocks
and LWW, both routings, R and W in {1, 2}): once the network heals and writes stop, every key's replicas hold
the same value or sibling set. The same schedules with repair switched off (the planted bug) diverge."""

from __future__ import annotations

import pytest

from .helpers import simulate, spec
from .schedules import schedule

SEEDS = range(50)


def run(seed: int, **extra: object) -> dict:
    over = schedule(seed, 5, 3)
    over["params"] = {**over["params"], **extra}
    return simulate(spec(seed=seed, **over))


@pytest.fixture(scope="module")
def reports() -> dict[int, dict]:
    return {seed: run(seed) for seed in SEEDS}


def test_replicas_converge_on_every_schedule(reports):
    bad = {s: r["oracles"]["convergence"] for s, r in reports.items() if not r["oracles"]["convergence"]["live"]}
    assert not bad
    assert all(r["liveness"]["ok"] for r in reports.values())


def test_the_schedules_hit_the_store(reports):
    """Not vacuous: the faults forced hinted writes, handoffs, repairs, and some reads were stale."""
    def total(name: str) -> int:
        return sum(r["metrics"]["dynamo"]["counters"].get(name, 0) for r in reports.values())

    assert total("sloppy.hinted_write") >= 50 and total("handoff.applied") >= 10
    assert total("read_repair.applied") + total("anti_entropy.repaired") >= 50
    assert sum(r["oracles"]["staleness"]["stale_reads"] for r in reports.values()) >= 5
    assert sum(1 for r in reports.values() if r["spec"]["network"]["loss"] > 0) >= 20
    assert all(r["oracles"]["convergence"]["keys"] >= 4 for r in reports.values())


def test_the_planted_bug_without_repair_diverges_and_the_oracle_catches_it():
    diverged = [s for s in range(8) if not run(s, skip_repair=True)["oracles"]["convergence"]["live"]]
    assert len(diverged) >= 5, diverged
