"""Figure 16 of the Raft paper redrawn from runs: the CDF of the time without a leader (experiments/raft-election.yaml).

A hook is ``hook(ax, data, recipe)``; see :mod:`bftlab.plots` for the arguments.
The recipe's own line (mean time per timeout range) is replaced by one
empirical CDF per election-timeout range, pooling every trial of every run
(the ``raft-elections`` oracle's ``downtime_s``, :mod:`.election`). Trials with
no new leader before the run's time limit count in the total but never reach
the curve, so such a curve stays below 1, as a censored measurement should.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["election_cdf", "election_times", "timeout_range"]

KEY = "raft-elections"


def timeout_range(params: Mapping[str, Any]) -> tuple[float, float]:
    """(min, max) election timeout in ms of a run's Raft params (max 0 means twice the min)."""
    low = float(params.get("election_timeout_s", 0.15))
    high = float(params.get("election_timeout_max_s", 0.0)) or 2 * low
    return round(low * 1000, 6), round(high * 1000, 6)


def election_times(reports: Iterable[Mapping[str, Any]]) -> dict[tuple[float, float], tuple[list[float], int]]:
    """Timeout range (ms) -> (sorted times without a leader in ms, trials that elected no leader in time)."""
    times: dict[tuple[float, float], list[float]] = {}
    unfinished: dict[tuple[float, float], int] = {}
    for rep in reports:
        data = rep["oracles"][KEY]
        key = timeout_range(rep["spec"]["protocol"]["params"])
        times.setdefault(key, []).extend(t * 1000 for t in data["downtime_s"])
        unfinished[key] = unfinished.get(key, 0) + int(data["unfinished"])
    return {k: (sorted(times[k]), unfinished[k]) for k in sorted(times)}


def election_cdf(ax: Any, data: Any, recipe: Any) -> None:
    """One step CDF per timeout range on a log time axis, instead of the recipe's mean line."""
    groups = election_times(data.reports)
    if not groups:
        raise ValueError("no runs to draw")
    ax.cla()
    for (low, high), (times, unfinished) in groups.items():
        total = len(times) + unfinished
        if not total:  # every crash hit a replica that had lost the lead before it: nothing to draw
            ax.plot([], [], label=f"{low:g}-{high:g} ms (no leader crashed)")
            continue
        xs = [times[0]] + times if times else []
        ys = [0.0] + [(i + 1) / total for i in range(len(times))] if times else []
        label = f"{low:g}-{high:g} ms" + (f" ({unfinished} of {total} unfinished)" if unfinished else "")
        ax.step(xs, ys, where="post", label=label)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
