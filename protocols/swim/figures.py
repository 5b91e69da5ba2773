"""SWIM's closed forms drawn over sweep results (plot hooks named in experiments/swim-*.yaml).

A hook is ``hook(ax, data, recipe)`` (see :mod:`bftlab.plots`); the parameters
of each curve come from the plotted runs' resolved specs and reports, so every
curve matches its runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bftlab.protocols.swim import theory

__all__ = ["detection_closed_form", "detection_vs_n_closed_form", "dissemination_closed_form",
           "false_positive_closed_form", "load_closed_form"]


def _params(report: dict[str, Any]) -> dict[str, Any]:
    return report["spec"]["protocol"]["params"]


def detection_closed_form(ax: Any, data: Any, recipe: Any) -> None:
    """T / (1 - e^(-q_f)) (section 3.1) and its finite-n value, over the plotted protocol periods T.

    The runs measure the time from the first period boundary after a crash to the first suspicion, with aligned
    phases, which is exactly the paper's whole number of periods times T.
    """
    from bftlab.plots import lookup

    by_x: dict[float, list[dict[str, Any]]] = {}
    for rep in data.reports:
        by_x.setdefault(round(lookup(rep, recipe.x) * recipe.x_scale, 12), []).append(rep)
    xs, exact, limit = [], [], []
    for x in sorted(by_x):
        rows = [d for rep in by_x[x] for d in rep["metrics"]["swim"]["detections"] if d["expected_periods"]]
        if not rows:
            continue
        period = by_x[x][0]["metrics"]["swim"]["period_s"]
        n = by_x[x][0]["spec"]["n"]
        q_f = sum(d["live"] for d in rows) / len(rows) / (n - 1)
        xs.append(x)
        exact.append(period * sum(d["expected_periods"] for d in rows) / len(rows) * recipe.y_scale)
        limit.append(period * theory.first_detection_periods(q_f) * recipe.y_scale)
    ax.plot(xs, limit, color="0.2", linestyle=":", linewidth=1.5, label="theory: T / (1 - exp(-q_f))")
    ax.plot(xs, exact, color="0.45", linestyle="none", marker="x", markersize=8,
            label="theory, finite n: T / (1 - (1 - 1/(n-1))^(n-1))")


def _ks(data: Any) -> list[int]:
    return sorted({int(_params(rep)["k"]) for rep in data.reports})


def _loss_grid(data: Any) -> Any:
    losses = [rep["spec"]["network"]["loss"] for rep in data.reports]
    return np.linspace(min(losses), max(losses), 100)


def false_positive_closed_form(ax: Any, data: Any, recipe: Any) -> None:
    """(1 - (1-q)^2) (1 - (1-q)^4)^k for each plotted k: a probe of a live member fails (section 3.1)."""
    qs = _loss_grid(data)
    for i, k in enumerate(_ks(data)):
        ys = [theory.false_positive_probability(float(q), k) * recipe.y_scale for q in qs]
        ax.plot(qs * recipe.x_scale, ys, color=f"C{i}", linestyle=":", linewidth=1.3,
                label=f"theory k={k}: (1-(1-q)^2)(1-(1-q)^4)^{k}")


def load_closed_form(ax: Any, data: Any, recipe: Any) -> None:
    """Expected messages per member per period for each plotted k (:func:`.theory.message_load`)."""
    qs = _loss_grid(data)
    syncs = {int(_params(rep)["sync_periods"]) for rep in data.reports}
    sync = syncs.pop() if len(syncs) == 1 else 0
    for i, k in enumerate(_ks(data)):
        ys = [theory.message_load(float(q), k, sync) * recipe.y_scale for q in qs]
        ax.plot(qs * recipe.x_scale, ys, color=f"C{i}", linestyle=":", linewidth=1.3, label=f"theory k={k}")
    ax.set_ylim(bottom=0)


def detection_vs_n_closed_form(ax: Any, data: Any, recipe: Any) -> None:
    """1 / (1 - e^(-q_f)) over the plotted n, with q_f from each run's ``failed`` members (section 3.1)."""
    ns = sorted({rep["spec"]["n"] for rep in data.reports})
    failed = {int(_params(rep)["failed"]) for rep in data.reports}
    if len(failed) != 1:
        raise ValueError(f"runs differ in protocol.params.failed ({sorted(failed)})")
    f = failed.pop()
    xs = np.geomspace(min(ns), max(ns), 60)
    ax.plot(xs, [theory.first_detection_periods((n - f) / n) * recipe.y_scale for n in xs], color="0.2",
            linestyle=":", linewidth=1.5, label="theory: 1 / (1 - exp(-q_f))")


def dissemination_closed_form(ax: Any, data: Any, recipe: Any) -> None:
    """log3 n over the plotted n: push-pull spreading's leading term (Karp et al. 2000)."""
    ns = sorted({rep["spec"]["n"] for rep in data.reports})
    xs = np.geomspace(min(ns), max(ns), 60)
    ax.plot(xs, [theory.push_pull_periods(int(n)) * recipe.y_scale for n in xs], color="0.2", linestyle=":",
            linewidth=1.5, label="log3 n (push-pull, Karp et al.)")
