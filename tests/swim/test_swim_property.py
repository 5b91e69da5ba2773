"""Property: over many seeds with message loss, crashes (some for good, some restarting) and partitions, SWIM's
guarantees hold once the faults are over and the group has had time:

* strong completeness: every member that crashed for good is Dead at every member up at the end;
* with the suspicion mechanism (and the periodic view sync that reconnects healed partitions), no member that
  is up at the end is Dead or unknown at another, and every restarted member has rejoined.

SWIM guarantees no more than this: in between, live members may be suspected (and, when a partition outlasts
the suspicion timeout, removed), and crashed members may be alive in some views for a while.
"""

from __future__ import annotations

import random

import pytest

from bftlab.protocols.swim.view import DEAD
from tests.swim.helpers import Run, swim_spec

SEEDS = range(1, 51)


def scenario(seed: int) -> tuple[dict, list[int]]:
    """A random run: its spec arguments and the members that crash for good."""
    rng = random.Random(seed)
    n = rng.randint(6, 16)
    members = list(range(n))
    victims = rng.sample(members, rng.randint(1, max(1, n // 4)))
    faults, permanent, last = [], [], 0.0
    for v in victims:
        crash = round(rng.uniform(2.0, 25.0), 3)
        if rng.random() < 0.5:
            faults.append({"node": v, "crash_at_s": crash})
            permanent.append(v)
            last = max(last, crash)
        else:
            back = round(crash + rng.uniform(3.0, 20.0), 3)
            faults.append({"node": v, "crash_at_s": crash, "recover_at_s": back})
            last = max(last, back)
    partitions = []
    if rng.random() < 0.6:
        start = round(rng.uniform(2.0, 25.0), 3)
        end = round(start + rng.uniform(2.0, 25.0), 3)
        side = rng.sample(members, rng.randint(1, n - 1))
        partitions.append({"start_s": start, "end_s": end, "groups": [side]})
        last = max(last, end)
    args = {"n": n, "seed": seed, "loss": round(rng.uniform(0.0, 0.1), 3), "faults": faults,
            "partitions": partitions, "k": rng.randint(1, 4), "time_limit_s": last + 90.0}
    return args, permanent


@pytest.mark.parametrize("seed", SEEDS)
def test_crashed_members_end_dead_everywhere_and_live_ones_alive(seed):
    args, permanent = scenario(seed)
    r = Run(swim_spec(**args))
    n = args["n"]
    up = [m for m in range(n) if m not in permanent]
    for c in permanent:
        for m in up:
            rec = r.sim.nodes[m].view.get(c)
            assert rec is not None and rec[0] >= DEAD, (seed, m, c, rec)
    for a in up:
        assert r.sim.nodes[a].joined, (seed, a)
        for b in up:
            if a != b:
                rec = r.sim.nodes[a].view.get(b)
                assert rec is not None and rec[0] < DEAD, (seed, a, b, rec)
    assert r.swim["undetected_at_end"] == [] and r.swim["false_positives"]["live_held_dead_at_end"] == []
    assert r.membership["live"] is True, r.report["liveness"]


def test_the_scenarios_exercise_every_fault_kind():
    kinds = {"permanent": 0, "restart": 0, "partition": 0, "loss": 0}
    for seed in SEEDS:
        args, permanent = scenario(seed)
        kinds["permanent"] += bool(permanent)
        kinds["restart"] += any("recover_at_s" in f for f in args["faults"])
        kinds["partition"] += bool(args["partitions"])
        kinds["loss"] += args["loss"] > 0.02
    assert all(v >= 10 for v in kinds.values()), kinds
