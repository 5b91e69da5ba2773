"""Closed forms and the paper's tables drawn over gossip sweep results (hooks named in experiments/gossip-*.yaml).

A hook is ``hook(ax, data, recipe)`` (see :mod:`bftlab.plots`); parameters come
from the plotted runs' resolved specs, so each curve matches its runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bftlab.protocols.gossip import theory

__all__ = ["demers_table", "rounds_closed_forms", "rounds_closed_forms_by_style", "rumor_residue_equation"]


def _params(report: dict[str, Any]) -> dict[str, Any]:
    return report["spec"]["protocol"]["params"]


def rounds_closed_forms(ax: Any, data: Any, recipe: Any) -> None:
    """log2 n + ln n (push; Frieze & Grimmett, Pittel) and log3 n (push-pull; Karp et al.) over the plotted n."""
    ns = sorted({rep["spec"]["n"] for rep in data.reports})
    xs = np.geomspace(min(ns), max(ns), 100)
    algorithms = {_params(rep)["algorithm"] for rep in data.reports}
    if "push" in algorithms:
        ax.plot(xs, [theory.push_rounds(n) for n in xs], color="0.2", linestyle=":", linewidth=1.4,
                label="push: log2 n + ln n (Frieze & Grimmett)")
    if "push-pull" in algorithms:
        ax.plot(xs, [theory.push_pull_rounds(n) for n in xs], color="0.45", linestyle="--", linewidth=1.2,
                label="push-pull: log3 n (Karp et al., + O(log log n))")
        ax.plot(xs, [theory.push_pull_rounds(n) + 1.5 * np.log(np.log(n)) for n in xs], color="0.6",
                linestyle="-.", linewidth=1.0, label="log3 n + 1.5 ln ln n")


def rounds_closed_forms_by_style(ax: Any, data: Any, recipe: Any) -> None:
    """As :func:`rounds_closed_forms`, for message-level runs (the style is ``anti_entropy``), in periods."""
    ns = sorted({rep["spec"]["n"] for rep in data.reports})
    xs = np.geomspace(min(ns), max(ns), 100)
    styles = {_params(rep)["anti_entropy"] for rep in data.reports}
    periods = {_params(rep)["anti_entropy_period_s"] for rep in data.reports}
    if len(periods) != 1:
        raise ValueError(f"anti_entropy_period_s differs between the plotted runs ({sorted(periods)})")
    period = periods.pop() * recipe.y_scale
    if "push" in styles:
        ax.plot(xs, [theory.push_rounds(n) * period for n in xs], color="0.2", linestyle=":", linewidth=1.4,
                label="push, rounds: log2 n + ln n")
    if "push-pull" in styles:
        ax.plot(xs, [theory.push_pull_rounds(n) * period for n in xs], color="0.45", linestyle="--",
                linewidth=1.2, label="push-pull, rounds: log3 n")


def rumor_residue_equation(ax: Any, data: Any, recipe: Any) -> None:
    """The root of s = exp(-(k+1)(1-s)) for each k (Demers et al. section 1.4)."""
    ks = sorted({_params(rep)["k"] for rep in data.reports})
    ax.plot(ks, [theory.rumor_residue(k) * recipe.y_scale for k in ks], color="0.2", linestyle=":", marker="x",
            linewidth=1.4, label="s = exp(-(k+1)(1-s))")


_COLUMNS = {"residue": 0, "traffic": 1, "t_ave": 2, "t_last": 3}


def demers_table(ax: Any, data: Any, recipe: Any) -> None:
    """Demers et al.'s simulated values (Table 1: feedback/counter; Table 2: blind/coin) for the plotted column."""
    column = _COLUMNS[recipe.y.split(".")[-2]]  # metrics.gossip.<column>.mean
    variants = {(bool(_params(rep)["feedback"]), bool(_params(rep)["counter"])) for rep in data.reports}
    ks = sorted({_params(rep)["k"] for rep in data.reports})
    for (feedback, counter), table, name in (((True, True), theory.DEMERS_TABLE1, "Table 1 (feedback, counter)"),
                                             ((False, False), theory.DEMERS_TABLE2, "Table 2 (blind, coin)")):
        if (feedback, counter) in variants:
            ax.plot(ks, [table[k][column] * recipe.y_scale for k in ks if k in table], linestyle="none",
                    marker="x" if feedback else "+", markersize=9, color="0.15", label=f"Demers et al. {name}")
