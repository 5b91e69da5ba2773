"""The trio runtime: hosts sans-IO nodes in one process and connects them over TCP.

One :class:`Host` runs one replica (or a group of clients) and executes its
actions with the interpreter every runtime shares
(:func:`bftlab.core.host.run_actions`), so they mean what they mean in
:mod:`bftlab.sim.runtime`: ``Send``/``Broadcast`` become messages queued on
per-peer connections, ``SetTimer``/``CancelTimer`` arm and disarm timers in the
shared :class:`~bftlab.core.host.TimerQueue`, whose deadlines are on trio's
clock, ``Observe`` goes to a callback. Inputs are stepped one at a time by a
single task, so a node never sees concurrency.

The clock nodes see is seconds since the run's epoch: the launcher's ``go``
(:meth:`Host.start_clock`), or the host's start if nobody sets one. Nodes are
booted (``Start``) only once the epoch is known.

Throughput: the stepper drains every input already waiting before it yields,
and each connection's writer then sends everything its node queued meanwhile
as one frame (one MAC, one ``send``; see :mod:`bftlab.transport.framing`). On
loopback the per-``send`` cost dominates, so this matters more than anything
done per message.

Connections: between two processes there is exactly one, dialled by the side
with the higher node ids (a replica dials every lower replica, clients dial all
replicas), so there are no duplicate-connection races. A dialler reconnects
with jittered exponential back-off; a new connection from a restarted peer
replaces the old one.

Network adversary: with a ``router`` (:mod:`bftlab.transport.adversary`) every
outgoing message is first shown to the spec's network strategies, which drop
it, pass it, or send copies after extra delays. Delayed copies wait in a
per-destination queue capped at ``delay_queue_bytes`` and are sealed only when
released, so they never block the stepper and never break the replay counter.

Back-pressure and memory bounds:

* inbound: each connection's reader hands decoded chunks to one bounded inbox
  and waits while it is full, so a fast sender is slowed down by TCP flow
  control instead of growing our memory;
* outbound: each connection has a send queue capped at ``send_queue_bytes``;
  a message that does not fit is dropped and counted, as a lossy link would
  drop it, so a slow or stalled peer can never block the replica or exhaust
  memory (BFT protocols retransmit what matters);
* a frame longer than ``max_frame_bytes`` closes the connection before its body
  is buffered; concurrent connections are capped.

The front door: an accepted connection is unauthenticated until its handshake
completes, and it must complete within ``handshake_timeout_s`` (counted from
the accept, so a socket that never sends a byte is closed too). At most
``max_unauthenticated`` such connections wait at once; a new one beyond that
evicts the oldest waiting one (counted as ``conn.refused_unauthenticated``).
Evicting the oldest rather than refusing the newest matters: a legitimate
peer's handshake takes one round trip, so however many idle sockets an
attacker holds, the peer's fresh connection outlives them. Authenticated
connections never count against this cap.

Storage: with a ``storage_dir`` each node has an append-only, checksummed log
file there (``node-<id>.wal``, :class:`~bftlab.core.storage.DiskLog`). The
Host recovers it before booting the node (a torn or corrupt tail is cut) and
hands the latest value per key in ``Start(recovered)``. ``Persist`` appends to
the file's buffer; ``Sync`` queues its token, and one fsync answers every Sync
queued before it started (group commit). Where that fsync runs is chosen for
latency: when the stepper has nothing else to step (the writers have sent what
the last round queued) it flushes and fsyncs right on the loop, since nothing
is waiting for the loop and a worker thread would add two thread hand-offs to
every fsync on the protocol's critical path (on a loaded machine each can wait
milliseconds for a CPU or the GIL); when Syncs have waited through a whole busy
round, the syncer task fsyncs them in a worker thread so stepping goes on
meanwhile. With ``storage_sync="page-cache"`` (opt-in, ``transport.storage_sync``)
a Sync is answered once the records are handed to the OS: they survive the
process's crash, not a power loss or a kernel crash.

Every bad input from a peer (bad frame, MAC, replay, route or encoding) is
dropped and counted in :attr:`Host.counters`, never raised.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from bftlab.api import Node, Receive, Start, Synced, TimerFired, TimerName
from bftlab.core import wire
from bftlab.core.host import SinkFns, TimerQueue, node_raised, run_actions
from bftlab.core.storage import DiskLog
from bftlab.errors import InvariantError
from bftlab.transport import handshake
from bftlab.transport.framing import ITEM_OVERHEAD, MAX_FRAME_BYTES, OVERHEAD, FrameError
from bftlab.transport.handshake import HandshakeError, Keyring, Session

RECV_BYTES = 256 << 10
_NET_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)

Router = Callable[[int, int, Any, int, float], list[float]]
"""``(src, dst, msg, size_bytes, now_s) -> extra delays`` of each copy to send; empty drops the message."""


@dataclass(frozen=True)
class HostConfig:
    """Where this process listens, whom it dials, and its resource limits."""

    cluster: bytes
    local_ids: tuple[int, ...]
    replica_addrs: dict[int, tuple[str, int]]
    listen: tuple[str, int] | None = None
    max_frame_bytes: int = MAX_FRAME_BYTES
    send_queue_bytes: int = 4 << 20
    delay_queue_bytes: int = 4 << 20
    inbox_chunks: int = 64
    handshake_timeout_s: float = 5.0
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 1.0
    max_connections: int = 256
    max_unauthenticated: int = 64


class _Link:
    """One authenticated connection and its bounded queue of ``(src, dst, payload)`` items."""

    __slots__ = ("stream", "session", "limit", "queue", "queued", "wake", "scope", "sending")

    def __init__(self, stream: trio.abc.Stream, session: Session, limit: int) -> None:
        self.stream = stream
        self.session = session
        self.limit = limit
        self.queue: list[tuple[int, int, bytes]] = []
        self.queued = 0
        self.wake = trio.Event()
        self.scope: trio.CancelScope | None = None
        self.sending = False  # inside send_all: the peer's window may be full, so nobody waits for this writer

    def push(self, src: int, dst: int, payload: bytes) -> bool:
        size = len(payload) + ITEM_OVERHEAD
        if self.queued + size > self.limit:
            return False
        self.queue.append((src, dst, payload))
        self.queued += size
        self.wake.set()
        return True

    def close(self) -> None:
        if self.scope is not None:
            self.scope.cancel()


class Host:
    """Runs ``nodes`` (id -> sans-IO node) on trio; call :meth:`run` inside a nursery."""

    def __init__(
        self,
        cfg: HostConfig,
        nodes: dict[int, Node],
        keyring: Keyring,
        on_event: Callable[[int, Any], None],
        rng: random.Random | None = None,
        router: Router | None = None,
        wait_for_epoch: bool = False,
        storage_dir: str | Path | None = None,
        storage_sync: str = "fsync",
    ) -> None:
        self.cfg = cfg
        self.nodes = nodes
        self.keyring = keyring
        self.on_event = on_event
        self._rng = rng or random.Random()
        self._router = router
        self._wait_for_epoch = wait_for_epoch
        self.epoch: float | None = None
        self._t_run = 0.0
        self._clock: Callable[[], float] = trio.current_time  # the run's clock, bound once inside run()
        self._begun = trio.Event()
        self.links: dict[int, _Link] = {}
        self.counters: dict[str, int] = {}
        self.sent_by_type: dict[str, int] = {}
        self.bytes_sent = 0
        self.writes = 0  # send calls; messages per write is the coalescing factor
        self.messages_sent = 0
        self.inputs = 0
        self._local: list[tuple[int, Any]] = []
        self._inbox_send, self._inbox_recv = trio.open_memory_channel(cfg.inbox_chunks)
        self.timers = TimerQueue()  # deadlines on trio's clock (not the nodes' clock, which starts at the epoch)
        self._sink: SinkFns = (self._send, self._set_timer, self._cancel_timer, self._observe, self._persist,
                               self._sync)
        self.storage_dir = Path(storage_dir) if storage_dir is not None else None
        if storage_sync not in ("fsync", "page-cache"):
            raise InvariantError(f"storage_sync must be 'fsync' or 'page-cache', got {storage_sync!r}")
        self._fsync = storage_sync == "fsync"  # page-cache: a Sync is answered once the OS has the records
        self.logs: dict[int, DiskLog] = {}
        self._sync_waiting: dict[int, list[Any]] = {}  # Syncs not yet covered by an fsync, per node
        self._syncing: dict[int, list[Any]] = {}  # handed to the syncer task, whose fsync is in flight
        self._sync_rounds = 0  # busy stepper rounds the waiting Syncs have seen
        self._sync_wake = trio.Event()
        if self.storage_dir is not None:  # recover before anything runs: Start carries what survived
            for nid in sorted(nodes):
                if self.log_path(nid).exists():
                    self.logs[nid] = DiskLog.open(self.log_path(nid))
        self._delayed: list[tuple[float, int, int, int, bytes]] = []  # (due, seq, src, dst, payload)
        self._delayed_bytes: dict[int, int] = {}
        self._delay_seq = 0
        self._delay_wake = trio.Event()
        self._max_payload = cfg.max_frame_bytes - OVERHEAD - ITEM_OVERHEAD
        self._conns = 0
        self._handshaking: dict[int, trio.CancelScope] = {}  # unauthenticated inbound connections, oldest first
        self._accept_seq = 0
        self._max_local = max(cfg.local_ids)
        self.port: int | None = None

    # ------------------------------------------------------------ public
    def count(self, key: str, k: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + k

    def connected_to(self, ids: Iterable[int]) -> bool:
        return all(i in self.links for i in ids)

    def start_clock(self, epoch: float) -> None:
        """Set time 0 of the nodes' clock (a ``trio.current_time()`` value) and boot them; later calls are ignored."""
        if self.epoch is None:
            self.epoch = epoch
            self._begun.set()

    def now_s(self) -> float:
        """Seconds since the epoch (before it is set: since the host started)."""
        return trio.current_time() - (self.epoch if self.epoch is not None else self._t_run)

    def log_path(self, nid: int) -> Path:
        """Where node ``nid``'s storage log lives (needs a ``storage_dir``)."""
        if self.storage_dir is None:
            raise InvariantError(f"node {nid} persisted state but this Host has no storage_dir")
        return self.storage_dir / f"node-{nid}.wal"

    def recovered(self, nid: int) -> dict[str, bytes]:
        """What node ``nid`` recovered from its log when this Host was built (empty on a first boot)."""
        log = self.logs.get(nid)
        return dict(log.recovered.values) if log is not None else {}

    def submit_nowait(self, nid: int, inp: Any) -> None:
        """Queue an input for a local node; only from inside a step's callbacks (the stepper drains it)."""
        self._local.append((nid, inp))

    async def submit(self, nid: int, inp: Any) -> None:
        """Hand an input to a local node from any task (waits while the inbox is full)."""
        await self._inbox_send.send([(nid, inp)])

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Listen (if configured), dial peers, boot the nodes once the epoch is set and step them until cancelled."""
        self._clock = trio.lowlevel.current_clock().current_time  # per step: cheaper than trio.current_time()
        self._t_run = self._clock()
        if not self._wait_for_epoch:
            self.start_clock(self._t_run)
        async with trio.open_nursery() as nursery:
            if self.cfg.listen is not None:
                host, port = self.cfg.listen
                listeners = await trio.open_tcp_listeners(port, host=host)
                self.port = listeners[0].socket.getsockname()[1]
                nursery.start_soon(trio.serve_listeners, self._accepted, listeners)
            local_replicas = [i for i in self.cfg.local_ids if i in self.cfg.replica_addrs]
            for rid in sorted(self.cfg.replica_addrs):
                if rid not in self.cfg.local_ids and (not local_replicas or rid < min(local_replicas)):
                    nursery.start_soon(self._dial_loop, rid)
            nursery.start_soon(self._stepper)
            nursery.start_soon(self._syncer)
            if self._router is not None:
                nursery.start_soon(self._delayer)
            task_status.started(self.port)

    # ------------------------------------------------------------ stepping
    async def _stepper(self) -> None:
        await self._begun.wait()
        for nid in sorted(self.nodes):
            self._local.append((nid, Start(self.recovered(nid))))
        recv = self._inbox_recv
        step = self._step
        stepped = False  # inputs were stepped since the writers last had a chance to send
        while True:
            self._drain_local()
            fired = self._fire_timers()
            # Drain every input already waiting before yielding: the writers then
            # send all the resulting messages of this round in one frame each.
            worked = stepped or fired or bool(self._local)
            stepped = False
            while True:
                try:
                    batch = recv.receive_nowait()
                except trio.WouldBlock:
                    break
                worked = True
                for nid, inp in batch:
                    step(nid, inp)
                self._drain_local()
            if worked:
                if self._sync_waiting and not self._syncing:
                    self._sync_rounds += 1
                    if self._sync_rounds > 1:  # busy for a whole round since: fsync in a worker thread meanwhile
                        self._hand_off_syncs()
                await trio.lowlevel.checkpoint()  # let writers flush and readers refill
                continue
            if self._sync_waiting and not self._syncing:
                if any(link.queue and not link.sending for link in self.links.values()):
                    # A writer woken by this round has not run yet (trio may run the stepper first in a
                    # batch): let it send before the loop blocks in fsync, so the messages that need not
                    # wait for this write (a leader's entries to its followers) overlap it.
                    await trio.lowlevel.checkpoint()
                    continue
                # Idle, and the writers have sent what the last round queued: fsync right here.
                # Nothing else waits for the loop, and a worker thread would add two thread
                # hand-offs (each may wait for the GIL) to the fsync on every critical path.
                self._sync_now()
                continue
            deadline = self.timers.next_deadline()  # re-armed or cancelled timers cause no wake-up
            if deadline is None:
                batch = await recv.receive()
            else:
                batch = None
                with trio.move_on_at(deadline):
                    batch = await recv.receive()
                if batch is None:
                    continue
            for nid, inp in batch:
                step(nid, inp)
            stepped = True

    def _drain_local(self) -> None:
        while self._local:
            todo, self._local = self._local, []
            for nid, inp in todo:
                self._step(nid, inp)

    def _fire_timers(self) -> bool:
        """Step every due timer; True if any fired."""
        timers = self.timers
        if not len(timers):
            return False
        now = trio.current_time()
        fired = False
        while (due := timers.pop_due(now)) is not None:
            self._step(due[0], TimerFired(due[1]))
            fired = True
        return fired

    def _step(self, nid: int, inp: Any) -> None:
        node = self.nodes[nid]
        now = self._clock() - self.epoch  # type: ignore[operator]  # the stepper starts only once the epoch is set
        self.inputs += 1
        try:
            actions = node.step(now, inp)
        except Exception as exc:  # a protocol bug, not a peer's fault: stop this process loudly
            raise node_raised(nid, now, inp, exc) from exc
        run_actions(nid, now, actions, self._sink)

    # ------------------------------------------------------------ the action sink (``now``: the nodes' clock)
    def _set_timer(self, nid: int, now: float, name: TimerName, delay_s: float) -> None:
        self.timers.schedule(nid, name, now + self.epoch + delay_s)  # type: ignore[operator]  # set before any step

    def _cancel_timer(self, nid: int, now: float, name: TimerName) -> None:
        self.timers.cancel(nid, name)

    def _observe(self, nid: int, now: float, event: Any) -> None:
        self.on_event(nid, event)

    def _persist(self, nid: int, now: float, key: str, value: bytes) -> None:
        log = self.logs.get(nid)
        if log is None:
            log = self.logs[nid] = DiskLog.open(self.log_path(nid))
        log.append(key, value)

    def _sync(self, nid: int, now: float, token: Any) -> None:
        if nid not in self.logs:  # nothing ever persisted: nothing to make durable
            self._local.append((nid, Synced(token)))
            return
        if not self._fsync:  # opted out of fsync: the records survive this process, not a power loss
            self.logs[nid].flush()
            self._local.append((nid, Synced(token)))
            self.count("sync.page_cache")
            return
        self._sync_waiting.setdefault(nid, []).append(token)  # the stepper syncs it: see _stepper

    def _take_syncs(self) -> dict[int, list[Any]]:
        """The waiting Syncs, their logs flushed: an fsync started from now on covers them (group commit)."""
        waiting, self._sync_waiting = self._sync_waiting, {}
        self._sync_rounds = 0
        for nid in waiting:
            self.logs[nid].flush()
        return waiting

    def _sync_now(self) -> None:
        """Answer every waiting Sync with an fsync on the loop (the stepper is idle: see ``_stepper``)."""
        for nid, tokens in self._take_syncs().items():
            self.logs[nid].fsync()
            self._local.extend((nid, Synced(tok)) for tok in tokens)
        self.count("sync.inline")

    def _hand_off_syncs(self) -> None:
        self._syncing = self._take_syncs()
        self._sync_wake.set()

    async def _syncer(self) -> None:
        """Answer the Syncs the busy stepper hands off: fsync in a worker thread, so stepping goes on meanwhile."""
        try:
            while True:
                if not self._syncing:
                    self._sync_wake = trio.Event()
                    await self._sync_wake.wait()
                    continue
                for nid in sorted(self._syncing):
                    await trio.to_thread.run_sync(self.logs[nid].fsync)
                done = [(nid, Synced(tok)) for nid, tokens in sorted(self._syncing.items()) for tok in tokens]
                # Done before the Synced go out: the stepper they wake then sees no fsync in flight and syncs
                # what queued meanwhile (cleared after, it could go back to sleep with those Syncs waiting).
                self._syncing = {}
                self.count("sync.thread")
                await self._inbox_send.send(done)
        finally:
            for log in self.logs.values():
                log.close()

    def _send(self, src: int, now: float, dsts: tuple[int, ...], msg: Any) -> None:
        payload = wire.encode(msg)
        name = type(msg).__name__
        route = self._router
        for dst in dsts:
            if dst in self.nodes:  # a node's messages to a co-hosted node never cross the network
                self._local.append((dst, Receive(src, msg)))
                continue
            self.sent_by_type[name] = self.sent_by_type.get(name, 0) + 1
            if route is None:
                self._enqueue(src, dst, payload)
                continue
            extra = route(src, dst, msg, len(payload), now)
            if not extra:
                self.count("drop.adversary")
            for e in extra:
                if e > 0:
                    self._hold(e, src, dst, payload)
                else:
                    self._enqueue(src, dst, payload)

    def _enqueue(self, src: int, dst: int, payload: bytes) -> None:
        if len(payload) > self._max_payload:
            self.count("drop.too_large")
            return
        link = self.links.get(dst)
        if link is None:
            self.count("drop.no_link")
        elif not link.push(src, dst, payload):
            self.count("drop.send_queue_full")

    # ------------------------------------------------------------ adversary delays
    def _hold(self, delay_s: float, src: int, dst: int, payload: bytes) -> None:
        """Queue a copy for release after ``delay_s`` (bounded per destination; never blocks)."""
        held = self._delayed_bytes.get(dst, 0) + len(payload)
        if held > self.cfg.delay_queue_bytes:
            self.count("drop.adversary_queue_full")
            return
        self._delayed_bytes[dst] = held
        self._delay_seq += 1
        item = (trio.current_time() + delay_s, self._delay_seq, src, dst, payload)
        heapq.heappush(self._delayed, item)
        if self._delayed[0] is item:
            self._delay_wake.set()

    async def _delayer(self) -> None:
        heap = self._delayed
        while True:
            self._delay_wake = trio.Event()
            if not heap:
                await self._delay_wake.wait()
                continue
            with trio.move_on_at(heap[0][0]):
                await self._delay_wake.wait()  # a new, earlier item: recompute the deadline
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, _, src, dst, payload = heapq.heappop(heap)
                self._delayed_bytes[dst] -= len(payload)
                self._enqueue(src, dst, payload)  # sealed by the writer now, so counters stay in order

    # ------------------------------------------------------------ connections
    def _allowed(self, ids: list[int]) -> bool:
        # Only processes hosting higher ids dial us (see the module docstring).
        return all(i > self._max_local for i in ids)

    def _admit(self) -> bool:
        """Make room for one more unauthenticated connection; False: refuse it (every slot is authenticated)."""
        cap = max(1, self.cfg.max_unauthenticated)
        while self._handshaking and (len(self._handshaking) >= cap or self._conns >= self.cfg.max_connections):
            oldest = next(iter(self._handshaking))
            self._handshaking.pop(oldest).cancel()  # its task closes the socket; its slot is free from now on
            self._conns -= 1
            self.count("conn.refused_unauthenticated")
        return self._conns < self.cfg.max_connections

    async def _accepted(self, stream: trio.SocketStream) -> None:
        if not self._admit():
            self.count("drop.too_many_connections")
            await trio.aclose_forcefully(stream)
            return
        self._conns += 1
        self._accept_seq += 1
        key = self._accept_seq
        scope = self._handshaking[key] = trio.CancelScope()
        session = None
        authenticated = False
        try:
            with scope:
                try:
                    with trio.fail_after(self.cfg.handshake_timeout_s):  # from the accept: silence counts too
                        session = await handshake.accept(stream, self.keyring, self.cfg.cluster,
                                                         list(self.cfg.local_ids), self._allowed,
                                                         self.cfg.max_frame_bytes)
                except HandshakeError as exc:
                    self.count(f"drop.{exc.reason}")
                except trio.TooSlowError:
                    self.count("drop.handshake_timeout")
                except _NET_ERRORS:
                    self.count("conn.error")
            if session is not None and self._handshaking.pop(key, None) is not None:  # not evicted meanwhile
                authenticated = True
                await self._serve(stream, session)
        finally:
            # An evicted connection's slot was released by _admit; every other one releases its own here.
            if self._handshaking.pop(key, None) is not None or authenticated:
                self._conns -= 1
            await trio.aclose_forcefully(stream)

    async def _dial_loop(self, rid: int) -> None:
        host, port = self.cfg.replica_addrs[rid]
        backoff = self.cfg.backoff_initial_s
        expect = lambda ids: ids == [rid]  # noqa: E731
        while True:
            stream = None
            session = None
            try:
                with trio.fail_after(self.cfg.handshake_timeout_s):
                    stream = await trio.open_tcp_stream(host, port)
                    session = await handshake.dial(stream, self.keyring, self.cfg.cluster, list(self.cfg.local_ids),
                                                   expect, self.cfg.max_frame_bytes)
            except HandshakeError as exc:
                self.count(f"drop.{exc.reason}")
            except (trio.TooSlowError, *_NET_ERRORS):
                self.count("conn.dial_failed")
            if session is not None and stream is not None:
                backoff = self.cfg.backoff_initial_s
                try:
                    await self._serve(stream, session)
                finally:
                    await trio.aclose_forcefully(stream)
            elif stream is not None:
                await trio.aclose_forcefully(stream)
            await trio.sleep(backoff * (0.5 + self._rng.random()))  # jitter: restarted peers are not stormed
            backoff = min(backoff * 2, self.cfg.backoff_max_s)

    async def _serve(self, stream: trio.abc.Stream, session: Session) -> None:
        link = _Link(stream, session, self.cfg.send_queue_bytes)
        for rid in session.remote_ids:
            old = self.links.get(rid)
            if old is not None:
                old.close()
            self.links[rid] = link
        self.count("conn.established")
        try:
            async with trio.open_nursery() as nursery:
                link.scope = nursery.cancel_scope
                nursery.start_soon(self._reader, link)
                nursery.start_soon(self._writer, link)
        finally:
            for rid in session.remote_ids:
                if self.links.get(rid) is link:
                    del self.links[rid]
            self.count("conn.closed")

    async def _writer(self, link: _Link) -> None:
        sealer = link.session.sealer
        room = self.cfg.max_frame_bytes - OVERHEAD
        try:
            while True:
                if not link.queue:
                    link.wake = trio.Event()
                    await link.wake.wait()
                    continue
                items, size = link.queue, link.queued
                link.queue, link.queued = [], 0
                if size <= room:
                    data = sealer.seal_many(items)
                else:  # more than one frame's worth: split so that no frame exceeds the peer's limit
                    data = b"".join(sealer.seal_many(chunk) for chunk in _chunks(items, room))
                self.bytes_sent += len(data)
                self.writes += 1
                self.messages_sent += len(items)
                link.sending = True
                await link.stream.send_all(data)
                link.sending = False
        except _NET_ERRORS:
            pass
        link.close()

    async def _reader(self, link: _Link) -> None:
        session = link.session
        try:
            if session.pending:
                batch = self._open_frames(link, session.pending)
                session.pending = []
                if batch:
                    await self._inbox_send.send(batch)
            while True:
                data = await link.stream.receive_some(RECV_BYTES)
                if not data:
                    break
                try:
                    frames = session.decoder.feed(data)
                except FrameError:
                    self.count("drop.oversized_frame")
                    break
                batch = self._open_frames(link, frames)
                if batch:
                    await self._inbox_send.send(batch)  # waits while the inbox is full: back-pressure
        except _NET_ERRORS:
            pass
        link.close()

    def _open_frames(self, link: _Link, frames: list[bytes]) -> list[tuple[int, Receive]]:
        out = []
        opener = link.session.opener
        remote = link.session.remote_ids
        nodes = self.nodes
        decode = wire.decode
        registered = wire.is_registered
        for body in frames:
            opened = opener.open(body)
            if isinstance(opened, str):
                self.count(f"drop.{opened}")
                continue
            for src, dst, payload in opened:
                if src not in remote or dst not in nodes:
                    self.count("drop.bad_route")
                    continue
                try:
                    msg = decode(payload)
                except wire.WireError:
                    self.count("drop.malformed")
                    continue
                if not registered(type(msg)):  # plain msgpack data is not a protocol message
                    self.count("drop.not_a_message")
                    continue
                out.append((dst, Receive(src, msg)))
        return out


def _chunks(items: list[tuple[int, int, bytes]], room: int) -> Iterable[list[tuple[int, int, bytes]]]:
    """Split queued items into runs whose frames fit in ``room`` bytes (each item fits alone: see ``_enqueue``)."""
    chunk: list[tuple[int, int, bytes]] = []
    size = 0
    for item in items:
        k = len(item[2]) + ITEM_OVERHEAD
        if chunk and size + k > room:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += k
    if chunk:
        yield chunk
