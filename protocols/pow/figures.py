"""Closed-form PoW curves drawn over measured ones (plot hooks named in experiments/*.yaml).

A hook is ``hook(ax, data, recipe)``; see :mod:`bftlab.plots` for the arguments.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["pow_stale_rate"]


def pow_stale_rate(ax: Any, data: Any, recipe: Any) -> None:
    """Stale-block rate ``1 - exp(-t / T)`` at each plotted x (Decker & Wattenhofer, P2P 2013).

    A block goes stale when a competing block is found while it propagates: with
    mining a Poisson process of mean interval ``T`` and a propagation time ``t``,
    that happens with probability ``1 - exp(-t / T)``. ``t`` is the runs' measured
    mean time for a block to reach half of the nodes and ``T`` their block interval,
    so the curve checks the simulator's fork model against its own propagation delays.
    """
    from bftlab.plots import lookup

    by_x: dict[float, list[dict[str, Any]]] = {}
    for rep in data.reports:
        x = round(lookup(rep, recipe.x) * recipe.x_scale, 12)
        by_x.setdefault(x, []).append(rep)
    xs, ys = [], []
    for x in sorted(by_x):
        reps = by_x[x]
        intervals = {rep["spec"]["protocol"]["params"]["block_interval_s"] for rep in reps}
        if len(intervals) != 1:
            raise ValueError(f"block_interval_s differs between the runs at x = {x} ({sorted(intervals)})")
        t50 = sum(rep["metrics"]["pow"]["propagation_s"]["to_50pct"]["mean"] for rep in reps) / len(reps)
        xs.append(x)
        ys.append(-math.expm1(-t50 / intervals.pop()) * recipe.y_scale)
    ax.plot(xs, ys, color="0.2", linestyle=":", marker="x", linewidth=1.5,
            label="theory: 1 - exp(-t50 / T), t50 measured")
