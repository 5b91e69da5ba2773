"""The simulated runtime: hosts sans-IO nodes on the kernel and the network model.

Each node processes its inputs one at a time, in arrival order. Handling an
input costs simulated CPU time: a base cost, a per-byte cost for received
messages, and whatever crypto the node did (drained from its
:class:`~bftlab.api.CostMeter`). Actions produced by a step take effect when
the step finishes: messages depart then, timers are armed from then. So a
replica that has more work than time queues up, and throughput saturates as
it does on a real machine.

Actions go through the interpreter every runtime shares
(:func:`bftlab.core.host.run_actions`); this module is its sink on the kernel:
a timer is a kernel event carrying the generation the shared
:class:`~bftlab.core.host.TimerTable` gave it, so a re-armed, cancelled or
crashed node's timer fires into nothing.

A crashed node loses its inbox, its armed timers and every message sent to it
while down. What it keeps depends on its crash model (``run.crash_model`` in
the report):

* ``memory-kept`` (a node added without a ``rebuild`` factory): it keeps its
  memory, as if everything were persisted, and receives :class:`Start` again;
* ``persisted-state`` (protocols that declare ``durable``): its memory is lost;
  on recovery it is rebuilt by its factory and receives ``Start(recovered)``,
  the latest durable value per key of its simulated disk.

``Persist``/``Sync`` go to the node's :class:`~bftlab.core.storage.SimDisk`
(created on first use, so a protocol that never persists costs nothing and its
event sequence is unchanged): a Sync's ``Synced`` input arrives when the
fsync that covers it completes, in simulated time; a crash cancels the Syncs
in flight and applies ``storage.faults`` to unsynced records.

Every delivered message is folded into ``trace_digest`` as
``(time_ns, src, dst, encoded bytes)``: the same spec and seed give the same
digest on any machine.

With ``keep_trace`` the runtime also lists every message in :attr:`SimRuntime.trace`
as ``(time_ns, src, dst, type name, sent_ns, drop)``: ``drop`` is ``""`` for a
delivery at ``time_ns``, else why it was lost (``network``: partition or loss,
``adversary``, ``receiver_down``) and ``time_ns`` is when. The send time rides in
the delivery event, which is one tuple slot whether tracing or not.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from bftlab.api import Node, NodeId, Receive, Start, Synced, TimerFired, TimerName
from bftlab.core import wire
from bftlab.core.costs import CpuCosts
from bftlab.core.host import SinkFns, TimerTable, node_raised, run_actions
from bftlab.core.kernel import NS, PRIO_CONTROL, PRIO_NET, PRIO_TIMER, Kernel
from bftlab.core.storage import SimDisk
from bftlab.sim.network import Network

_HDR = struct.Struct("<qii")

Observer = Callable[[int, Any], None]  # (time_ns, event)
Router = Callable[[int, int, Any, bytes, int], "list[int] | None"]
DiskFactory = Callable[[NodeId], SimDisk]
Rebuild = Callable[[NodeId, int], Node]  # (node id, incarnation >= 1) -> a fresh node


class _Host:
    """Runtime bookkeeping for one node."""

    __slots__ = ("node", "inbox", "busy_until", "scheduled", "alive", "costed", "meter", "crash_pending", "disk",
                 "rebuild", "boots")

    def __init__(self, node: Node, costed: bool) -> None:
        self.node = node
        self.inbox: deque = deque()
        self.busy_until = 0
        self.scheduled = False
        self.alive = True
        self.costed = costed
        self.meter: Any = None
        self.crash_pending = False
        self.disk: SimDisk | None = None
        self.rebuild: Rebuild | None = None
        self.boots = 0


class SimRuntime:
    """Runs nodes on a :class:`Kernel` over a :class:`Network`."""

    def __init__(
        self,
        kernel: Kernel,
        network: Network,
        costs: CpuCosts,
        observer: Observer,
        keep_trace: bool = False,
        disks: DiskFactory | None = None,
    ) -> None:
        self.kernel = kernel
        self.network = network
        self.costs = costs
        self._base_ns = int(costs.base_us * 1e3)
        self._byte_ns = costs.per_byte_ns
        self.observer = observer
        self.hosts: dict[NodeId, _Host] = {}
        self._digest = hashlib.blake2b(digest_size=32)
        self.trace: list[tuple[int, int, int, str, int, str]] | None = [] if keep_trace else None
        self.router: Router | None = None
        self.msgs_by_type: dict[str, int] = {}
        self.msgs_total = 0
        self.bytes_total = 0
        self.delivered = 0
        self.dropped: dict[str, int] = {}
        self.timers = TimerTable()
        # Without a factory (tests, benchmarks): instant disks without faults, so their stream is never drawn.
        self._disks = disks or (lambda nid: SimDisk(0, 0, "none", random.Random(0)))
        # The action sink's methods, bound once: the interpreter is called on every step.
        self._sink: SinkFns = (self._send, self._set_timer, self._cancel_timer, self._observe, self._persist,
                               self._sync)

    # ------------------------------------------------------------ set-up
    def add_node(self, node: Node, meter: Any = None, costed: bool = True, rebuild: Rebuild | None = None) -> None:
        """Host ``node``. With ``rebuild`` it has the persisted-state crash model (see the module docstring)."""
        host = _Host(node, costed)
        if meter is not None:
            host.meter = meter
        host.rebuild = rebuild
        self.hosts[node.node_id] = host

    def start_all(self) -> None:
        for nid in sorted(self.hosts):
            self.kernel.schedule(0, self._boot, nid, PRIO_CONTROL)

    def _boot(self, nid: NodeId) -> None:
        h = self.hosts[nid]
        if h.alive:  # a node crashed at t=0 boots when it recovers
            self._enqueue(h, Start(), 0)

    # ------------------------------------------------------------ faults
    def crash(self, nid: NodeId) -> None:
        """Stop ``nid``. A step in progress finishes first: nodes crash between steps,
        so no output of a step can appear after the node is down."""
        h = self.hosts[nid]
        if h.busy_until > self.kernel.now:
            h.crash_pending = True
            self.kernel.schedule(h.busy_until, self._crash_when_idle, nid, PRIO_CONTROL)
            return
        h.crash_pending = False
        h.alive = False
        h.inbox.clear()
        self.timers.clear(nid)
        if h.disk is not None:
            h.disk.crash()

    def _crash_when_idle(self, nid: NodeId) -> None:
        if self.hosts[nid].crash_pending:  # a recovery in between cancels it
            self.crash(nid)

    def recover(self, nid: NodeId) -> None:
        h = self.hosts[nid]
        h.crash_pending = False
        if h.alive:
            return
        h.alive = True
        h.busy_until = max(h.busy_until, self.kernel.now)
        recovered = h.disk.recover() if h.disk is not None else {}
        if h.rebuild is not None:  # its memory died with it: a fresh node, from what it persisted
            h.boots += 1
            h.node = h.rebuild(nid, h.boots)
        self._enqueue(h, Start(recovered), 0)

    def inject(self, nid: NodeId, inp: Any) -> None:
        """Hand an input (e.g. :class:`Submit`) to a node now."""
        h = self.hosts[nid]
        if h.alive:
            self._enqueue(h, inp, 0)

    # ------------------------------------------------------------ processing
    def _enqueue(self, h: _Host, inp: Any, nbytes: int) -> None:
        h.inbox.append((inp, nbytes))
        if not h.scheduled:
            h.scheduled = True
            now = self.kernel.now
            self.kernel.schedule_unchecked(h.busy_until if h.busy_until > now else now, self._process, h, PRIO_NET)

    def _process(self, h: _Host) -> None:
        h.scheduled = False
        if not h.alive or not h.inbox:
            return
        inp, nbytes = h.inbox.popleft()
        self._step(h, inp, nbytes)

    def _step(self, h: _Host, inp: Any, nbytes: int) -> None:
        now = self.kernel.now
        try:
            actions = h.node.step(now / NS, inp)
        except Exception as exc:  # a protocol bug, not a peer's fault
            raise node_raised(h.node.node_id, now / NS, inp, exc) from exc
        done = now
        if h.costed:
            cost = self._base_ns + int(nbytes * self._byte_ns)
            if h.meter is not None:
                cost += int(h.meter.drain() * NS)
            done = now + cost
        elif h.meter is not None:
            h.meter.drain()
        h.busy_until = done
        if actions:
            run_actions(h.node.node_id, done, actions, self._sink)
        if h.inbox and not h.scheduled:
            h.scheduled = True
            self.kernel.schedule_unchecked(done, self._process, h, PRIO_NET)

    # ------------------------------------------------------------ the action sink
    def _set_timer(self, nid: NodeId, t: int, name: TimerName, delay_s: float) -> None:
        gen = self.timers.arm(nid, name)
        self.kernel.schedule(t + int(delay_s * NS), self._fire, (nid, name, gen), PRIO_TIMER)

    def _cancel_timer(self, nid: NodeId, t: int, name: TimerName) -> None:
        self.timers.cancel(nid, name)

    def _observe(self, nid: NodeId, t: int, event: Any) -> None:
        self.observer(t, event)

    def _disk(self, nid: NodeId) -> tuple[_Host, SimDisk]:
        h = self.hosts[nid]
        if h.disk is None:
            h.disk = self._disks(nid)
        return h, h.disk

    def _persist(self, nid: NodeId, t: int, key: str, value: bytes) -> None:
        self._disk(nid)[1].persist(t, key, value)

    def _sync(self, nid: NodeId, t: int, token: Any) -> None:
        h, disk = self._disk(nid)
        done = disk.sync(t, token)
        if done is not None:
            self.kernel.schedule(done, self._fsync_done, (h, disk.incarnation), PRIO_NET)

    def _fsync_done(self, arg: tuple) -> None:
        h, incarnation = arg
        disk = h.disk
        if disk is None or disk.incarnation != incarnation:  # the node crashed while this fsync was in flight
            return
        tokens, nxt = disk.fsync_done(self.kernel.now)
        if nxt is not None:
            self.kernel.schedule(nxt, self._fsync_done, (h, incarnation), PRIO_NET)
        for token in tokens:
            self._enqueue(h, Synced(token), 0)

    def storage_stats(self) -> dict[str, int]:
        """Totals over the nodes' disks (empty if no node ever persisted or synced)."""
        out: dict[str, int] = {}
        for nid in sorted(self.hosts):
            disk = self.hosts[nid].disk
            if disk is not None:
                for k, v in disk.stats.items():
                    out[k] = out.get(k, 0) + v
        return out

    def _fire(self, arg: tuple) -> None:
        nid, name, gen = arg
        if self.timers.take(nid, name, gen):  # a crashed node's timers were cleared, so they are stale here
            self._enqueue(self.hosts[nid], TimerFired(name), 0)

    # ------------------------------------------------------------ network
    def _send(self, src: NodeId, t: int, dsts: tuple, msg: Any) -> None:
        data = wire.encode(msg)
        size = len(data)
        name = type(msg).__name__
        k = len(dsts) - (src in dsts)
        self.msgs_by_type[name] = self.msgs_by_type.get(name, 0) + k
        self.msgs_total += k
        self.bytes_total += size * k
        schedule = self.kernel.schedule_unchecked  # t >= now, and the network model never goes back in time
        arrival = self.network.arrival
        router = self.router
        for dst in dsts:
            if dst == src:
                schedule(t, self._deliver, (src, dst, msg, data, t), PRIO_NET)
                continue
            if router is not None:
                times = router(src, dst, msg, data, t)
                if times is None:
                    if self.trace is not None:
                        self.trace.append((t, src, dst, name, t, "adversary"))
                    continue
                for when in times:  # an adversary's times may lie in the past: the kernel clamps them
                    self.kernel.schedule(when, self._deliver, (src, dst, msg, data, t), PRIO_NET)
                continue
            at = arrival(src, dst, size, t)
            if at is not None:
                schedule(at, self._deliver, (src, dst, msg, data, t), PRIO_NET)
            elif self.trace is not None:  # only lost messages pay for this check
                self.trace.append((t, src, dst, name, t, "network"))

    def _deliver(self, ev: tuple) -> None:
        src, dst, msg, data, sent = ev
        h = self.hosts.get(dst)
        if h is None or not h.alive:
            self.dropped["receiver_down"] = self.dropped.get("receiver_down", 0) + 1
            if self.trace is not None:
                self.trace.append((self.kernel.now, src, dst, type(msg).__name__, sent, "receiver_down"))
            return
        now = self.kernel.now
        self.delivered += 1
        self._digest.update(_HDR.pack(now, src, dst) + data)
        if self.trace is not None:
            self.trace.append((now, src, dst, type(msg).__name__, sent, ""))
        if not h.scheduled and h.busy_until <= now and not h.inbox:
            self._step(h, Receive(src, msg), len(data))  # idle node: no need for a second heap event
        else:
            self._enqueue(h, Receive(src, msg), len(data))

    def trace_digest(self) -> str:
        return self._digest.copy().hexdigest()
