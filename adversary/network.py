"""Built-in network strategies: protocol agnostic, so they work for every protocol.

They realise the network of the asynchronous and partially synchronous models
that BFT papers assume. Castro and Liskov (PBFT, OSDI'99, section 2): "The network
may fail to deliver messages, delay them, duplicate them, or deliver them out of
order." Dwork, Lynch and Stockmeyer (JACM 1988) add a global stabilisation time
(GST) after which delays are bounded. Every strategy acts only inside its time
window ``[start_s, end_s)`` (``end_s: null`` means until the run ends), so a
run can have a faulty phase and then a stable phase in which liveness is judged.

==================  =========================================================
random-delay        extra delay uniform in [delay_min_s, delay_max_s], drop with probability ``drop``
targeted-delay      delay (or drop) messages from/to one node and/or of some message types
partition           fixed schedule of partitions; cut links drop or hold until the heal
random-partition    ``count`` random two-sided partitions of random duration
rotating-partition  isolate replica 0, then 1, ... for ``period_s`` each
gst                 arbitrary delays before GST, bounded by ``bound_s`` after it
reorder             hold a fraction of messages so later ones overtake them
replay              deliver extra copies of messages much later (duplication, replay)
==================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bftlab.adversary.checks import nonempty, nonnegative, positive, probability, time_window
from bftlab.attack.api import DELIVER, DROP, AdversaryContext, Envelope, NetworkStrategy, Route
from bftlab.specs.schema import FieldError


def _active(env: Envelope, start_s: float, end_s: float | None) -> bool:
    return env.sent_s >= start_s and (end_s is None or env.sent_s < end_s)


# ---------------------------------------------------------------- random delay
@dataclass(frozen=True, kw_only=True)
class RandomDelayParams:
    delay_min_s: float = 0.0
    """Smallest extra delay."""
    delay_max_s: float = 0.05
    """Largest extra delay (uniform in between)."""
    drop: float = 0.0
    """Probability of dropping a message instead."""
    replicas_only: bool = False
    """Leave client traffic alone."""
    start_s: float = 0.0
    """Window start."""
    end_s: float | None = None
    """Window end; null = until the run ends."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        probability("drop", self.drop)
        nonnegative("delay_min_s", self.delay_min_s)
        nonnegative("delay_max_s", self.delay_max_s)
        if self.delay_min_s > self.delay_max_s:
            raise FieldError("delay_max_s", f"needs 0 <= delay_min_s <= delay_max_s, got "
                                            f"{self.delay_min_s!r} and {self.delay_max_s!r}.")


class RandomDelay(NetworkStrategy):
    """Random extra delay and loss within bounds (PBFT's network model, Castro & Liskov OSDI'99 section 2)."""

    Params = RandomDelayParams

    def route(self, env: Envelope) -> Route:
        p = self.params
        if not _active(env, p.start_s, p.end_s) or (p.replicas_only and max(env.src, env.dst) >= self.ctx.n):
            return DELIVER
        if p.drop and self.rng.random() < p.drop:
            return DROP
        return (self.rng.uniform(p.delay_min_s, p.delay_max_s),)


# -------------------------------------------------------------- targeted delay
@dataclass(frozen=True, kw_only=True)
class TargetedDelayParams:
    node: int | None = None
    """Target node id; null = any node."""
    direction: Literal["from", "to", "both"] = "both"
    """Messages sent by the node, to it, or both."""
    msg_types: tuple[str, ...] = ()
    """Message type names to target (e.g. [ViewChange]); empty = all types."""
    delay_s: float = 0.5
    """Extra delay of targeted messages."""
    drop: bool = False
    """Drop targeted messages instead of delaying them."""
    start_s: float = 0.0
    """Window start."""
    end_s: float | None = None
    """Window end; null = until the run ends."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        nonnegative("delay_s", self.delay_s)
        if self.node is not None and self.node < 0:
            raise FieldError("node", f"must be a node id (>= 0), got {self.node!r}.")
        if self.node is None and not self.msg_types:
            raise FieldError("node", "set a target: a node id, msg_types, or both.")


class TargetedDelay(NetworkStrategy):
    """Slow down one node or one message type: the targeted attacks on leaders of Amir et al.,
    "Prime: Byzantine Replication Under Attack" (IEEE TDSC 2011)."""

    Params = TargetedDelayParams

    def route(self, env: Envelope) -> Route:
        p = self.params
        if not _active(env, p.start_s, p.end_s):
            return DELIVER
        if p.msg_types and env.kind not in p.msg_types:
            return DELIVER
        if p.node is not None:
            hit = (p.direction != "to" and env.src == p.node) or (p.direction != "from" and env.dst == p.node)
            if not hit:
                return DELIVER
        return DROP if p.drop else (p.delay_s,)


# ------------------------------------------------------------------ partitions
@dataclass(frozen=True, kw_only=True)
class Window:
    start_s: float
    """When the partition begins."""
    end_s: float
    """When it heals."""
    groups: tuple[tuple[int, ...], ...]
    """Groups of node ids that can talk among themselves; unlisted nodes form one more group."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        nonempty("groups", self.groups, "group of node ids")
        for i, group in enumerate(self.groups):
            nonempty(f"groups[{i}]", group, "node id")


class _Partitions(NetworkStrategy):
    """Shared routing: a message sent across a cut is dropped or held until the heal."""

    windows: list[tuple[float, float, dict[int, int]]]
    mode: str = "drop"

    def route(self, env: Envelope) -> Route:
        t = env.sent_s
        for start, end, group_of in self.windows:
            if start <= t < end and group_of.get(env.src, -1) != group_of.get(env.dst, -1):
                return DROP if self.mode == "drop" else (env.until(end),)
        return DELIVER


def _group_map(groups: tuple[tuple[int, ...], ...]) -> dict[int, int]:
    return {node: g for g, members in enumerate(groups) for node in members}


@dataclass(frozen=True, kw_only=True)
class PartitionParams:
    partitions: tuple[Window, ...] = ()
    """The schedule: [{start_s, end_s, groups}, ...]."""
    mode: Literal["drop", "hold"] = "drop"
    """drop: lost like a broken link; hold: delivered when the partition heals."""

    def __post_init__(self) -> None:
        nonempty("partitions", self.partitions, "{start_s, end_s, groups} window")


class Partition(_Partitions):
    """A fixed schedule of partitions (the network faults of ByzzFuzz, Winter et al. 2023, in time windows)."""

    Params = PartitionParams

    def __init__(self, params: PartitionParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self.mode = params.mode
        self.windows = [(w.start_s, w.end_s, _group_map(w.groups)) for w in params.partitions]


@dataclass(frozen=True, kw_only=True)
class RandomPartitionParams:
    count: int = 3
    """How many partitions."""
    min_duration_s: float = 0.2
    """Shortest partition."""
    max_duration_s: float = 1.0
    """Longest partition."""
    start_s: float = 0.0
    """Partitions begin at or after this time."""
    end_s: float = 5.0
    """... and heal by this time."""
    mode: Literal["drop", "hold"] = "drop"
    """drop or hold messages across the cut."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        if self.count < 0:
            raise FieldError("count", f"must be >= 0, got {self.count!r}.")
        positive("min_duration_s", self.min_duration_s)
        if not self.min_duration_s <= self.max_duration_s <= self.end_s - self.start_s:
            raise FieldError("max_duration_s", "needs 0 < min_duration_s <= max_duration_s <= end_s - start_s.")


class RandomPartition(_Partitions):
    """Random two-sided partitions of replicas (clients join a random side), as in Jepsen-style nemeses."""

    Params = RandomPartitionParams

    def __init__(self, params: RandomPartitionParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self.mode = params.mode
        rng = self.rng
        self.windows = []
        for _ in range(params.count):
            dur = rng.uniform(params.min_duration_s, params.max_duration_s)
            start = rng.uniform(params.start_s, params.end_s - dur)
            side = {r: rng.randrange(2) for r in ctx.replicas}
            side.update({c: rng.randrange(2) for c in ctx.clients})
            self.windows.append((start, start + dur, side))
        self.windows.sort(key=lambda w: w[0])


@dataclass(frozen=True, kw_only=True)
class RotatingPartitionParams:
    period_s: float = 0.5
    """How long each replica stays isolated."""
    start_s: float = 0.0
    """First isolation begins."""
    end_s: float = 4.0
    """Last isolation ends by then."""
    mode: Literal["drop", "hold"] = "drop"
    """drop or hold messages across the cut."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        positive("period_s", self.period_s)


class RotatingPartition(_Partitions):
    """Isolate replica 0, then 1, ...: each leader in turn loses contact (a rotating-leader-isolation nemesis)."""

    Params = RotatingPartitionParams

    def __init__(self, params: RotatingPartitionParams, ctx: AdversaryContext) -> None:
        super().__init__(params, ctx)
        self.mode = params.mode
        self.windows = []
        t, k = params.start_s, 0
        while t < params.end_s:
            end = min(t + params.period_s, params.end_s)
            self.windows.append((t, end, {ctx.replicas[k % ctx.n]: 1}))
            t, k = end, k + 1


# ------------------------------------------------------------------------- GST
@dataclass(frozen=True, kw_only=True)
class GstParams:
    gst_s: float = 2.0
    """Global stabilisation time."""
    max_delay_s: float = 1.0
    """Before GST: extra delay uniform in [0, max_delay_s]."""
    drop: float = 0.0
    """Before GST: probability of dropping a message."""
    bound_s: float = 0.01
    """After GST: extra delay uniform in [0, bound_s] (the known bound Delta)."""
    deliver_by_gst: bool = True
    """A message sent before GST and not dropped arrives by GST + bound_s (the DLS model)."""

    def __post_init__(self) -> None:
        probability("drop", self.drop)
        for name in ("gst_s", "max_delay_s", "bound_s"):
            nonnegative(name, getattr(self, name))


class Gst(NetworkStrategy):
    """Partial synchrony: Dwork, Lynch, Stockmeyer, "Consensus in the presence of partial synchrony" (JACM 1988)."""

    Params = GstParams

    def route(self, env: Envelope) -> Route:
        p = self.params
        if env.sent_s >= p.gst_s:
            return (self.rng.uniform(0.0, p.bound_s),) if p.bound_s else DELIVER
        if p.drop and self.rng.random() < p.drop:
            return DROP
        extra = self.rng.uniform(0.0, p.max_delay_s)
        if p.deliver_by_gst:
            extra = min(extra, max(0.0, p.gst_s + p.bound_s - env.arrival_s))
        return (extra,)


# -------------------------------------------------------- reordering and replay
@dataclass(frozen=True, kw_only=True)
class ReorderParams:
    fraction: float = 0.2
    """Fraction of messages held back."""
    max_hold_s: float = 0.1
    """A held message waits uniform in [0, max_hold_s], so later messages overtake it."""
    start_s: float = 0.0
    """Window start."""
    end_s: float | None = None
    """Window end; null = until the run ends."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        probability("fraction", self.fraction)
        nonnegative("max_hold_s", self.max_hold_s)


class Reorder(NetworkStrategy):
    """Out-of-order delivery (PBFT's network model, Castro & Liskov OSDI'99 section 2)."""

    Params = ReorderParams

    def route(self, env: Envelope) -> Route:
        p = self.params
        if _active(env, p.start_s, p.end_s) and self.rng.random() < p.fraction:
            return (self.rng.uniform(0.0, p.max_hold_s),)
        return DELIVER


@dataclass(frozen=True, kw_only=True)
class ReplayParams:
    fraction: float = 0.1
    """Fraction of messages that get an extra copy."""
    min_age_s: float = 0.0
    """The copy arrives at least this long after the original ..."""
    max_age_s: float = 2.0
    """... and at most this long: a replay of an old message."""
    copies: int = 1
    """Extra copies per replayed message."""
    start_s: float = 0.0
    """Window start."""
    end_s: float | None = None
    """Window end; null = until the run ends."""

    def __post_init__(self) -> None:
        time_window(self.start_s, self.end_s)
        probability("fraction", self.fraction)
        nonnegative("min_age_s", self.min_age_s)
        nonnegative("max_age_s", self.max_age_s)
        if self.min_age_s > self.max_age_s:
            raise FieldError("max_age_s", "needs 0 <= min_age_s <= max_age_s.")
        if self.copies < 1:
            raise FieldError("copies", f"must be >= 1, got {self.copies!r}.")


class Replay(NetworkStrategy):
    """Duplication and replay of old messages (Castro & Liskov OSDI'99 section 2; the replay attacks
    that PBFT's timestamps and views defeat)."""

    Params = ReplayParams

    def route(self, env: Envelope) -> Route:
        p = self.params
        if not _active(env, p.start_s, p.end_s) or self.rng.random() >= p.fraction:
            return DELIVER
        return (0.0, *(self.rng.uniform(p.min_age_s, p.max_age_s) for _ in range(p.copies)))
