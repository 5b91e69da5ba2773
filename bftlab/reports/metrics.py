"""Throughput and latency, measured in simulated time from the client's view.

Latency of a request runs from the moment the workload handed it to its
client to the moment the client accepted a result. Throughput is accepted
requests per simulated second over the span from the first submission to the
last acceptance. Both are computed only from history events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bftlab.api import Executed, ViewChanged
from bftlab.core.kernel import NS


class Metrics:
    __slots__ = ("_submit", "latencies_ns", "accept_times", "first_submit", "last_accept", "_views",
                 "_executed_seq", "committed_slots")

    def __init__(self) -> None:
        self._submit: dict[tuple[int, int], int] = {}
        self.latencies_ns: list[int] = []
        self.accept_times: list[int] = []
        self.first_submit: int | None = None
        self.last_accept = 0
        self._views: set[int] = set()
        self._executed_seq: dict[int, int] = {}
        self.committed_slots = 0

    def issued(self, client: int, ts: int, submit_ns: int) -> None:
        self._submit[(client, ts)] = submit_ns
        if self.first_submit is None or submit_ns < self.first_submit:
            self.first_submit = submit_ns

    def accepted(self, client: int, ts: int, t: int) -> bool:
        """Record an acceptance; False if it was already counted."""
        start = self._submit.pop((client, ts), None)
        if start is None:
            return False
        self.latencies_ns.append(t - start)
        self.accept_times.append(t)
        self.last_accept = max(self.last_accept, t)
        return True

    def executed(self, ev: Executed, t: int) -> None:
        if ev.seq > self._executed_seq.get(ev.node, -1):
            self._executed_seq[ev.node] = ev.seq

    def view_changed(self, ev: ViewChanged) -> None:
        if ev.view > 0:
            self._views.add(ev.view)

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies_ns)
        span = (self.last_accept - (self.first_submit or 0)) / NS
        latency: dict[str, float | None]
        if n:
            lat = np.asarray(self.latencies_ns, dtype=np.float64) / NS
            p50, p90, p99 = np.percentile(lat, [50, 90, 99])
            latency = {"mean": float(lat.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
                       "max": float(lat.max())}
        else:
            latency = {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
        return {
            "committed": n,
            "issued": n + len(self._submit),
            "throughput_rps": n / span if n and span > 0 else 0.0,
            "latency_s": {k: (round(v, 9) if v is not None else None) for k, v in latency.items()},
            "view_changes": len(self._views),
        }

    def timeline(self, bin_s: float) -> list[dict[str, float]]:
        """Accepted requests and mean latency per time bin (for latency-over-time plots)."""
        if not self.accept_times:
            return []
        bins: dict[int, list[int]] = {}
        width = int(bin_s * NS)
        for t, lat in zip(self.accept_times, self.latencies_ns):
            bins.setdefault(t // width, []).append(lat)
        return [{"t_s": b * bin_s, "accepted": len(v), "latency_mean_s": sum(v) / len(v) / NS}
                for b, v in sorted(bins.items())]
