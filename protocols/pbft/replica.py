"""PBFT replica, normal-case operation (Castro & Liskov, OSDI'99 §4; TOCS'02 §4.1-4.2).

Theory of operation
-------------------
Replicas move through a succession of views; the primary of view ``v`` is
``v mod n``. A client sends <REQUEST, o, t, c> to the primary; a backup that
receives a request forwards it to the primary and starts its view-change timer.
The primary assigns a sequence number ``seq`` to a *batch* of requests and
multicasts <PRE-PREPARE, v, seq, d> with the batch, but only for
``h < seq <= H`` (the watermarks of §4.3; ``H = h + log_window``). A backup
accepts the PRE-PREPARE if it is in view ``v``, the digest matches the batch and
it has not accepted a different one for ``(v, seq)``; it then multicasts
<PREPARE, v, seq, d, i>. A replica is *prepared* for ``(v, seq, d)`` once it
holds the PRE-PREPARE and ``2f`` matching PREPAREs from distinct backups; it
then multicasts <COMMIT, v, seq, d, i>. It is *committed-local* once prepared
with ``2f+1`` matching COMMITs. Committed batches execute strictly in ``seq``
order on the key-value store; each request is executed at most once per
(client, timestamp) thanks to the last-reply table, and its result is sent to
the client in a REPLY. A null batch (empty) executes nothing.

Batching follows TOCS'02 §5.1.4: while fewer than ``batch_window`` of the
primary's batches are pre-prepared but not yet executed, a request is proposed
at once (a lone client pays five one-way delays, nothing more); requests that
arrive behind a full window queue and go out together when an execution moves
the window, ``batch_size_max`` of them have queued, or ``batch_timeout_s``
after the first queued (the timer only bounds the wait of queued requests).

The replica is a composition of parts that each own their state and return
actions: the message log and agreement rules (:class:`~.log.MessageLog`,
§4.2), checkpoints, watermarks, garbage collection and state transfer
(:class:`~.checkpoint.CheckpointManager`, §4.3) and view changes
(:class:`~.viewchange.ViewChanger`, §4.4-4.5). The replica routes inputs to
them, owns the service state (the store, the last-reply table, the requests
waiting to execute), batching and execution, and carries the consequences of
one part's step to the others (a stable checkpoint collects the log's garbage;
a new view re-proposes the log's prepared batches).

Crash recovery (TOCS'02 §4.3 state transfer, §5 and Castro's thesis on
recovery) is in :mod:`.durability` (what is stable, and the write-ahead rule:
a step's messages leave only once its writes are durable) and here: a
restarted replica rebuilds its state from its stable checkpoint plus the
batches it executed, its log from its own PRE-PREPAREs and prepared
certificates, and its view from its last view record. It then *recovers from
its peers* before voting again: it multicasts STATUS and waits for ``f+1``
STATUS-REPLYs that agree on an installed view (one of them is correct), adopts
a newer stable checkpoint if they prove one (fetching its state), fetches the
committed batches above it (FETCH-LOG; a batch is trusted once ``f+1``
replicas sent the same digest for its seq) up to a seq that ``f+1`` of them
executed, and only then enters that view (installing its NEW-VIEW, so a
restarted primary rejoins as a backup). While it recovers it drops the
normal-case and view-change traffic. The same FETCH-LOG fills a gap a running
replica notices (a committed batch it cannot execute because it missed the
ones before), so a lagging replica catches up without waiting for the next
stable checkpoint.

A peer's misbehaviour never raises: every received message is checked (types,
sender, view, watermarks, authentication) and dropped with a count in
``counters`` if it fails. Quorum sizes come from overridable methods
(:meth:`PbftReplica.commit_quorum` etc.), so tests can build broken variants.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import islice
from typing import Any

from bftlab.api import (
    Broadcast,
    CancelTimer,
    Executed,
    ExecutedEntry,
    NodeContext,
    Observe,
    Receive,
    Recovered,
    Send,
    SetTimer,
    Start,
    StateTransferred,
    Submit,
    Synced,
    TimerFired,
    ViewChanged,
    observed_digest,
)
from bftlab.errors import ConfigError, InvariantError

from . import durability, quorum
from .auth import Auth
from .checkpoint import FETCH_TIMER, CheckpointManager, restore, snapshot
from .config import ReplicaConfig
from .kvstore import KvStore
from .log import COMMIT_PHASE, PREPARE_PHASE, MessageLog, Slot
from .messages import (
    Checkpoint,
    Commit,
    FetchLog,
    FetchState,
    LogReply,
    NewView,
    Prepare,
    PrePrepare,
    Reply,
    Request,
    StateReply,
    Status,
    StatusReply,
    ViewChange,
    batch_bytes,
    pre_prepare_body,
    reply_body,
    request_body,
    well_formed,
)
from .params import PbftParams
from .viewchange import VC_RESEND_TIMER, VC_TIMER, NewViewPlan, ViewChanger

BATCH_TIMER = "batch"
STATUS_TIMER = "status"
LOG_TIMER = "log"
_RECOVERING_DROPS = (PrePrepare, Prepare, Commit, ViewChange, NewView)

__all__ = ["BATCH_TIMER", "FETCH_TIMER", "VC_TIMER", "VC_RESEND_TIMER", "PbftReplica", "Slot", "make_replica"]


class PbftReplica:
    __slots__ = (
        "node_id", "n", "f", "cfg", "crypto", "rng", "params", "counters", "last_error",
        "log", "checkpoints", "view_changer",
        "now", "_out", "_handlers", "started",
        "last_exec", "seq_next", "waiting_seq",
        "kv", "replies", "pending", "queue", "proposed", "batch_armed", "batch_due",
        "wal", "recovering", "was_active", "status", "settled", "done", "log_votes", "log_timer_armed",
    )  # fmt: skip

    eager_writes = False
    """Planted-bug switch for tests only: send before the writes a message depends on are durable."""

    def __init__(self, ctx: NodeContext) -> None:
        params = ctx.params if ctx.params is not None else PbftParams()
        if not isinstance(params, PbftParams):
            raise ConfigError(f"pbft: params must be PbftParams, got {type(params).__name__}")
        if ctx.n < 3 * ctx.f + 1:
            raise ConfigError(f"pbft: n={ctx.n} replicas cannot tolerate f={ctx.f} (needs n >= 3f+1)")
        self.node_id = ctx.node_id
        self.n = ctx.n
        self.f = ctx.f
        self.crypto = ctx.crypto
        self.rng = ctx.rng
        self.params = params
        replicas = tuple(ctx.replicas)
        self.cfg = cfg = ReplicaConfig(
            node_id=ctx.node_id, n=ctx.n, f=ctx.f, replicas=replicas,
            others=tuple(r for r in replicas if r != ctx.node_id), replica_set=frozenset(replicas),
            client_set=frozenset(ctx.clients), crypto=ctx.crypto, auth=Auth(ctx.crypto, params.auth, replicas),
            params=params, q_prepare=self.prepare_quorum(), q_commit=self.commit_quorum(),
            q_ckpt=self.checkpoint_quorum(), q_vc=self.view_change_quorum(), q_join=self.join_quorum(),
        )  # fmt: skip
        self.counters: dict[str, int] = {}
        self.last_error: str | None = None
        self.now = 0.0
        self._out: list[Any] = []
        self.started = False
        # service state and requests
        self.kv = KvStore()
        self.replies: dict[int, tuple[int, bytes]] = {}  # client -> (ts, result) of last executed
        self.pending: dict[int, Request] = {}  # client -> request received but not executed
        self.queue: dict[int, Request] = {}  # primary: requests waiting for a batch (FIFO)
        self.proposed: dict[int, int] = {}  # primary: client -> highest ts pre-prepared this view
        self.batch_armed = False
        self.batch_due = False
        self.last_exec = 0
        self.seq_next = 1  # primary: the seq of its next PRE-PREPARE
        self.waiting_seq = 0  # highest seq with a non-null pre-prepare accepted this view
        # durability and recovery
        self.wal = durability.WriteAhead(self.eager_writes)
        self.recovering = False
        self.was_active = True  # after a restart: whether the persisted view was installed
        self.status: dict[int, StatusReply] = {}  # recovering: replica -> its latest STATUS-REPLY
        # recovering: (view, its NEW-VIEW, target seq, whether the others are still changing to that view)
        self.settled: tuple[int, NewView | None, int, bool] | None = None
        self.done: dict[int, PrePrepare] = {}  # seq -> batch executed there, above h (answers FETCH-LOG)
        self.log_votes: dict[int, dict[bytes, dict[int, PrePrepare]]] = {}  # seq -> digest -> replica -> batch
        self.log_timer_armed = False
        # the parts
        self.log = MessageLog(cfg, self._drop)
        self.checkpoints = CheckpointManager(cfg, self._drop, snapshot(self.kv, self.replies))
        self.view_changer = ViewChanger(cfg, self._drop, self.checkpoints.valid_proof)
        self._handlers: dict[type, Callable[[int, Any], None]] = {
            Prepare: partial(self._on_vote, phase=PREPARE_PHASE),
            Commit: partial(self._on_vote, phase=COMMIT_PHASE),
            PrePrepare: self._on_pre_prepare,
            Request: self._on_request,
            Checkpoint: self._on_checkpoint,
            ViewChange: self._on_view_change,
            NewView: self._on_new_view,
            FetchState: self._on_fetch_state,
            StateReply: self._on_state_reply,
            Status: self._on_status,
            StatusReply: self._on_status_reply,
            FetchLog: self._on_fetch_log,
            LogReply: self._on_log_reply,
        }

    # ------------------------------------------------------------- quorums
    # Overridable so that tests can build deliberately broken variants.
    def prepare_quorum(self) -> int:
        return quorum.prepare_quorum(self.f)

    def commit_quorum(self) -> int:
        return quorum.commit_quorum(self.f)

    def checkpoint_quorum(self) -> int:
        return quorum.checkpoint_quorum(self.f)

    def view_change_quorum(self) -> int:
        return quorum.view_change_quorum(self.f)

    def join_quorum(self) -> int:
        return quorum.join_quorum(self.f)

    # ----------------------------------------------------- read-only views
    @property
    def view(self) -> int:
        return self.view_changer.view

    @property
    def active(self) -> bool:
        """False while waiting for the NEW-VIEW of :attr:`view`."""
        return self.view_changer.active

    @property
    def h(self) -> int:
        """The low watermark: seq of the stable checkpoint."""
        return self.checkpoints.h

    def is_primary(self) -> bool:
        vc = self.view_changer
        return vc.active and vc.view % self.n == self.node_id

    # ---------------------------------------------------------- entry point
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            msg = inp.msg
            handler = self._handlers.get(type(msg))
            if handler is None:
                self._drop("drop.unexpected_type")
            elif self.recovering and type(msg) in _RECOVERING_DROPS:
                self._drop("drop.recovering")  # no vote and no view change until we caught up
            elif type(inp.sender) is not int:
                self._drop("drop.bad_sender")
            else:
                try:
                    handler(inp.sender, msg)
                except InvariantError:
                    raise
                except Exception as exc:  # a peer's garbage must never crash us
                    self.last_error = f"{type(msg).__name__}: {type(exc).__name__}: {exc}"
                    self._drop("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Synced:
            return self.wal.synced(inp.token)
        elif t is Start:
            self._on_start(inp.recovered)
        elif t is Submit:
            self._drop("drop.submit_to_replica")
        else:
            self._drop("drop.unknown_input")
        return self.wal.filter(out)

    # ------------------------------------------------------------- helpers
    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _observe(self, event: Any) -> None:
        self._out.append(Observe(event))

    def _on_start(self, recovered: Any) -> None:
        if not self.started:
            self.started = True
            if recovered:
                return self._recover(recovered)
            # A first boot: the record tells a later boot that it is a restart.
            self._out.append(durability.view_record(0, True))
            self._observe(ViewChanged(self.node_id, self.view_changer.view))
            return
        # Reboot with retained state: timers did not survive, arm them again.
        vc = self.view_changer
        vc.timers_lost()
        self.batch_armed = False
        if vc.active:
            if self._waiting():
                self._out += vc.arm_timer()
            self._try_propose()
        else:
            self._out.append(vc.resend_timer())
            self._check_vc_quorum()
        self._out += self.checkpoints.send_fetch()

    def _on_timer(self, name: Any) -> None:
        if name == BATCH_TIMER:
            self.batch_armed = False
            self.batch_due = True
            self._try_propose()
        elif name == VC_TIMER:
            if self.view_changer.active and self._behind():
                # Peers proved they executed past us: what we wait for is stuck on our catching up, not on
                # the primary. A lagging replica that voted alone for the next view would drop out of normal
                # operation until the next real view change (it cannot go back to this view).
                self.counters["vc.deferred_behind"] = self.counters.get("vc.deferred_behind", 0) + 1
                self._out += self.view_changer.restart_timer()
            else:
                self._start_view_change(self.view_changer.timer_fired())
        elif name == VC_RESEND_TIMER:
            self._out += self.view_changer.resend()
        elif name == FETCH_TIMER:
            self._out += self.checkpoints.send_fetch()
        elif name == STATUS_TIMER:
            if self.recovering and self.settled is None:
                self._ask_status()
        elif name == LOG_TIMER:
            self.log_timer_armed = False
            if self.recovering:  # what we were told may be stale: ask again
                self.settled = None
                self.status = {}
                self._ask_status()
            elif self._gap() and self.checkpoints.fetch is None:
                self._fetch_log()

    # ------------------------------------------------------------ requests
    def _on_request(self, sender: int, m: Request) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        c = m.client
        if c not in self.cfg.client_set:
            return self._drop("drop.unknown_client")
        if not self.cfg.auth.check(c, request_body(m.op, m.ts, c), m.auth):
            return self._drop("drop.bad_auth")
        last = self.replies.get(c)
        if last is not None and m.ts <= last[0]:
            if m.ts == last[0] and sender == c:
                self._send_reply(c, last[0], last[1])  # retransmission: resend the cached reply
            else:
                self._drop("drop.old_request")
            return
        p = self.pending.get(c)
        if p is not None and p.ts > m.ts:
            return self._drop("drop.old_request")
        self.pending[c] = m
        vc = self.view_changer
        if not vc.active:
            return
        if vc.view % self.n == self.node_id:
            self._enqueue(m)
        elif sender == c:
            self._out.append(Send(vc.view % self.n, m))  # forward to the primary
        self._out += vc.arm_timer()

    def _send_reply(self, client: int, ts: int, result: bytes) -> None:
        v, me = self.view_changer.view, self.node_id
        auth = self.cfg.auth.seal(reply_body(v, ts, client, me, result), (client,))
        self._out.append(Send(client, Reply(v, ts, client, me, result, auth)))

    # ----------------------------------------------------- primary batching
    def _enqueue(self, m: Request) -> None:
        c = m.client
        if self.proposed.get(c, -1) >= m.ts:
            return  # already in flight in this view
        q = self.queue.get(c)
        if q is not None and q.ts >= m.ts:
            return
        self.queue[c] = m
        self._try_propose()

    def _try_propose(self) -> None:
        """Propose what the queue holds, as far as the batching window and the watermarks allow.

        TOCS'02 §5.1.4: with fewer than ``batch_window`` of our batches in flight
        (pre-prepared, not yet executed) the queue goes out at once; behind a
        full window requests queue up and leave together when the window moves
        (an execution), the batch is full, or the batch timer fires.
        """
        if not self.is_primary():
            return
        queue, batch_max, window = self.queue, self.cfg.batch_max, self.params.batch_window
        while queue:
            if self.seq_next > self.checkpoints.h + self.cfg.window:
                return  # log window full; resumes when a checkpoint becomes stable
            in_flight = self.seq_next - 1 - self.last_exec
            if in_flight >= window and len(queue) < batch_max and not self.batch_due:
                if not self.batch_armed:
                    self.batch_armed = True
                    self._out.append(SetTimer(BATCH_TIMER, self.params.batch_timeout_s))
                return
            batch = tuple(islice(queue.values(), batch_max))
            for req in batch:
                del queue[req.client]
            self._propose(batch)
        self._cancel_batch()

    def _cancel_batch(self) -> None:
        self.batch_due = False
        if self.batch_armed:
            self.batch_armed = False
            self._out.append(CancelTimer(BATCH_TIMER))

    def _propose(self, batch: tuple[Request, ...]) -> None:
        v, s = self.view_changer.view, self.seq_next
        self.seq_next = s + 1
        d = self.crypto.digest(batch_bytes(batch))
        pp = PrePrepare(v, s, d, batch, self.cfg.auth.seal(pre_prepare_body(v, s, d)))
        proposed = self.proposed
        for req in batch:
            proposed[req.client] = req.ts
        self._out.append(Broadcast(self.cfg.others, pp))
        self._accept_pre_prepare(self.log.slot(v, s), pp)

    # ------------------------------------------------------- normal case
    def _on_pre_prepare(self, sender: int, m: PrePrepare) -> None:
        vc = self.view_changer
        slot = self.log.on_pre_prepare(sender, m, vc.view, vc.active, self.checkpoints.h)
        if slot is not None:
            self._accept_pre_prepare(slot, m)

    def _accept_pre_prepare(self, slot: Slot, pp: PrePrepare) -> None:
        """Log ``pp`` (already validated): the log multicasts our PREPARE as a backup."""
        s = pp.seq
        if pp.batch and s > self.last_exec:
            if s > self.waiting_seq:
                self.waiting_seq = s
            self._out += self.view_changer.arm_timer()
        self._out += self.log.accept(slot, pp, self.last_exec)
        self._execute_ready()

    def _on_vote(self, sender: int, m: Prepare | Commit, phase: Any) -> None:
        vc = self.view_changer
        actions, hint = self.log.on_vote(sender, m, phase, vc.view, vc.active, self.checkpoints.h, self.last_exec)
        if actions:
            self._out += actions
        self._execute_ready()  # a COMMIT may complete a slot without sending anything
        if hint >= 0:
            target = vc.hint(m.replica, hint)
            if target is not None:
                self._start_view_change(target)

    # ----------------------------------------------------------- execution
    def _execute_ready(self) -> None:
        pop = self.log.pop_committed
        progressed = False
        while True:
            slot = pop(self.last_exec + 1)
            if slot is None:
                break
            self._execute(slot.pp)  # type: ignore[arg-type]
            progressed = True
        if progressed:
            self._after_progress()
            if self.queue:
                self._try_propose()  # the batching window moved
        if not self.log_timer_armed and not self.recovering and self._gap():
            self.log_timer_armed = True  # give the missing batches time to commit here before fetching them
            self._out.append(SetTimer(LOG_TIMER, self.params.recovery_retry_s))

    def _execute(self, pp: PrePrepare) -> None:
        s = pp.seq
        if s != self.last_exec + 1:
            raise InvariantError(f"pbft replica {self.node_id}: executing seq {s} after {self.last_exec}")
        entries = []
        replies, pending, queue, digest = self.replies, self.pending, self.queue, observed_digest
        self._out.append(durability.exec_record(pp))  # stable before the REPLYs and the CHECKPOINT
        self.done[s] = pp
        for req in pp.batch:
            c, ts = req.client, req.ts
            last = replies.get(c)
            if last is not None and ts <= last[0]:
                continue  # already executed (exactly-once)
            result = self.kv.apply(req.op)
            replies[c] = (ts, result)
            entries.append(ExecutedEntry(c, ts, digest(req.op), digest(result)))
            self._send_reply(c, ts, result)
            p = pending.get(c)
            if p is not None and p.ts <= ts:
                del pending[c]
            q = queue.get(c)
            if q is not None and q.ts <= ts:
                del queue[c]
        self.last_exec = s
        if entries:
            self.view_changer.request_executed()
        self._observe(Executed(self.node_id, s, pp.view, tuple(entries)))
        if s % self.cfg.interval == 0:
            ck = self.checkpoints
            h0 = ck.h
            self._out += ck.take(s, snapshot(self.kv, self.replies), s)
            if ck.h != h0:
                self._low_watermark_moved()

    # -------------------------------------------- checkpoints (TOCS §4.3)
    def _on_checkpoint(self, sender: int, m: Checkpoint) -> None:
        ck = self.checkpoints
        h0 = ck.h
        self._out += ck.on_checkpoint(sender, m, self.last_exec)
        if ck.h != h0:
            self._low_watermark_moved()

    def _adopt_stable(self, s: int, d: bytes, proof: tuple[Checkpoint, ...]) -> None:
        """A VIEW-CHANGE or NEW-VIEW proved checkpoint ``s`` stable: adopt it if it is newer than ours."""
        ck = self.checkpoints
        h0 = ck.h
        self._out += ck.stable(s, d, proof, self.last_exec)
        if ck.h != h0:
            self._low_watermark_moved()

    def _low_watermark_moved(self) -> None:
        """A new stable checkpoint: collect the log's garbage; the window moved, so propose again."""
        ck = self.checkpoints
        h = ck.h
        self.log.gc(h)
        for s in [s for s in self.done if s <= h]:
            del self.done[s]
        if ck.stable_snapshot is not None:
            self._out.append(durability.ckpt_record(h, ck.stable_digest, ck.stable_proof, ck.stable_snapshot))
        if self.seq_next <= h:
            self.seq_next = h + 1
        self._try_propose()

    def _on_fetch_state(self, sender: int, m: FetchState) -> None:
        self._out += self.checkpoints.on_fetch_state(sender, m)

    def _on_state_reply(self, sender: int, m: StateReply) -> None:
        ck = self.checkpoints
        d = ck.check_state_reply(sender, m)
        if d is None:
            return
        try:
            self.kv, self.replies = restore(m.snapshot)
        except ValueError:
            return self._drop("drop.bad_state")
        rolled_back = self.last_exec > m.seq
        self.last_exec = m.seq
        h0 = ck.h
        self._out += ck.state_installed(m, d, self.last_exec)
        if ck.h != h0:
            self._low_watermark_moved()
        self._observe(StateTransferred(self.node_id, m.seq))
        if rolled_back:  # our state had diverged: re-execute what is committed above the checkpoint
            self.log.recommit_above(m.seq)
        self._out.append(durability.ckpt_record(ck.h, ck.stable_digest, ck.stable_proof, m.snapshot))
        self.done = {s: pp for s, pp in self.done.items() if s > m.seq}
        self._forget_executed_requests()
        self._execute_ready()
        self._after_progress()
        if self.recovering and self.settled is not None:
            self._catch_up()

    def _forget_executed_requests(self) -> None:
        replies = self.replies
        for table in (self.pending, self.queue):
            for c in [c for c, req in table.items() if c in replies and req.ts <= replies[c][0]]:
                del table[c]

    # ------------------------------------- restart and recovery (TOCS §4.3, §5)
    def _recover(self, recovered: Any) -> None:
        """Boot from our stable records (see :mod:`.durability`), then ask the others where they are."""
        try:
            st = durability.load(dict(recovered))
        except ValueError as exc:
            raise InvariantError(f"pbft replica {self.node_id}: {exc}") from None
        ck, interval = self.checkpoints, self.cfg.interval
        if st.ckpt is not None:
            s0, d, proof, snap = st.ckpt
            self.kv, self.replies = restore(snap)
            ck.restore(s0, d, proof, snap)
            self.last_exec = s0
        # Replay what we executed above it. We already replied and observed these: only the state is rebuilt.
        s = self.last_exec + 1
        while s in st.executed:
            pp = st.executed[s]
            for req in pp.batch:
                last = self.replies.get(req.client)
                if last is None or req.ts > last[0]:
                    self.replies[req.client] = (req.ts, self.kv.apply(req.op))
            self.done[s] = pp
            self.last_exec = s
            if s % interval == 0:
                ck.keep_own(s, snapshot(self.kv, self.replies))
            s += 1
        if self.last_exec > 0:
            # Our state jumped to last_exec without executing in anyone's sight: a record whose Sync never
            # completed may have survived the crash (a process crash keeps it), so the Executed we held for
            # it never went out. Said like a state transfer: from our own disk.
            self._observe(StateTransferred(self.node_id, self.last_exec))
        vc = self.view_changer
        vc.view, vc.active, self.was_active = st.view, False, st.active
        top = ck.h + self.cfg.window
        for s, pp in sorted(st.pre_prepares.items()):
            # Above the stable checkpoint, executed or not: our next VIEW-CHANGE must carry every certificate
            # we prepared above h (TOCS §4.4), as it would had we not restarted, or a NEW-VIEW built from
            # replicas that restarted could fill a committed seq with a null request.
            if ck.h < s <= top:
                self.log.restore(pp, st.certs.get(s))
        # As primary of this view we must never give a seq we already used to another batch.
        ours = [pp for pp in st.pre_prepares.values() if pp.view == st.view and st.view % self.n == self.node_id]
        self.seq_next = max([ck.h, self.last_exec, *(pp.seq for pp in ours)]) + 1
        for pp in sorted(ours, key=lambda p: p.seq):
            for req in pp.batch:
                self.proposed[req.client] = max(req.ts, self.proposed.get(req.client, -1))
        self.recovering = True
        self._ask_status()

    def _ask_status(self) -> None:
        self._out.append(Broadcast(self.cfg.others, Status(self.node_id)))
        self._out.append(SetTimer(STATUS_TIMER, self.params.recovery_retry_s))

    def _on_status(self, sender: int, m: Status) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        if m.replica != sender or sender not in self.cfg.replica_set or sender == self.node_id:
            return self._drop("drop.bad_sender")
        if self.recovering:
            return  # we do not know where we are ourselves
        vc, ck = self.view_changer, self.checkpoints
        nv = vc.last_nv
        nvs = (nv,) if vc.active and nv is not None and nv.view == vc.view else ()
        self._out.append(Send(sender, StatusReply(vc.view, vc.active, ck.h, ck.stable_proof, self.last_exec, nvs,
                                                  self.node_id)))

    def _on_status_reply(self, sender: int, m: StatusReply) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        if m.replica != sender or sender not in self.cfg.replica_set or sender == self.node_id:
            return self._drop("drop.bad_sender")
        if not self.recovering or self.settled is not None:
            return
        self.status[sender] = m
        q = self.cfg.q_join
        by_view: dict[int, list[StatusReply]] = {}
        for r in sorted(self.status):
            reply = self.status[r]
            if reply.active:
                by_view.setdefault(reply.view, []).append(reply)
        views = [v for v, replies in by_view.items() if len(replies) >= q]  # f+1: one of them is correct
        changing = False
        if views:
            v = max(views)
            agree = by_view[v]
        else:
            # No f+1 are active in one view: they are changing views, and may need us to make 2f+1 (after
            # overlapping outages nobody else can). TOCS §4.5.2: f+1 replicas at views above ours include a
            # correct one, so we join the smallest view those f+1 reached once we caught up with them.
            agree = sorted((r for r in self.status.values() if not r.active and r.view > self.view_changer.view),
                           key=lambda r: (-r.view, r.replica))[:q]
            if len(agree) < q:
                return
            v, changing = agree[-1].view, True
        ck = self.checkpoints
        for reply in sorted(self.status.values(), key=lambda r: (-r.h, r.replica)):
            if reply.h <= ck.h:
                break
            d = ck.valid_proof(reply.h, reply.proof)
            if d is not None:
                self._adopt_stable(reply.h, d, reply.proof)
                break
        target = sorted((r.last_exec for r in agree), reverse=True)[q - 1]  # a correct replica executed it
        nv = next((r.new_view[0] for r in agree if r.new_view), None)
        self.settled = (v, nv, target, changing)
        self._out.append(CancelTimer(STATUS_TIMER))
        self._catch_up()

    def _catch_up(self) -> None:
        """Recovering, told where the others are: fetch what we lack, then enter their view."""
        assert self.settled is not None
        if self.checkpoints.fetch is not None:
            return  # the state transfer goes first; its STATE-REPLY brings us back here
        if self.last_exec < self.settled[2]:
            return self._fetch_log()
        self._finish_recovery()

    def _fetch_log(self) -> None:
        self._out.append(Broadcast(self.cfg.others, FetchLog(self.last_exec + 1, self.node_id)))
        if not self.log_timer_armed:
            self.log_timer_armed = True
            self._out.append(SetTimer(LOG_TIMER, self.params.recovery_retry_s))

    def _finish_recovery(self) -> None:
        assert self.settled is not None
        v, nv, _target, changing = self.settled
        self.recovering, self.settled, self.status = False, None, {}
        self._observe(Recovered(self.node_id))  # from here on it votes again: the fault budget stops counting it
        if self.log_timer_armed:
            self.log_timer_armed = False
            self._out.append(CancelTimer(LOG_TIMER))
        vc, ck = self.view_changer, self.checkpoints
        if changing and v > vc.view:  # join the others' view change (settled on v > our view only then)
            return self._start_view_change(v)
        if v < vc.view:  # we had asked for a higher view: keep asking (we may never vote in a lower one)
            self._out += vc.start(vc.view, ck.h, ck.stable_proof, self.log.prepared_certs(ck.h))
            self._check_vc_quorum()
            return
        if v == vc.view and (self.was_active or v == 0):
            vc.active = True
            self.log.drop_views_below(v)
            if self._waiting():
                self._out += vc.arm_timer()
            self._try_propose()
            return
        plan = vc.on_new_view(nv.replica, nv) if nv is not None else None
        if plan is None:  # cannot happen with f+1 correct answers; ask again rather than guess
            self.recovering = True
            return self._ask_status()
        self._install_new_view(nv, plan)  # type: ignore[arg-type]

    def _on_fetch_log(self, sender: int, m: FetchLog) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        if m.replica != sender or sender not in self.cfg.replica_set or sender == self.node_id:
            return self._drop("drop.bad_sender")
        lo = max(m.seq, self.checkpoints.h + 1)
        hi = min(self.last_exec, lo + self.cfg.window - 1)
        if lo <= hi:
            done = self.done
            self._out.append(Send(sender, LogReply(tuple(done[s] for s in range(lo, hi + 1) if s in done),
                                                   self.node_id)))

    def _on_log_reply(self, sender: int, m: LogReply) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        cfg = self.cfg
        if m.replica != sender or sender not in cfg.replica_set or sender == self.node_id:
            return self._drop("drop.bad_sender")
        if self.checkpoints.fetch is not None:
            return  # a state transfer is due first; executing past its checkpoint would make it a rollback
        lo, top = self.last_exec, self.last_exec + cfg.window
        for pp in m.batches[: cfg.window]:
            s = pp.seq
            if not lo < s <= top:
                continue
            if len(pp.batch) > cfg.batch_max or cfg.crypto.digest(batch_bytes(pp.batch)) != pp.digest:
                self._drop("drop.bad_digest")
                continue
            self.log_votes.setdefault(s, {}).setdefault(pp.digest, {})[sender] = pp
        progressed = False
        q = cfg.q_join
        while True:
            votes = self.log_votes.get(self.last_exec + 1) or {}
            pick = None
            for d in sorted(votes):
                if len(votes[d]) >= q:  # f+1 replicas executed this batch there: one is correct
                    pick = votes[d][min(votes[d])]
            if pick is None:
                break
            self._execute(pick)
            progressed = True
        if not progressed:
            return
        for s in [s for s in self.log_votes if s <= self.last_exec]:
            del self.log_votes[s]
        self.log.forget_committed_upto(self.last_exec)
        self._forget_executed_requests()
        self._execute_ready()
        self._after_progress()
        if self.recovering and self.settled is not None:
            self._catch_up()

    def _behind(self) -> bool:
        """True if f+1 replicas showed they executed past our last execution: a stable checkpoint above it (a
        state transfer follows), or CHECKPOINTs above it from f+1 replicas, one of them correct. A faulty
        primary cannot forge either, so it cannot use this to keep the view-change timer from firing."""
        ck = self.checkpoints
        if ck.fetch is not None or ck.h > self.last_exec:
            return True
        ahead = {r for s, votes in ck.votes.items() if s > self.last_exec for r in votes if r != self.node_id}
        return len(ahead) >= self.cfg.q_join

    def _gap(self) -> bool:
        """True if we hold a committed batch we cannot execute because we miss the ones before it."""
        committed = self.log.committed
        if not committed:
            return False
        self.log.forget_committed_upto(self.last_exec)
        return bool(committed) and min(committed) > self.last_exec + 1

    # ------------------------------------------ view changes (TOCS §4.4)
    def _start_view_change(self, v: int) -> None:
        vc, ck = self.view_changer, self.checkpoints
        if v <= vc.view:
            return
        self._cancel_batch()
        self.log.drop_views_below(v)
        self._out.append(durability.view_record(v, False))  # stable before our VIEW-CHANGE
        self._out += vc.start(v, ck.h, ck.stable_proof, self.log.prepared_certs(ck.h))
        self._check_vc_quorum()

    def _check_vc_quorum(self) -> None:
        actions, sent = self.view_changer.check_quorum()
        self._out += actions
        if sent is not None:
            self._install_new_view(*sent)

    def _on_view_change(self, sender: int, m: ViewChange) -> None:
        vc = self.view_changer
        actions, d = vc.on_view_change(sender, m)
        self._out += actions
        if d is None:
            return
        if m.stable_seq > self.checkpoints.h:
            self._adopt_stable(m.stable_seq, d, m.checkpoint_proof)  # we are behind
        if m.view > vc.view:
            target = vc.join_target()
            if target is not None:
                self._start_view_change(target)
        else:
            self._check_vc_quorum()

    def _on_new_view(self, sender: int, m: NewView) -> None:
        plan = self.view_changer.on_new_view(sender, m)
        if plan is not None:
            self._install_new_view(m, plan)

    def _install_new_view(self, nv: NewView, plan: NewViewPlan) -> None:
        """Enter ``nv.view``: accept its O set, replay early PRE-PREPAREs, hand pending requests to the primary."""
        v, me = nv.view, self.node_id
        ck, log = self.checkpoints, self.log
        if plan.min_s > ck.h:
            self._adopt_stable(plan.min_s, plan.proof[0].state_digest, plan.proof)
        self._out += self.view_changer.install(nv)
        self._out.append(durability.view_record(v, True))  # stable before we act in the view
        log.drop_views_below(v)
        proposed: dict[int, int] = {}
        self.proposed = proposed
        self.waiting_seq = 0
        is_primary = v % self.n == me
        for pp in nv.pre_prepares:
            if not ck.h < pp.seq <= ck.h + self.cfg.window:
                continue
            slot = log.slot(v, pp.seq)
            if slot.pp is None:
                self._accept_pre_prepare(slot, pp)
            if is_primary:
                for req in pp.batch:
                    if req.ts > proposed.get(req.client, -1):
                        proposed[req.client] = req.ts
        self.seq_next = max(plan.max_s, ck.h) + 1
        for sender, pp in log.take_future(v):
            self._on_pre_prepare(sender, pp)
        self._observe(ViewChanged(me, v))
        if self._waiting():
            self._out += self.view_changer.arm_timer()
        self.queue = {}
        for req in list(self.pending.values()):
            if is_primary:
                self._enqueue(req)
            else:
                self._out.append(Send(v % self.n, req))
        self._try_propose()

    # --------------------------------------------------- view-change timer
    def _waiting(self) -> bool:
        """True while this replica holds a request it has not executed (§4.4)."""
        return bool(self.pending) or self.waiting_seq > self.last_exec

    def _after_progress(self) -> None:
        """Stop the timer, restarting it if still waiting for another request."""
        vc = self.view_changer
        if not vc.active:
            return
        if self._waiting():
            self._out += vc.restart_timer()
        else:
            self._out += vc.cancel_timer()


def make_replica(ctx: NodeContext) -> PbftReplica:
    return PbftReplica(ctx)
