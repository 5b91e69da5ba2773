"""The recorder of a run's history: one path from history events to the oracles and the metrics.

Both run paths feed it the same events (:mod:`bftlab.api`): the simulator as
its nodes emit them (:mod:`bftlab.sim.runner`), the real transport from the
processes' event logs after the run (:mod:`bftlab.transport.cluster`). Every
event goes to the oracle panel; ``Issued``, ``Accepted``, ``Executed`` and
``ViewChanged`` also go to :class:`~bftlab.reports.metrics.Metrics`.

What differs between the paths is injected: when a request was handed to its
client (``submitted_at``: the simulator's workload queue, or the time an event
log recorded), and what to do when a request is accepted for the first time
(``on_accepted``: the simulator stops once every submitted request is in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bftlab.api import Accepted, Executed, Issued, Recovered, ViewChanged
from bftlab.reports.metrics import Metrics

__all__ = ["Judge", "Recorder"]


class Judge(Protocol):
    """What the recorder feeds every event to (an :class:`bftlab.oracles.base.Panel`)."""

    def observe(self, t_ns: int, event: Any) -> None: ...


class Recorder:
    """Feeds history events to ``panel`` and ``metrics``.

    ``submitted_at(issued, t_ns)`` gives the submission time of an ``Issued``
    request (default: ``t_ns``, the issue time). ``on_accepted(accepted, t_ns)``
    runs on each request's first acceptance. With ``history`` (a list), every
    event is also appended to it as ``(t_ns, event)``.
    """

    __slots__ = ("panel", "metrics", "history", "recovered", "_submitted_at", "_on_accepted")

    def __init__(
        self,
        panel: Judge,
        metrics: Metrics,
        *,
        submitted_at: Callable[[Issued, int], int] | None = None,
        on_accepted: Callable[[Accepted, int], None] | None = None,
        history: list[tuple[int, Any]] | None = None,
    ) -> None:
        self.panel = panel
        self.metrics = metrics
        self.history = history
        self.recovered: dict[int, list[int]] = {}
        """Replica -> times (ns) it reported :class:`~bftlab.api.Recovered`, for the fault budget."""
        self._submitted_at = submitted_at
        self._on_accepted = on_accepted

    def observe(self, t_ns: int, event: Any) -> None:
        """One history event at ``t_ns`` (simulated ns, or a process's monotonic ns)."""
        if self.history is not None:
            self.history.append((t_ns, event))
        self.panel.observe(t_ns, event)
        kind = type(event)
        if kind is Issued:
            at = self._submitted_at
            self.metrics.issued(event.client, event.ts, at(event, t_ns) if at is not None else t_ns)
        elif kind is Accepted:
            if self.metrics.accepted(event.client, event.ts, t_ns) and self._on_accepted is not None:
                self._on_accepted(event, t_ns)
        elif kind is Executed:
            self.metrics.executed(event, t_ns)
        elif kind is ViewChanged:
            self.metrics.view_changed(event)
        elif kind is Recovered:
            self.recovered.setdefault(event.node, []).append(t_ns)
