"""What every runtime does with a node's actions: one interpreter and one timer table.

A node's ``step`` returns a list of actions (:mod:`bftlab.api`). The simulated
runtime (:mod:`bftlab.sim.runtime`), the trio runtime
(:mod:`bftlab.transport.runtime`) and the public test harness
(:mod:`bftlab.testing`) all hand that list to :func:`run_actions`, which routes
each action to the runtime's :class:`ActionSink`; so an action means the same
thing everywhere (``Persist``/``Sync`` included: each runtime has a storage
behind its sink, see :mod:`bftlab.core.storage`), and a node that returns something else fails the same way
everywhere (an :class:`~bftlab.errors.InvariantError` naming the node and the
action: a protocol bug, never a peer's fault).

Each runtime keeps its own notion of time and its own scheduler (the kernel's
heap, trio's clock, a test that advances the clock by hand); they share the
bookkeeping of named timers, :class:`TimerTable`:

* a node has at most one armed timer per name: re-arming replaces it, and
  cancelling a timer that is not armed is a no-op;
* every arming gets a fresh generation number, so a fire that a runtime
  scheduled earlier is recognised as stale (re-armed, cancelled, or its node
  crashed since) by :meth:`TimerTable.take` and ignored;
* :meth:`TimerTable.clear` forgets a crashed node's timers.

:class:`TimerQueue` adds the deadline order for runtimes that have no event
heap of their own: due timers come out by (deadline, arming order), so
simultaneous deadlines fire in the order they were armed, as the kernel orders
simultaneous events by insertion.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from bftlab.api import Broadcast, CancelTimer, NodeId, Observe, Persist, Send, SetTimer, Sync, TimerName
from bftlab.errors import InvariantError

__all__ = ["ActionSink", "SinkFns", "TimerQueue", "TimerTable", "bind", "execute", "node_raised", "run_actions"]


class ActionSink(Protocol):
    """Where a runtime executes actions. ``t`` is the step's time in the runtime's own clock
    (integer ns in the simulator, seconds elsewhere): when the step's outputs take effect."""

    def send(self, node: NodeId, t: Any, to: tuple[NodeId, ...], msg: Any) -> None:
        """``node`` sends ``msg`` to every id in ``to`` (a :class:`~bftlab.api.Send` is a 1-tuple)."""
        ...

    def set_timer(self, node: NodeId, t: Any, name: TimerName, delay_s: float) -> None:
        """(Re)arm ``node``'s timer ``name`` to fire ``delay_s`` seconds after ``t``."""
        ...

    def cancel_timer(self, node: NodeId, t: Any, name: TimerName) -> None:
        """Disarm ``node``'s timer ``name`` if it is armed."""
        ...

    def observe(self, node: NodeId, t: Any, event: Any) -> None:
        """A history event for the oracles and metrics (or a test's history)."""
        ...

    def persist(self, node: NodeId, t: Any, key: str, value: bytes) -> None:
        """Append ``key = value`` to ``node``'s stable log (not yet durable)."""
        ...

    def sync(self, node: NodeId, t: Any, token: Any) -> None:
        """Make ``node``'s records so far durable, then hand it ``Synced(token)`` (unless it crashes first)."""
        ...


SinkFns = tuple[
    Callable[[NodeId, Any, tuple, Any], None],  # send
    Callable[[NodeId, Any, Any, float], None],  # set_timer
    Callable[[NodeId, Any, Any], None],  # cancel_timer
    Callable[[NodeId, Any, Any], None],  # observe
    Callable[[NodeId, Any, str, bytes], None],  # persist
    Callable[[NodeId, Any, Any], None],  # sync
]
"""An :class:`ActionSink`'s six methods, bound once (see :func:`bind`); a runtime may also list its own."""


def bind(sink: ActionSink) -> SinkFns:
    """The methods of ``sink`` in the order :func:`run_actions` takes them.

    A sink written before the storage seam (no ``persist``/``sync``) still binds:
    a node that asks it to store something fails loudly instead of losing data.
    """
    persist = getattr(sink, "persist", None) or _no_storage(sink, "Persist")
    sync = getattr(sink, "sync", None) or _no_storage(sink, "Sync")
    return (sink.send, sink.set_timer, sink.cancel_timer, sink.observe, persist, sync)


def _no_storage(sink: Any, action: str) -> Callable[..., None]:
    def refuse(node: NodeId, t: Any, *args: Any) -> None:
        raise InvariantError(f"node {node} returned {action} but {type(sink).__name__} has no storage")

    return refuse


def run_actions(node: NodeId, t: Any, actions: Iterable[Any], sink: SinkFns) -> None:
    """Execute ``node``'s ``actions`` of a step at time ``t``, in order, through a sink's bound methods.

    The methods come bound in one tuple so that the simulator binds them once,
    not per step: this loop is on its hottest path, which is also why it
    dispatches on exact types (the action classes are final, slotted dataclasses).
    """
    send, set_timer, cancel_timer, observe, persist, sync = sink
    for a in actions:
        cls = type(a)
        if cls is Send:
            send(node, t, (a.to,), a.msg)
        elif cls is Broadcast:
            send(node, t, a.to, a.msg)
        elif cls is SetTimer:
            set_timer(node, t, a.name, a.delay_s)
        elif cls is CancelTimer:
            cancel_timer(node, t, a.name)
        elif cls is Observe:
            observe(node, t, a.event)
        elif cls is Persist:
            persist(node, t, a.key, a.value)
        elif cls is Sync:
            sync(node, t, a.token)
        else:
            raise InvariantError(f"node {node} returned an unknown action {a!r:.200}")


def execute(node: NodeId, t: Any, actions: Iterable[Any], sink: ActionSink) -> None:
    """:func:`run_actions` with the methods of ``sink`` (bound on each call: for tests and cold paths)."""
    run_actions(node, t, actions, bind(sink))


def node_raised(node: NodeId, now_s: float, inp: Any, exc: BaseException) -> InvariantError:
    """The error a runtime raises (``from exc``) when a node's ``step`` raised: a protocol bug, not a peer's fault."""
    return InvariantError(f"node {node} raised {type(exc).__name__} at t={now_s:.6f}s on {inp!r:.200}")


class TimerTable:
    """The armed named timers of a runtime's nodes, by generation (see the module docstring)."""

    __slots__ = ("_gen", "_seq")

    def __init__(self) -> None:
        self._gen: dict[tuple[NodeId, TimerName], int] = {}
        self._seq = 0

    def arm(self, node: NodeId, name: TimerName) -> int:
        """(Re)arm ``node``'s timer ``name``; returns its generation, which the runtime keeps with the fire it
        schedules."""
        self._seq += 1
        self._gen[(node, name)] = self._seq
        return self._seq

    def cancel(self, node: NodeId, name: TimerName) -> None:
        self._gen.pop((node, name), None)

    def take(self, node: NodeId, name: TimerName, gen: int) -> bool:
        """A scheduled fire of generation ``gen`` is due: True (and the timer is disarmed) if it is still
        the armed one, False if it is stale (re-armed, cancelled or cleared since)."""
        key = (node, name)
        if self._gen.get(key) != gen:
            return False
        del self._gen[key]
        return True

    def live(self, node: NodeId, name: TimerName, gen: int) -> bool:
        """Whether generation ``gen`` of the timer is still armed (without disarming it)."""
        return self._gen.get((node, name)) == gen

    def clear(self, node: NodeId) -> None:
        """Forget every timer of ``node`` (it crashed: its pending fires become stale)."""
        for key in [k for k in self._gen if k[0] == node]:
            del self._gen[key]

    def armed(self, node: NodeId | None = None) -> list[tuple[NodeId, TimerName]]:
        """``(node, name)`` of the armed timers (of one node, or all), in arming order."""
        items = sorted(self._gen.items(), key=lambda kv: kv[1])
        return [k for k, _ in items if node is None or k[0] == node]

    def __len__(self) -> int:
        return len(self._gen)


class TimerQueue(TimerTable):
    """A :class:`TimerTable` that also orders deadlines, for runtimes without an event heap.

    Deadlines are numbers in the runtime's clock. Stale entries (re-armed,
    cancelled, cleared) stay in the heap until they reach its top, where they
    are discarded without firing.
    """

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        super().__init__()
        self._heap: list[tuple[Any, int, NodeId, TimerName]] = []

    def schedule(self, node: NodeId, name: TimerName, deadline: Any) -> int:
        """(Re)arm ``node``'s timer ``name`` to fire at ``deadline``; returns its generation."""
        gen = self.arm(node, name)
        heapq.heappush(self._heap, (deadline, gen, node, name))
        return gen

    def next_deadline(self) -> Any | None:
        """The earliest deadline of an armed timer, or None."""
        heap, gens = self._heap, self._gen
        while heap:
            deadline, gen, node, name = heap[0]
            if gens.get((node, name)) == gen:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: Any) -> tuple[NodeId, TimerName] | None:
        """Disarm and return the first armed timer due at ``now`` (by deadline, then arming order), or None."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, gen, node, name = heapq.heappop(heap)
            if self.take(node, name, gen):
                return node, name
        return None

    def due(self, now: Any) -> Iterator[tuple[NodeId, TimerName]]:
        """Pop due timers one at a time (a timer armed by a fired one's step is seen if it is due too)."""
        while (item := self.pop_due(now)) is not None:
            yield item
