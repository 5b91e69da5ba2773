"""The leader-election measurement behind experiments/raft-election.yaml (Raft paper §9.3, Figure 16).

Real runs of the experiment's own specs through the simulator: a 150-300 ms
election timeout replaces a crashed leader within a sane band, and with no
randomness split votes make elections far slower. Plus the pieces: the timeout
range parameter, the oracle's pairing of crashes with elections, and the CDF hook.
"""

from __future__ import annotations

import functools
import random
import statistics
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bftlab.errors import ConfigError
from bftlab.experiments.sweep import load_sweep
from bftlab.pipeline import run
from bftlab.protocols.raft import RaftParams
from bftlab.protocols.raft.core import RaftCore
from bftlab.protocols.raft.election import downtimes
from bftlab.protocols.raft.figures import election_cdf, election_times, timeout_range

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "raft-election.yaml"
LIMIT_S = 5.6  # shorter than the experiment's 20.6 s: enough to tell a stuck election from a quick one


@functools.cache
def _trials(low: float, high: float, runs: int) -> tuple[list[float], int, list[dict[str, Any]]]:
    """The first ``runs`` runs of the experiment with timeouts [low, high) (crash offsets vary, then seeds)."""
    chosen = [r for r in load_sweep(EXPERIMENT).runs
              if r.spec["protocol"]["params"]["election_timeout_s"] == low
              and r.spec["protocol"]["params"]["election_timeout_max_s"] == high][:runs]
    assert len(chosen) == runs
    reports = [run(r.spec, overrides=[f"stop.time_limit_s={LIMIT_S}"]).data for r in chosen]
    times = [t for rep in reports for t in rep["oracles"]["raft-elections"]["downtime_s"]]
    unfinished = sum(rep["oracles"]["raft-elections"]["unfinished"] for rep in reports)
    assert sum(rep["oracles"]["raft-elections"]["trials"] for rep in reports) == runs  # replica 0 led each time
    return times, unfinished, reports


def test_timeout_range_parameter() -> None:
    with pytest.raises(ConfigError, match="election_timeout_max_s"):
        RaftParams(election_timeout_s=0.15, election_timeout_max_s=0.1)
    for high, lo, hi in ((0.0, 0.15, 0.3), (0.155, 0.15, 0.155), (0.15, 0.15, 0.15)):
        core = SimpleNamespace(params=RaftParams(election_timeout_s=0.15, election_timeout_max_s=high),
                               rng=random.Random(7))
        draws = [RaftCore._election_delay(core) for _ in range(500)]  # type: ignore[arg-type]
        assert lo <= min(draws) and max(draws) <= hi
        assert max(draws) - min(draws) >= 0.9 * (hi - lo)  # the whole range is used


def test_oracle_pairs_leader_crashes_with_the_next_election() -> None:
    elected = [(0.1, 0, 1), (0.9, 2, 3), (2.5, 1, 4)]
    # replica 0 led when it crashed at 0.5 (next higher-term leader at 0.9); replica 3 never led; replica 2 led
    # at 2.0 but was crashed for good, and replica 1 leads from 2.5 on; a crash at 3.0 of replica 1 never ends.
    crashes = ((0, 0.5, None), (3, 0.6, None), (2, 2.0, None), (1, 3.0, None))
    times, unfinished, not_leader = downtimes(elected, crashes)
    assert times == pytest.approx([0.4, 0.5]) and unfinished == 1 and not_leader == 1


def test_randomized_timeouts_elect_quickly_and_none_split_for_long() -> None:
    times, unfinished, reports = _trials(0.15, 0.0, 6)
    assert unfinished == 0
    # Detection takes at least T minus the time since the last heartbeat (< T/2 + one delay), plus a vote round.
    assert min(times) > 0.06
    assert 0.12 < statistics.mean(times) < 0.35 and max(times) < 0.6
    fig_ax = _axes()
    election_cdf(fig_ax, SimpleNamespace(reports=reports), None)
    assert election_times(reports)[(150.0, 300.0)] == (sorted(t * 1000 for t in times), 0, 0)
    (line,) = fig_ax.get_lines()
    assert line.get_ydata()[-1] == pytest.approx(1.0) and line.get_label() == "150-300 ms"


def test_no_randomness_splits_votes_and_some_elections_take_far_longer() -> None:
    quick, _, _ = _trials(0.15, 0.0, 6)
    times, unfinished, reports = _trials(0.15, 0.15, 6)
    # Every follower times out at the same 150 ms after its last heartbeat: candidates split the vote again
    # and again, so some trials last seconds (or past the run's end) where 150-300 ms never took 0.6 s.
    slow = unfinished + sum(t > 1.0 for t in times)
    assert slow >= 2
    censored = sorted(times + [LIMIT_S] * unfinished)
    assert statistics.median(censored) > 2 * statistics.median(quick)
    assert timeout_range(reports[0]["spec"]["protocol"]["params"]) == (150.0, 150.0)


def _axes() -> Any:
    from matplotlib.figure import Figure

    return Figure().add_subplot()
