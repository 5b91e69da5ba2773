"""Discrete-event kernel: one heap, a virtual clock in integer nanoseconds.

Events are ``(time_ns * 4 + priority, counter, fn, arg)`` tuples (one integer
key keeps heap comparisons cheap). Simultaneous events run in a documented,
deterministic order: lower ``priority`` first (:data:`PRIO_CONTROL` <
:data:`PRIO_NET` < :data:`PRIO_TIMER`), then in the order they were scheduled
(the counter). Time is an integer so that sums of
delays are exact and identical on every machine; protocol code sees seconds
(``now_ns / 1e9``).

The kernel knows nothing about nodes or networks: it calls ``fn(arg)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Any

PRIO_CONTROL = 0
"""Faults, partitions and workload arrivals: they happen before anything else at an instant."""
PRIO_NET = 1
"""Message deliveries and node processing."""
PRIO_TIMER = 2
"""Timers fire after messages that arrive at the same instant."""

NS = 1_000_000_000


def to_ns(seconds: float) -> int:
    return int(round(seconds * NS))


class Kernel:
    """The event loop. ``schedule`` events, then ``run`` until a limit or ``stop``."""

    __slots__ = ("now", "events", "_heap", "_count", "_running")

    def __init__(self) -> None:
        self.now = 0
        self.events = 0
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._count = itertools.count(1)
        self._running = False

    def schedule(self, at_ns: int, fn: Callable[[Any], None], arg: Any = None, prio: int = PRIO_NET) -> None:
        """Run ``fn(arg)`` at absolute time ``at_ns``; a time in the past means now."""
        now = self.now
        heappush(self._heap, (((at_ns if at_ns > now else now) << 2) | prio, next(self._count), fn, arg))

    def schedule_unchecked(self, at_ns: int, fn: Callable[[Any], None], arg: Any = None, prio: int = PRIO_NET) -> None:
        """``schedule`` for callers that guarantee ``at_ns >= now`` (``now`` plus a non-negative delay).

        The runtime's per-message path uses it; a time in the past would move
        the clock backwards, so anything computed from user input goes through
        ``schedule``.
        """
        heappush(self._heap, ((at_ns << 2) | prio, next(self._count), fn, arg))

    def stop(self) -> None:
        """Make ``run`` return before any other event (later ones stay queued)."""
        # a negative counter sorts before every event already queued for this instant
        heappush(self._heap, (self.now << 2, -next(self._count), _halt, None))

    def pending(self) -> int:
        return len(self._heap)

    def run(self, until_ns: int | None = None, max_events: int | None = None) -> None:
        """Process events in order until the heap empties, ``until_ns`` or ``max_events``.

        The loop body is a pop, a clock update and a call: the time limit and
        ``stop`` are sentinel events that raise, and an empty heap ends the run
        through the pop's IndexError, so none of them costs a check per event.
        The loop does not count either: the number of events run follows from
        the queue length and the counter afterwards.
        """
        if self._running:
            raise RuntimeError("Kernel.run is not re-entrant: schedule work from callbacks instead")
        self._running = True
        heap = self._heap
        pop = heappop
        count = self._count
        queued_before = len(heap)
        c0 = next(count)
        sentinel = None
        if until_ns is not None:
            sentinel = ((until_ns << 2) | 3, -next(count), _halt, None)
            heappush(heap, sentinel)
        halted = 0
        try:
            if max_events is None:
                while True:
                    key, _c, fn, arg = pop(heap)
                    self.now = key >> 2
                    fn(arg)
            else:
                for _ in range(max_events):
                    key, _c, fn, arg = pop(heap)
                    self.now = key >> 2
                    fn(arg)
        except _Halt:
            halted = 1
        except IndexError as exc:
            # an empty heap ends the run; an IndexError from inside a callback is a bug to report
            if exc.__traceback__ is None or exc.__traceback__.tb_next is not None or heap:
                raise
        finally:
            # Also when a callback raised: the events that ran (the failing one
            # included) are counted and the time limit does not outlive this run.
            queued_after = len(heap)
            if sentinel is not None and sentinel in heap:
                heap.remove(sentinel)
                heapify(heap)
            # every push since c0 took one counter value, the sentinels too
            self.events += queued_before + (next(count) - c0 - 1) - queued_after - halted
            self._running = False


class _Halt(Exception):
    pass


def _halt(_arg: object) -> None:
    raise _Halt
