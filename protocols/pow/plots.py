"""Plot hooks drawing the closed forms over PoW sweep results (see ``experiments/pow-*.yaml``).

A hook is ``hook(ax, data, recipe)`` (see :mod:`bftlab.plots`); parameters
come from the plotted runs' resolved specs, so each curve matches its runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bftlab.protocols.pow import theory


def _attacker(report: dict) -> dict:
    """The resolved params of a run's (one) PoW attacker: ``spec.adversary[0].params``."""
    return report["spec"]["adversary"][0]["params"]


def _xs(data: Any) -> np.ndarray:
    xs = sorted({p.x for pts in data.series.values() for p in pts})
    return np.linspace(min(xs), max(xs), 100)


def selfish_revenue(ax: Any, data: Any, recipe: Any) -> None:
    """Eyal & Sirer's revenue curve for each gamma plotted, and the honest line y = alpha."""
    xs = _xs(data)
    gammas = sorted({_attacker(rep)["gamma"] for rep in data.reports})
    for g in gammas:
        ax.plot(xs, [theory.selfish_revenue(a, g) for a in xs], linestyle=":", color="0.3", linewidth=1.2,
                label="Eyal & Sirer (closed form)" if g == gammas[0] else None)
    ax.plot(xs, xs, linestyle="--", color="0.6", linewidth=1.0, label="honest share")


def double_spend_success(ax: Any, data: Any, recipe: Any) -> None:
    """Rosenfeld's exact success probability for each z plotted."""
    xs = _xs(data)
    first = True
    for rep_z in sorted({_attacker(rep)["z"] for rep in data.reports}):
        premine = _attacker(data.reports[0])["premine"]
        ax.plot(xs, [theory.double_spend_success(q, rep_z, premine) for q in xs], linestyle=":", color="0.3",
                linewidth=1.2, label="Rosenfeld (exact)" if first else None)
        first = False
