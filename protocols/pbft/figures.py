"""Closed-form PBFT curves drawn over measured ones (plot hooks named in experiments/*.yaml).

A hook is ``hook(ax, data, recipe)``: ``data`` is :class:`bftlab.plots.PlotData`
(the series drawn and the reports behind them), ``recipe`` the plot recipe. It
draws on the matplotlib axes and reads parameters from the runs' resolved specs,
so a theory curve always matches the runs it is compared with.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pbft_closed_loop_throughput", "pbft_latency_floor"]

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


def _slow_primary_delay_s(spec: dict[str, Any]) -> float | None:
    """Extra delay per request that the adversaries of ``spec`` add in the model, or None if not modelled.

    No adversary adds nothing; ``slow-primary`` holding every PRE-PREPARE from the start
    adds its delay (default 90% of the view-change timeout, as the strategy computes it).
    """
    delay = 0.0
    for adv in spec.get("adversary", []):
        params = adv.get("params") or {}
        if adv["strategy"] != "slow-primary" or params.get("start_s", 0.0) or params.get("end_s") is not None:
            return None
        delay += params["delay_s"] if params.get("delay_s") is not None else \
            0.9 * spec["protocol"]["params"]["view_change_timeout_s"]
    return delay


def pbft_closed_loop_throughput(ax: Any, data: Any, recipe: Any) -> None:
    """On a bar plot of PBFT throughput: ``clients / (5 d + delay)`` over the bars where it applies.

    Each closed-loop client has one request outstanding; unloaded, a request takes
    five one-way delays ``d`` (see :data:`PBFT_HOPS`) plus any delay a slow primary
    adds to its PRE-PREPARE, so throughput is clients over that time. Drawn for the
    bars without an adversary or with ``slow-primary`` only; other attacks have no
    closed form here. Ignores CPU time and batching waits (a few percent at n = 4).
    """
    from bftlab.plots import category, lookup

    if recipe.y != "metrics.throughput_rps" or recipe.y_per:
        raise ValueError(f"draws throughput (metrics.throughput_rps), but y is {recipe.y!r}")
    first = True
    for i, cat in enumerate(data.categories):
        values = set()
        for rep in data.reports:
            if category(lookup(rep, recipe.x)) != cat:
                continue
            spec = rep["spec"]
            delay = _slow_primary_delay_s(spec)
            net, work = spec["network"], spec["workload"]
            if delay is None or work["mode"] != "closed" or net["latency_model"] not in ("constant", "uniform"):
                break
            values.add(work["clients"] / (PBFT_HOPS * net["latency_ms"] / 1e3 + delay))
        else:
            if len(values) != 1:
                continue
            ax.hlines(values.pop() * recipe.y_scale, i - 0.45, i + 0.45, colors="0.1", linestyles=":",
                      linewidth=2, label="theory: clients / (5 one-way delays + PRE-PREPARE delay)" if first else None)
            first = False
