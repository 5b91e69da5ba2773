"""Closed forms for the commit protocols' shared figures (plot hooks named in experiments/commit-*.yaml).

A hook is ``hook(ax, data, recipe)``; see :mod:`bftlab.plots` for the arguments.
"""

from __future__ import annotations

from typing import Any

__all__ = ["no_vote_abort_floor", "no_vote_abort_rate"]


def no_vote_abort_rate(p: float, k: int) -> float:
    """The chance that an attempt aborts on a unilateral no vote alone: ``1 - (1 - p)^k``.

    Each of the ``k`` participants votes no with probability ``p``
    independently of the others (``no_vote_probability``: a failed check the
    protocol cannot see), and one no vote aborts the attempt. Lock conflicts
    abort more, so the measured abort rate lies on or above this floor, whatever
    the commit protocol.
    """
    return 1.0 - (1.0 - p) ** k


def no_vote_abort_floor(ax: Any, data: Any, recipe: Any) -> None:
    """Draw ``1 - (1 - p)^k`` at each plotted x, the number of shards per transaction ``k``."""
    from bftlab.plots import lookup

    ps = {float(rep["spec"]["protocol"]["params"].get("no_vote_probability", 0.0)) for rep in data.reports}
    if len(ps) != 1:
        raise ValueError(f"no_vote_probability must be the same in every run, got {sorted(ps)}")
    p = ps.pop()
    ks = sorted({int(lookup(rep, recipe.x)) for rep in data.reports})
    ax.plot([k * recipe.x_scale for k in ks], [no_vote_abort_rate(p, k) * recipe.y_scale for k in ks],
            color="0.2", linestyle=":", marker="x", linewidth=1.5, label=f"no votes alone: 1 - (1 - {p:g})^k")
