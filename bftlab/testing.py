"""A deterministic step-by-step harness for sans-IO nodes (a public test double, like ``trio.testing``).

:class:`Harness` wires the replicas and clients of a :class:`~bftlab.api.ProtocolSpec`
together in memory, without the simulator: messages wait in one FIFO queue of
:class:`Envelope` and are delivered only when the test says so; timers wait in
a table and fire only when the test advances the clock. Every ``Observe``
event lands in :attr:`Harness.history`. Nothing here is random (the nodes'
``rng`` streams derive from ``seed``), so a scenario is a plain replayable
script::

    h = Harness(PROTOCOL, n=4, clients=1)
    h.submit(4, op)
    h.stabilize()
    assert h.accepted()

Delivery order is FIFO by insertion; timers fire in (deadline, insertion)
order. Actions go through the interpreter and the timer table every runtime
shares (:mod:`bftlab.core.host`), so a node behaves here as it does in the
simulator and on the real transport. Messages are round-tripped through
:mod:`bftlab.core.wire` by default, so a test also checks that every message
encodes and decodes. Every loop is bounded.
Faults: :meth:`drop` (or a ``drop`` filter installed with :meth:`add_filter`),
:meth:`crash`/:meth:`recover` (messages and timers to a crashed node are lost),
:meth:`partition`/:meth:`heal` (messages across groups are dropped).

Storage: each node has an instant :class:`~bftlab.core.storage.SimDisk`. A
``Sync`` is answered (``Synced``) right after the step that asked for it,
unless the test holds syncs (``hold_syncs=True``) and completes them itself
with :meth:`complete_syncs`; a crash applies ``storage_faults`` (default
``lose-unsynced``) to unsynced records. :meth:`recover` rebuilds a
``durable`` protocol's replica and hands it ``Start(recovered)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bftlab.api import (
    Accepted,
    Executed,
    NodeContext,
    NodeId,
    ProtocolSpec,
    Receive,
    Start,
    Submit,
    Synced,
    TimerFired,
    TimerName,
)
from bftlab.core import seeds, wire
from bftlab.core.costs import ZERO_COSTS, CpuCosts
from bftlab.core.host import SinkFns, TimerQueue, run_actions
from bftlab.core.storage import SimDisk, StorageFaults
from bftlab.errors import InvariantError, UsageError


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: NodeId
    receiver: NodeId
    msg: Any


Filter = Callable[[Envelope], bool]


def of_type(*types: type) -> Filter:
    return lambda env: isinstance(env.msg, types)


def to(*nodes: NodeId) -> Filter:
    return lambda env: env.receiver in nodes


def from_(*nodes: NodeId) -> Filter:
    return lambda env: env.sender in nodes


def all_of(*filters: Filter) -> Filter:
    return lambda env: all(f(env) for f in filters)


def any_of(*filters: Filter) -> Filter:
    return lambda env: any(f(env) for f in filters)


class Harness:
    """n replicas (ids ``0..n-1``) and ``clients`` clients (ids ``n..``), wired in memory."""

    def __init__(
        self,
        spec: ProtocolSpec,
        n: int,
        clients: int = 1,
        params: Any = None,
        *,
        f: int | None = None,
        seed: int = 0,
        costs: CpuCosts = ZERO_COSTS,
        wire_roundtrip: bool = True,
        replica_factory: Callable[[NodeContext], Any] | None = None,
        hold_syncs: bool = False,
        storage_faults: StorageFaults = "lose-unsynced",
    ) -> None:
        if n < 1 or clients < 0:
            raise UsageError(f"Harness: need n >= 1 and clients >= 0, got n={n}, clients={clients}")
        from bftlab.specs.registry import load_crypto

        make_crypto = load_crypto("ideal")  # by name: the engine never imports a plug-in package

        self.spec = spec
        self.n = n
        self.f = (n - 1) // 3 if f is None else f
        self.params = spec.params() if params is None else params
        self.seed = seed
        self.replicas = tuple(range(n))
        self.clients = tuple(range(n, n + clients))
        self.wire_roundtrip = wire_roundtrip
        self._crypto = make_crypto(self.replicas + self.clients, seeds.derive(seed, "crypto"), costs)
        self._replica_factory = replica_factory or spec.make_replica
        self.nodes: dict[NodeId, Any] = {}
        self.now = 0.0
        self.queue: deque[Envelope] = deque()
        self.timers = TimerQueue()  # deadlines in seconds of :attr:`now`
        self._sink: SinkFns = (self._send, self._set_timer, self._cancel_timer, self._observe, self._persist,
                               self._sync)
        self.hold_syncs = hold_syncs
        self.disks: dict[NodeId, SimDisk] = {}
        self._storage_faults: StorageFaults = storage_faults
        self._synced: list[tuple[NodeId, Any]] = []  # Synced inputs due after the current step
        self.history: list[Any] = []
        self.crashed: set[NodeId] = set()
        self.groups: list[frozenset[NodeId]] | None = None
        self.filters: list[Filter] = []
        self.delivered = 0
        self.dropped = 0
        for i in self.replicas + self.clients:
            self.nodes[i] = self._build(i)
        for i in self.replicas + self.clients:
            self._step(i, Start())

    # ---------------------------------------------------------------- build
    def context(self, node: NodeId) -> NodeContext:
        return NodeContext(
            node_id=node,
            n=self.n,
            f=self.f,
            replicas=self.replicas,
            clients=self.clients,
            crypto=self._crypto[node],
            rng=seeds.rng(self.seed, f"node/{node}"),
            params=self.params,
        )

    def _build(self, node: NodeId) -> Any:
        ctx = self.context(node)
        return self._replica_factory(ctx) if node < self.n else self.spec.make_client(ctx)

    def crypto(self, node: NodeId) -> Any:
        """The node's crypto object (a test may use it to play a Byzantine node)."""
        return self._crypto[node]

    # ------------------------------------------------------------- stepping
    def _step(self, node: NodeId, inp: Any) -> None:
        self._step_one(node, inp)
        self._deliver_synced()

    def _step_one(self, node: NodeId, inp: Any) -> None:
        if node in self.crashed:
            return
        actions = self.nodes[node].step(self.now, inp)
        self._crypto[node].meter.drain()
        run_actions(node, self.now, actions, self._sink)

    def _deliver_synced(self, max_rounds: int = 10_000) -> None:
        for _ in range(max_rounds):  # a Synced step that syncs again is answered in the next round
            if not self._synced:
                return
            todo, self._synced = self._synced, []
            for nid, token in todo:
                self._step_one(nid, Synced(token))
        raise InvariantError(f"Harness: nodes kept syncing for {max_rounds} rounds of Synced")

    # ---------------------------------------------------------------- storage
    def disk(self, node: NodeId) -> SimDisk:
        """``node``'s simulated disk (records, durable prefix, stats)."""
        d = self.disks.get(node)
        if d is None:
            d = self.disks[node] = SimDisk(0, 0, self._storage_faults, seeds.rng(self.seed, f"storage/{node}"))
        return d

    def _persist(self, node: NodeId, t: float, key: str, value: bytes) -> None:
        self.disk(node).persist(0, key, value)

    def _sync(self, node: NodeId, t: float, token: Any) -> None:
        d = self.disk(node)
        d.sync(0, token)
        if not self.hold_syncs:
            self._complete(node, d)

    def _complete(self, node: NodeId, d: SimDisk) -> int:
        answered = 0
        while d.inflight is not None:  # fsync_done starts the next fsync only for Syncs already waiting
            tokens, _ = d.fsync_done(0)
            self._synced.extend((node, tok) for tok in tokens)
            answered += len(tokens)
        return answered

    def pending_syncs(self, node: NodeId) -> int:
        """Syncs of ``node`` not answered yet (only with ``hold_syncs``)."""
        d = self.disks.get(node)
        return 0 if d is None else len(d.waiting) + (len(d.inflight[1]) if d.inflight else 0)

    def complete_syncs(self, node: NodeId | None = None) -> int:
        """Make held Syncs durable (of one node, or all) and deliver their ``Synced``; returns how many."""
        answered = 0
        for nid in sorted(self.disks) if node is None else [node]:
            if nid not in self.crashed and nid in self.disks:
                answered += self._complete(nid, self.disks[nid])
        self._deliver_synced()
        return answered

    # The action sink (see bftlab.core.host.ActionSink); ``t`` is :attr:`now`.
    def _send(self, node: NodeId, t: float, to: tuple[NodeId, ...], msg: Any) -> None:
        for r in to:
            self._enqueue(node, r, msg)

    def _set_timer(self, node: NodeId, t: float, name: TimerName, delay_s: float) -> None:
        self.timers.schedule(node, name, t + delay_s)

    def _cancel_timer(self, node: NodeId, t: float, name: TimerName) -> None:
        self.timers.cancel(node, name)

    def _observe(self, node: NodeId, t: float, event: Any) -> None:
        self.history.append(event)

    def _enqueue(self, sender: NodeId, receiver: NodeId, msg: Any) -> None:
        if receiver not in self.nodes:
            raise InvariantError(f"node {sender} sent to unknown node {receiver}")
        self.queue.append(Envelope(sender, receiver, msg))

    def inject(self, sender: NodeId, receiver: NodeId, msg: Any) -> None:
        """Put a message in flight as if ``sender`` sent it (for Byzantine scenarios)."""
        self._enqueue(sender, receiver, msg)

    def submit(self, client: NodeId, op: bytes) -> None:
        if client not in self.clients:
            raise UsageError(f"submit: {client} is not a client id (clients are {self.clients})")
        self._step(client, Submit(op))

    def _blocked(self, env: Envelope) -> bool:
        if env.receiver in self.crashed or env.sender in self.crashed:
            return True
        if self.groups is not None:
            ga = next((g for g in self.groups if env.sender in g), None)
            if ga is None or env.receiver not in ga:
                return True
        return any(f(env) for f in self.filters)

    def _deliver_one(self, env: Envelope) -> None:
        if self._blocked(env):
            self.dropped += 1
            return
        msg = wire.decode(wire.encode(env.msg)) if self.wire_roundtrip else env.msg
        self.delivered += 1
        self._step(env.receiver, Receive(env.sender, msg))

    def deliver(self, match: Filter | None = None, max_msgs: int = 1_000_000) -> int:
        """Deliver queued messages matching ``match`` (all if None), FIFO, including ones they cause.

        Non-matching messages stay queued in order. Returns the number handled.
        """
        handled = 0
        kept: deque[Envelope] = deque()
        while self.queue and handled < max_msgs:
            env = self.queue.popleft()
            if match is not None and not match(env):
                kept.append(env)
                continue
            handled += 1
            self._deliver_one(env)
        kept.extend(self.queue)
        self.queue = kept
        return handled

    def deliver_all(self, max_msgs: int = 1_000_000) -> int:
        return self.deliver(None, max_msgs)

    def drop(self, match: Filter | None = None) -> int:
        """Remove queued messages matching ``match`` (all if None); returns how many."""
        before = len(self.queue)
        self.queue = deque(e for e in self.queue if match is not None and not match(e))
        n = before - len(self.queue)
        self.dropped += n
        return n

    def pending(self, match: Filter | None = None) -> list[Envelope]:
        return [e for e in self.queue if match is None or match(e)]

    def add_filter(self, match: Filter) -> Filter:
        """Drop every future delivery matching ``match`` until :meth:`remove_filter`."""
        self.filters.append(match)
        return match

    def remove_filter(self, match: Filter) -> None:
        self.filters.remove(match)

    # ---------------------------------------------------------------- timers
    def next_deadline(self) -> float | None:
        """The earliest deadline of an armed timer, or None."""
        return self.timers.next_deadline()

    def fire_timers(self, max_fires: int = 100_000) -> int:
        """Fire every timer whose deadline has passed, in (deadline, insertion) order."""
        fired = 0
        while fired < max_fires:
            due = self.timers.pop_due(self.now)
            if due is None:
                break
            fired += 1
            self._step(due[0], TimerFired(due[1]))
        return fired

    def advance(self, seconds: float, max_fires: int = 100_000) -> int:
        """Move the clock forward, firing timers as their deadlines pass (messages stay queued)."""
        if seconds < 0:
            raise UsageError(f"advance: seconds must be >= 0, got {seconds}")
        target = self.now + seconds
        fired = 0
        while fired < max_fires:
            d = self.next_deadline()
            if d is None or d > target:
                break
            self.now = max(self.now, d)
            fired += self.fire_timers(max_fires - fired)
        self.now = target
        return fired

    # ---------------------------------------------------------------- faults
    def crash(self, node: NodeId) -> None:
        """Stop ``node``: queued messages to it and its timers are lost."""
        self.crashed.add(node)
        self.queue = deque(e for e in self.queue if e.receiver != node)
        self.timers.clear(node)
        self._synced = [(nid, tok) for nid, tok in self._synced if nid != node]
        if node in self.disks:
            self.disks[node].crash()

    def recover(self, node: NodeId, *, amnesia: bool | None = None) -> None:
        """Restart ``node`` and deliver ``Start(recovered)`` (what its disk holds).

        With ``amnesia`` it is rebuilt from its factory (its memory is lost), else it keeps its memory;
        the default is the protocol's crash model: rebuilt if it is ``durable``.
        """
        self.crashed.discard(node)
        if amnesia is None:
            amnesia = self.spec.durable and node < self.n
        if amnesia:
            self.nodes[node] = self._build(node)
        recovered = self.disks[node].recover() if node in self.disks else {}
        self._step(node, Start(recovered))

    def partition(self, groups: Iterable[Iterable[NodeId]]) -> None:
        """Only nodes in the same group can talk; nodes in no group are isolated."""
        self.groups = [frozenset(g) for g in groups]

    def heal(self) -> None:
        self.groups = None

    # ------------------------------------------------------------- stabilize
    def stabilize(self, max_steps: int = 200_000, max_time_s: float = 60.0) -> bool:
        """Deliver messages and fire timers until nothing is in flight and no timer is armed.

        Bounded by ``max_steps`` deliveries+firings and ``max_time_s`` of simulated time
        from now. Returns True if it became quiescent.
        """
        deadline = self.now + max_time_s
        steps = 0
        while steps < max_steps:
            if self.queue:
                steps += self.deliver_all(max_steps - steps)
                continue
            d = self.next_deadline()
            if d is None:
                return True
            if d > deadline:
                return False
            self.now = max(self.now, d)
            steps += self.fire_timers(max_steps - steps)
        return False

    def run_until(self, predicate: Callable[[], bool], max_steps: int = 200_000, max_time_s: float = 60.0) -> bool:
        """Like :meth:`stabilize` but stops as soon as ``predicate()`` holds."""
        deadline = self.now + max_time_s
        steps = 0
        while steps < max_steps:
            if predicate():
                return True
            if self.queue:
                self._deliver_one(self.queue.popleft())
                steps += 1
                continue
            d = self.next_deadline()
            if d is None or d > deadline:
                return predicate()
            self.now = max(self.now, d)
            steps += self.fire_timers(1)
        return predicate()

    # --------------------------------------------------------------- history
    def events(self, kind: type) -> list[Any]:
        return [e for e in self.history if isinstance(e, kind)]

    def accepted(self) -> list[Accepted]:
        return self.events(Accepted)

    def executed_by(self, node: NodeId) -> list[Executed]:
        return [e for e in self.history if isinstance(e, Executed) and e.node == node]
