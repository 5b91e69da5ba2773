"""Closed-form curves for the two-phase commit figures (plot hooks named in experiments/*.yaml).

A hook is ``hook(ax, data, recipe)``; see :mod:`bftlab.plots` for the arguments.
"""

from __future__ import annotations

from typing import Any

__all__ = ["blocking_closed_form", "uncertainty_closed_form"]


def uncertainty_closed_form(recover_at_s: float, crash_at_s: float, latency_s: float) -> float:
    """How long a participant stays uncertain when the coordinator crashes after collecting the votes.

    The participant voted one link delay before the coordinator had the last vote
    (and crashed, at ``crash_at_s``, just after); the restarted coordinator has no
    commit record, aborts at once (presumed abort) and its ABORT takes one more
    delay: uncertainty = recovery time - crash time + a round trip (2 x latency).
    """
    return recover_at_s - crash_at_s + 2 * latency_s


def blocking_closed_form(ax: Any, data: Any, recipe: Any) -> None:
    """Draw ``recover_at - crash_at + 2 x latency`` at each plotted x (the coordinator's restart time)."""
    from bftlab.plots import lookup

    params: set[tuple[float, float]] = set()
    xs: set[float] = set()
    for rep in data.reports:
        fault = rep["spec"]["faults"][0]
        net = rep["spec"]["network"]
        if net["latency_model"] != "constant":
            raise ValueError("the closed form needs constant link latency")
        params.add((fault["crash_at_s"], net["latency_ms"] / 1e3))
        xs.add(float(lookup(rep, recipe.x)))
    if len(params) != 1:
        raise ValueError(f"crash time and latency must be the same in every run, got {sorted(params)}")
    crash_at, latency = params.pop()
    pts = sorted(xs)
    ys = [uncertainty_closed_form(x, crash_at, latency) * recipe.y_scale for x in pts]
    ax.plot([x * recipe.x_scale for x in pts], ys, color="0.2", linestyle=":", marker="x", linewidth=1.5,
            label="closed form: recovery - crash + round trip")
