"""Closed-form curves drawn over measured ones (plot hooks).

A hook is ``hook(ax, data, recipe)``: ``data`` is :class:`bftlab.plotting.PlotData`
(the series drawn and the reports behind them), ``recipe`` the plot recipe. It
draws on the matplotlib axes and reads parameters from the runs' resolved specs,
so a theory curve always matches the runs it is compared with.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pbft_latency_floor"]

PBFT_HOPS = 5
"""One-way delays on PBFT's normal-case path: request, pre-prepare, prepare, commit, reply (Castro & Liskov, 4.2)."""


def _one(data: Any, path: tuple[str, ...], what: str) -> Any:
    values = set()
    for rep in data.reports:
        node = rep["spec"]
        for step in path:
            node = node[step]
        values.add(node)
    if len(values) != 1:
        raise ValueError(f"{what} differs between the plotted runs ({sorted(values)}); plot one value at a time")
    return values.pop()


def pbft_latency_floor(ax: Any, data: Any, recipe: Any) -> None:
    """PBFT's unloaded latency: 5 one-way network delays, no queueing or CPU time.

    A line ``y = 5 x`` when x is ``network.latency_ms``; otherwise a horizontal line
    at the (single) one-way latency of the plotted runs. Exact for constant
    delays; with uniform jitter it is 5 mean delays (quorums wait for the
    fastest replies, so measured latency can dip slightly below it).
    """
    model = _one(data, ("network", "latency_model"), "network.latency_model")
    if model not in ("constant", "uniform"):
        return  # for other models latency_ms is not the mean delay
    label = f"theory: {PBFT_HOPS} {'mean ' if model == 'uniform' else ''}one-way delays"
    if recipe.x == "network.latency_ms":
        xs = sorted({p.x for pts in data.series.values() for p in pts})
        ax.plot(xs, [PBFT_HOPS * x / 1e3 * recipe.y_scale for x in xs], color="0.2", linestyle=":",
                linewidth=1.5, label=label)
        return
    delay_s = _one(data, ("network", "latency_ms"), "network.latency_ms") / 1e3
    ax.axhline(PBFT_HOPS * delay_s * recipe.y_scale, color="0.2", linestyle=":", linewidth=1.5,
               label=f"{label} ({PBFT_HOPS * delay_s * 1e3:g} ms)")
