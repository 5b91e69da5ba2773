"""The PBS prediction drawn over the measured probability of consistency (plot hook in experiments/dynamo-pbs.yaml).

A hook is ``hook(ax, data, recipe)``; see :mod:`bftlab.plots` for the arguments.
"""

from __future__ import annotations

from typing import Any

from .theory import delay_sampler, p_consistent

__all__ = ["pbs_prediction"]

TRIALS = 40_000


def pbs_prediction(ax: Any, data: Any, recipe: Any) -> None:
    """For each (N, R, W) drawn, the WARS Monte Carlo probability at each plotted lag (:mod:`.theory`).

    N, R, W and the delay model come from the runs' own specs, so the dotted
    line is the model of exactly what was simulated; its Monte Carlo error
    (40,000 trials) is below 0.003.
    """
    from bftlab.plots import lookup

    groups: dict[tuple[int, int, int], dict[float, dict[str, Any]]] = {}
    for rep in data.reports:
        p = rep["spec"]["protocol"]["params"]
        key = (int(p.get("replicas_per_key", 3)), int(p.get("r", 2)), int(p.get("w", 2)))
        groups.setdefault(key, {})[float(lookup(rep, recipe.x))] = rep["spec"]["network"]
    for (n, r, w), by_x in sorted(groups.items()):
        nets = {(net["latency_model"], net["latency_ms"], net.get("jitter_ms", 0.0), net.get("lognormal_sigma", 0.5))
                for net in by_x.values()}
        if len(nets) != 1:
            raise ValueError(f"the runs of N={n} R={r} W={w} use different networks: {sorted(nets)}")
        model, lat, jit, sigma = nets.pop()
        delay = delay_sampler(model, lat, jit, sigma)
        xs = sorted(by_x)
        ys = [p_consistent(n, r, w, x, delay, trials=TRIALS, seed=1) * recipe.y_scale for x in xs]
        name = f"N={n} R={r} W={w}"
        drawn = [(c.get_label(), c.lines[0]) for c in ax.containers if hasattr(c, "lines") and c.lines]
        drawn += [(line.get_label(), line) for line in ax.get_lines()]  # error bars or plain lines
        colors = [line.get_color() for label, line in drawn if str(label).endswith(name)]
        ax.plot([x * recipe.x_scale for x in xs], ys, linestyle=":", marker="x", linewidth=1.5,
                color=colors[0] if colors else "0.3", label=f"WARS prediction {name}")
