"""Network model of the simulator: latency, bandwidth, loss and partitions.

Per message from ``src`` to ``dst`` sent at time ``t``:

1. partitions: if a partition window is active at ``t`` and separates the two
   nodes, the message is dropped (like a broken connection; retransmission is
   the protocol's business);
2. loss: dropped independently with probability ``loss``;
3. bandwidth: the message is serialised on the sender's uplink, one message
   after another, taking ``size * 8 / bandwidth`` seconds;
4. latency: a propagation delay drawn per message from the link's model
   (constant, uniform, normal truncated at 0, lognormal, or a region matrix
   plus jitter).

All randomness comes from one stream handed in by the runner, so the same
seed gives the same delays on any machine. Everything is in integer
nanoseconds, as in the kernel.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bftlab.core.kernel import NS
from bftlab.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PartitionWindow:
    """Between ``start_ns`` and ``end_ns`` only nodes with the same group id talk."""

    start_ns: int
    end_ns: int
    group_of: tuple[int, ...]  # node id -> group id

    def separates(self, a: int, b: int, t: int) -> bool:
        return self.start_ns <= t < self.end_ns and self.group_of[a] != self.group_of[b]


def partition_window(start_s: float, end_s: float, groups: Sequence[Sequence[int]], n_nodes: int) -> PartitionWindow:
    """Nodes not named in ``groups`` (clients included) share one extra group."""
    rest = len(groups)
    group_of = [rest] * n_nodes
    for gid, members in enumerate(groups):
        for node in members:
            if not 0 <= node < n_nodes:
                raise ConfigError(f"partition group names node {node}, but nodes are 0..{n_nodes - 1}")
            group_of[node] = gid
    return PartitionWindow(int(round(start_s * NS)), int(round(end_s * NS)), tuple(group_of))


LatencySampler = Callable[[int, int], float]  # (src, dst) -> seconds


def latency_sampler(
    model: str,
    rng: random.Random,
    latency_ms: float,
    jitter_ms: float = 0.0,
    lognormal_sigma: float = 0.5,
    region_of: Sequence[int] | None = None,
    matrix_ms: Sequence[Sequence[float]] | None = None,
) -> LatencySampler:
    """Build the per-message propagation delay function for a latency model."""
    base = latency_ms / 1e3
    jit = jitter_ms / 1e3
    if model == "constant":
        return lambda s, d: base
    if model == "uniform":
        lo = max(0.0, base - jit)
        hi = base + jit
        uni = rng.uniform
        return lambda s, d: uni(lo, hi)
    if model == "normal":
        gauss = rng.gauss
        return lambda s, d: max(0.0, gauss(base, jit))
    if model == "lognormal":
        mu = math.log(base) if base > 0 else -50.0
        lnv = rng.lognormvariate
        return lambda s, d: lnv(mu, lognormal_sigma)
    if model == "regions":
        if region_of is None or matrix_ms is None:
            raise ConfigError("latency_model 'regions' needs network.regions")
        table = [[v / 1e3 for v in row] for row in matrix_ms]
        reg = list(region_of)
        if jit > 0:
            gauss = rng.gauss
            return lambda s, d: max(0.0, table[reg[s]][reg[d]] + gauss(0.0, jit))
        return lambda s, d: table[reg[s]][reg[d]]
    raise ConfigError(f"unknown latency_model {model!r}; expected constant, uniform, normal, lognormal or regions")


class Network:
    """Decides, for each message, whether and when it arrives."""

    __slots__ = ("_lat", "_loss", "_rand", "_ns_per_byte", "_uplink_free", "_partitions", "dropped")

    def __init__(
        self,
        n_nodes: int,
        sampler: LatencySampler,
        rng: random.Random,
        bandwidth_mbps: float = 0.0,
        loss: float = 0.0,
        partitions: Sequence[PartitionWindow] = (),
    ) -> None:
        self._lat = sampler
        self._loss = loss
        self._rand = rng.random
        self._ns_per_byte = 8_000.0 / bandwidth_mbps if bandwidth_mbps > 0 else 0.0
        self._uplink_free = [0] * n_nodes
        self._partitions = tuple(partitions)
        self.dropped: dict[str, int] = {}

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def arrival(self, src: int, dst: int, size: int, t: int) -> int | None:
        """Arrival time (ns) of a ``size``-byte message sent at ``t``, or None if lost.

        A message occupies the sender's uplink whether or not it arrives, and the
        partition that counts is the one in force when it leaves the uplink.
        """
        if self._ns_per_byte:
            free = self._uplink_free[src]
            start = t if t > free else free
            t = start + int(size * self._ns_per_byte)
            self._uplink_free[src] = t
        for p in self._partitions:
            if p.separates(src, dst, t):
                self._drop("partition")
                return None
        if self._loss and self._rand() < self._loss:
            self._drop("loss")
            return None
        return t + int(self._lat(src, dst) * NS)

    def partitioned(self, a: int, b: int, t: int) -> bool:
        return any(p.separates(a, b, t) for p in self._partitions)

    def heal_times(self) -> list[int]:
        return sorted({p.end_ns for p in self._partitions})
