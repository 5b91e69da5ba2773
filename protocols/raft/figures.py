"""Figure 16 of the Raft paper redrawn from runs: the CDF of the time without a leader (experiments/raft-election.yaml).

A hook is ``hook(ax, data, recipe)``; see :mod:`bftlab.plots` for the arguments.
The recipe's own line (mean time per timeout range) is replaced by one
empirical CDF per election-timeout range, pooling every trial of every run
(the ``raft-elections`` oracle's ``downtime_s``, :mod:`.election`). Trials with
no new leader before the run's time limit count in the total but never reach
the curve, so such a curve stays below 1, as a censored measurement should.
Crashes of a replica that had already lost the lead (short timeouts cause
unnecessary elections before the crash) are no trials; the legend counts them.
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


def election_times(reports: Iterable[Mapping[str, Any]]
                   ) -> dict[tuple[float, float], tuple[list[float], int, int]]:
    """Timeout range (ms) -> (sorted times without a leader in ms, trials that elected no leader in time,
    crashes that hit a replica no longer leading, e.g. after an unnecessary election)."""
    times: dict[tuple[float, float], list[float]] = {}
    counts: dict[tuple[float, float], tuple[int, int]] = {}
    for rep in reports:
        data = rep["oracles"][KEY]
        key = timeout_range(rep["spec"]["protocol"]["params"])
        times.setdefault(key, []).extend(t * 1000 for t in data["downtime_s"])
        unfinished, not_leader = counts.get(key, (0, 0))
        counts[key] = (unfinished + int(data["unfinished"]), not_leader + int(data["not_leader"]))
    return {k: (sorted(times[k]), *counts[k]) for k in sorted(times)}


def election_cdf(ax: Any, data: Any, recipe: Any) -> None:
    """One step CDF per timeout range on a log time axis, instead of the recipe's mean line."""
    groups = election_times(data.reports)
    if not groups:
        raise ValueError("no runs to draw")
    ax.cla()
    for (low, high), (times, unfinished, not_leader) in groups.items():
        total = len(times) + unfinished
        notes = [f"{unfinished} of {total} unfinished"] if unfinished else []
        if not_leader:
            notes.append(f"{not_leader} crashes hit a former leader")
        label = f"{low:g}-{high:g} ms" + (f" ({'; '.join(notes)})" if notes else "")
        if not total:  # every crash hit a replica that had lost the lead before it: nothing to draw
            ax.plot([], [], label=label)
            continue
        xs = [times[0]] + times if times else []
        ys = [0.0] + [(i + 1) / total for i in range(len(times))] if times else []
        ax.step(xs, ys, where="post", label=label)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
