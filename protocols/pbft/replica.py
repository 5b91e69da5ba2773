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

Checkpoints, garbage collection and state transfer live in
:mod:`.checkpoint` (§4.3); view changes in :mod:`.viewchange` (§4.4-4.5).

A peer's misbehaviour never raises: every received message is checked (types,
sender, view, watermarks, authentication) and dropped with a count in
``counters`` if it fails. Quorum sizes come from overridable methods
(:meth:`PbftReplica.commit_quorum` etc.), so tests can build broken variants.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Callable

from bftlab.api import (
    Broadcast,
    CancelTimer,
    Executed,
    ExecutedEntry,
    NodeContext,
    Observe,
    Receive,
    Send,
    SetTimer,
    Start,
    Submit,
    TimerFired,
    ViewChanged,
    observed_digest,
)
from bftlab.errors import ConfigError, InvariantError

from . import quorum
from .auth import Auth
from .checkpoint import CheckpointMixin
from .kvstore import KvStore
from .messages import (
    COMMIT,
    PREPARE,
    Checkpoint,
    Commit,
    FetchState,
    NewView,
    PrePrepare,
    Prepare,
    Reply,
    Request,
    StateReply,
    ViewChange,
    batch_bytes,
    pre_prepare_body,
    reply_body,
    request_body,
    vote_body,
    well_formed,
)
from .params import PbftParams
from .viewchange import VC_RESEND_TIMER, ViewChangeMixin

BATCH_TIMER = "batch"
VC_TIMER = "vc"
FETCH_TIMER = "fetch"


class Slot:
    """Log entry for one ``(view, seq)``: the PRE-PREPARE and the votes for it."""

    __slots__ = ("view", "seq", "pp", "digest", "prepares", "commits", "n_prep", "n_commit", "prepared", "committed")

    def __init__(self, view: int, seq: int) -> None:
        self.view = view
        self.seq = seq
        self.pp: PrePrepare | None = None
        self.digest = b""
        self.prepares: dict[int, Prepare] = {}
        self.commits: dict[int, Commit] = {}
        self.n_prep = 0  # PREPAREs matching the pre-prepare's digest
        self.n_commit = 0  # COMMITs matching the pre-prepare's digest
        self.prepared = False
        self.committed = False


class PbftReplica(CheckpointMixin, ViewChangeMixin):
    __slots__ = (
        "node_id", "n", "f", "replicas", "others", "replica_set", "client_set", "crypto", "rng", "params",
        "auth", "counters", "last_error",
        "q_prepare", "q_commit", "q_ckpt", "q_vc", "q_join",
        "window", "interval", "batch_max",
        "now", "_out", "_handlers", "started",
        "view", "active", "h", "last_exec", "seq_next",
        "slots", "prepared_slots", "committed",
        "kv", "replies", "pending", "queue", "proposed", "batch_armed", "batch_due",
        "vc_armed", "vc_attempts", "waiting_seq", "vc_msgs", "vc_future", "nv_sent", "last_nv", "view_hints",
        "future_pp",
        "ckpt_votes", "far_ckpt", "own_ckpts", "stable_digest", "stable_proof", "stable_snapshot",
        "genesis_digest", "null_digest", "fetch", "fetch_idx", "fetch_sources",
    )  # fmt: skip

    def __init__(self, ctx: NodeContext) -> None:
        params = ctx.params if ctx.params is not None else PbftParams()
        if not isinstance(params, PbftParams):
            raise ConfigError(f"pbft: params must be PbftParams, got {type(params).__name__}")
        if ctx.n < 3 * ctx.f + 1:
            raise ConfigError(f"pbft: n={ctx.n} replicas cannot tolerate f={ctx.f} (needs n >= 3f+1)")
        self.node_id = ctx.node_id
        self.n = ctx.n
        self.f = ctx.f
        self.replicas = tuple(ctx.replicas)
        self.others = tuple(r for r in self.replicas if r != ctx.node_id)
        self.replica_set = frozenset(self.replicas)
        self.client_set = frozenset(ctx.clients)
        self.crypto = ctx.crypto
        self.rng = ctx.rng
        self.params = params
        self.auth = Auth(ctx.crypto, params.auth, self.replicas)
        self.counters: dict[str, int] = {}
        self.last_error: str | None = None
        self.q_prepare = self.prepare_quorum()
        self.q_commit = self.commit_quorum()
        self.q_ckpt = self.checkpoint_quorum()
        self.q_vc = self.view_change_quorum()
        self.q_join = self.join_quorum()
        self.window = params.log_window
        self.interval = params.checkpoint_interval
        self.batch_max = params.batch_size_max
        self.now = 0.0
        self._out: list[Any] = []
        self._handlers: dict[type, Callable[[int, Any], None]] = {
            Prepare: self._on_prepare,
            Commit: self._on_commit,
            PrePrepare: self._on_pre_prepare,
            Request: self._on_request,
            Checkpoint: self._on_checkpoint,
            ViewChange: self._on_view_change,
            NewView: self._on_new_view,
            FetchState: self._on_fetch_state,
            StateReply: self._on_state_reply,
        }
        self.started = False
        # view state
        self.view = 0
        self.active = True  # False while waiting for NEW-VIEW of self.view
        self.h = 0  # low watermark = seq of the stable checkpoint
        self.last_exec = 0
        self.seq_next = 1
        # the log
        self.slots: dict[tuple[int, int], Slot] = {}
        self.prepared_slots: dict[int, Slot] = {}  # seq -> highest-view prepared slot (the P set)
        self.committed: dict[int, Slot] = {}  # committed-local, not yet executed
        # service state and requests
        self.kv = KvStore()
        self.replies: dict[int, tuple[int, bytes]] = {}  # client -> (ts, result) of last executed
        self.pending: dict[int, Request] = {}  # client -> request received but not executed
        self.queue: dict[int, Request] = {}  # primary: requests waiting for a batch (FIFO)
        self.proposed: dict[int, int] = {}  # primary: client -> highest ts pre-prepared this view
        self.batch_armed = False
        self.batch_due = False
        # view change
        self.vc_armed = False
        self.vc_attempts = 0
        self.waiting_seq = 0  # highest seq with a non-null pre-prepare accepted this view
        self.vc_msgs: dict[int, dict[int, ViewChange]] = {}
        self.vc_future: dict[int, int] = {}  # replica -> view of its VIEW-CHANGE above ours
        self.nv_sent = -1
        self.last_nv: NewView | None = None
        self.view_hints: dict[int, int] = {}  # replica -> highest view seen in its authentic votes
        # PRE-PREPAREs of the view we are changing to that overtook its NEW-VIEW on the
        # network: replayed once the view is installed, else the slot could never prepare.
        self.future_pp: dict[tuple[int, int], tuple[int, PrePrepare]] = {}
        # checkpoints and state transfer
        self.ckpt_votes: dict[int, dict[int, Checkpoint]] = {}
        self.far_ckpt: dict[int, int] = {}
        self.own_ckpts: dict[int, tuple[bytes, bytes]] = {}
        snap = self._snapshot()
        self.genesis_digest = self.crypto.digest(snap)
        self.null_digest = self.crypto.digest(batch_bytes(()))
        self.stable_digest = self.genesis_digest
        self.stable_proof: tuple[Checkpoint, ...] = ()
        self.stable_snapshot: bytes | None = snap
        self.fetch: tuple[int, bytes] | None = None
        self.fetch_idx = 0
        self.fetch_sources: tuple[int, ...] = ()

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
        elif t is Start:
            self._on_start()
        elif t is Submit:
            self._drop("drop.submit_to_replica")
        else:
            self._drop("drop.unknown_input")
        return out

    # ------------------------------------------------------------- helpers
    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _broadcast(self, msg: Any) -> None:
        self._out.append(Broadcast(self.others, msg))

    def _observe(self, event: Any) -> None:
        self._out.append(Observe(event))

    def is_primary(self) -> bool:
        return self.active and self.view % self.n == self.node_id

    def _slot(self, view: int, seq: int) -> Slot:
        slot = self.slots.get((view, seq))
        if slot is None:
            slot = self.slots[(view, seq)] = Slot(view, seq)
        return slot

    def _in_window(self, seq: int) -> bool:
        return self.h < seq <= self.h + self.window

    def _on_start(self) -> None:
        if not self.started:
            self.started = True
            self._observe(ViewChanged(self.node_id, self.view))
            return
        # Reboot with retained state: timers did not survive, arm them again.
        self.vc_armed = self.batch_armed = False
        if self.active:
            if self._waiting():
                self._arm_vc_timer()
            self._try_propose()
        else:
            self._arm_vc_resend()
            self._check_vc_quorum()
        if self.fetch is not None:
            self._send_fetch()

    def _on_timer(self, name: Any) -> None:
        if name == BATCH_TIMER:
            self.batch_armed = False
            self.batch_due = True
            self._try_propose()
        elif name == VC_TIMER:
            self.vc_armed = False
            self.vc_attempts += 1
            self._start_view_change(self.view + 1)
        elif name == VC_RESEND_TIMER:
            self._resend_view_change()
        elif name == FETCH_TIMER:
            if self.fetch is not None:
                self._send_fetch()

    # ------------------------------------------------------------ requests
    def _on_request(self, sender: int, m: Request) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        c = m.client
        if c not in self.client_set:
            return self._drop("drop.unknown_client")
        if not self.auth.check(c, request_body(m.op, m.ts, c), m.auth):
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
        if not self.active:
            return
        if self.view % self.n == self.node_id:
            self._enqueue(m)
        elif sender == c:
            self._out.append(Send(self.view % self.n, m))  # forward to the primary
        self._arm_vc_timer()

    def _send_reply(self, client: int, ts: int, result: bytes) -> None:
        v, me = self.view, self.node_id
        auth = self.auth.seal(reply_body(v, ts, client, me, result), (client,))
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
        if not self.is_primary():
            return
        queue = self.queue
        while queue:
            if self.seq_next > self.h + self.window:
                return  # window full; resumes when a checkpoint becomes stable
            if len(queue) < self.batch_max and not self.batch_due:
                if not self.batch_armed:
                    self.batch_armed = True
                    self._out.append(SetTimer(BATCH_TIMER, self.params.batch_timeout_s))
                return
            batch = tuple(islice(queue.values(), self.batch_max))
            for req in batch:
                del queue[req.client]
            self._propose(batch)
        self.batch_due = False
        if self.batch_armed:
            self.batch_armed = False
            self._out.append(CancelTimer(BATCH_TIMER))

    def _cancel_batch(self) -> None:
        self.batch_due = False
        if self.batch_armed:
            self.batch_armed = False
            self._out.append(CancelTimer(BATCH_TIMER))

    def _propose(self, batch: tuple[Request, ...]) -> None:
        v, s = self.view, self.seq_next
        self.seq_next = s + 1
        d = self.crypto.digest(batch_bytes(batch))
        pp = PrePrepare(v, s, d, batch, self.auth.seal(pre_prepare_body(v, s, d)))
        proposed = self.proposed
        for req in batch:
            proposed[req.client] = req.ts
        self._broadcast(pp)
        self._accept_pre_prepare(self._slot(v, s), pp)

    # ------------------------------------------------------- normal case
    def _on_pre_prepare(self, sender: int, m: PrePrepare) -> None:
        v, s, d, batch = m.view, m.seq, m.digest, m.batch
        if type(v) is not int or type(s) is not int or type(d) is not bytes or type(batch) is not tuple:
            return self._drop("drop.malformed")
        if type(m.auth) is not tuple or not all(type(r) is Request and well_formed(r) for r in batch):
            return self._drop("drop.malformed")
        if v != self.view or not self.active:
            if (v == self.view + 1 or (v == self.view and not self.active)) and sender == v % self.n \
                    and self.h < s <= self.h + self.window and len(self.future_pp) < self.window:
                self.future_pp[(v, s)] = (sender, m)
                return self._drop("drop.early_pre_prepare")
            return self._drop("drop.wrong_view")
        if sender != v % self.n or sender == self.node_id:
            return self._drop("drop.not_primary")
        if not self.h < s <= self.h + self.window:
            return self._drop("drop.out_of_window")
        slot = self.slots.get((v, s))
        if slot is not None and slot.pp is not None:
            return self._drop("drop.duplicate" if slot.digest == d else "drop.equivocation")
        if len(batch) > self.batch_max:
            return self._drop("drop.batch_too_large")
        if not self.auth.check(sender, pre_prepare_body(v, s, d), m.auth):
            return self._drop("drop.bad_auth")
        if self.crypto.digest(batch_bytes(batch)) != d:
            return self._drop("drop.bad_digest")
        check, client_set = self.auth.check, self.client_set
        for r in batch:
            if r.client not in client_set or not check(r.client, request_body(r.op, r.ts, r.client), r.auth):
                return self._drop("drop.bad_request_in_batch")
        self._accept_pre_prepare(slot if slot is not None else self._slot(v, s), m)

    def _accept_pre_prepare(self, slot: Slot, pp: PrePrepare) -> None:
        """Log ``pp`` (already validated) and, as a backup, multicast PREPARE."""
        d = pp.digest
        slot.pp = pp
        slot.digest = d
        slot.n_prep = sum(1 for p in slot.prepares.values() if p.digest == d)
        slot.n_commit = sum(1 for c in slot.commits.values() if c.digest == d)
        s, v, me = pp.seq, pp.view, self.node_id
        if pp.batch and s > self.last_exec:
            if s > self.waiting_seq:
                self.waiting_seq = s
            self._arm_vc_timer()
        if v % self.n != me and me not in slot.prepares:
            prep = Prepare(v, s, d, me, self.auth.seal(vote_body(PREPARE, v, s, d, me)))
            slot.prepares[me] = prep
            slot.n_prep += 1
            self._broadcast(prep)
        self._check_slot(slot)

    def _vote_ok(self, sender: int, m: Prepare | Commit) -> bool:
        v, s, r = m.view, m.seq, m.replica
        if type(v) is not int or type(s) is not int or type(r) is not int:
            self._drop("drop.malformed")
        elif type(m.digest) is not bytes or type(m.auth) is not tuple:
            self._drop("drop.malformed")
        elif r != sender or r not in self.replica_set:
            self._drop("drop.bad_sender")
        elif not self.h < s <= self.h + self.window:
            self._drop("drop.out_of_window")
        elif v < self.view:
            self._drop("drop.wrong_view")
        elif v > self.view + 1:
            self._drop("drop.wrong_view")
            code = PREPARE if type(m) is Prepare else COMMIT
            if self.auth.check(r, vote_body(code, v, s, m.digest, r), m.auth):
                self._view_hint(r, v)
        else:
            return True
        return False

    def _view_hint(self, r: int, v: int) -> None:
        """Authentic votes from f+1 replicas in higher views: we missed a NEW-VIEW, ask for it."""
        hints = self.view_hints
        if hints.get(r, -1) >= v:
            return
        hints[r] = v
        higher = sorted((w for w in hints.values() if w > self.view), reverse=True)
        if len(higher) >= self.q_join:
            self.view_hints = {}
            self._start_view_change(higher[self.q_join - 1])

    def _on_prepare(self, sender: int, m: Prepare) -> None:
        if not self._vote_ok(sender, m):
            return
        v, s, r = m.view, m.seq, m.replica
        if v > self.view and self.active:
            self._view_hint(r, v)
        if r == v % self.n:
            return self._drop("drop.prepare_from_primary")
        slot = self.slots.get((v, s))
        if slot is None:
            slot = self.slots[(v, s)] = Slot(v, s)
        elif r in slot.prepares:
            return self._drop("drop.duplicate")
        if not self.auth.check(r, vote_body(PREPARE, v, s, m.digest, r), m.auth):
            return self._drop("drop.bad_auth")
        slot.prepares[r] = m
        if slot.pp is not None and m.digest == slot.digest:
            slot.n_prep += 1
            if not slot.prepared and slot.n_prep >= self.q_prepare:
                self._check_slot(slot)

    def _on_commit(self, sender: int, m: Commit) -> None:
        if not self._vote_ok(sender, m):
            return
        v, s, r = m.view, m.seq, m.replica
        if v > self.view and self.active:
            self._view_hint(r, v)
        slot = self.slots.get((v, s))
        if slot is None:
            slot = self.slots[(v, s)] = Slot(v, s)
        elif r in slot.commits:
            return self._drop("drop.duplicate")
        if not self.auth.check(r, vote_body(COMMIT, v, s, m.digest, r), m.auth):
            return self._drop("drop.bad_auth")
        slot.commits[r] = m
        if slot.pp is not None and m.digest == slot.digest:
            slot.n_commit += 1
            if slot.prepared and not slot.committed and slot.n_commit >= self.q_commit:
                self._check_slot(slot)

    def _check_slot(self, slot: Slot) -> None:
        """Advance ``slot`` through prepared -> committed-local as far as its votes allow."""
        if slot.pp is None:
            return
        if not slot.prepared:
            if slot.n_prep < self.q_prepare:
                return
            slot.prepared = True
            old = self.prepared_slots.get(slot.seq)
            if old is None or old.view <= slot.view:
                self.prepared_slots[slot.seq] = slot
            v, s, d, me = slot.view, slot.seq, slot.digest, self.node_id
            if me not in slot.commits:
                c = Commit(v, s, d, me, self.auth.seal(vote_body(COMMIT, v, s, d, me)))
                slot.commits[me] = c
                slot.n_commit += 1
                self._broadcast(c)
        if not slot.committed and slot.n_commit >= self.q_commit:
            slot.committed = True
            if slot.seq > self.last_exec:
                self.committed[slot.seq] = slot
                self._execute_ready()

    # ----------------------------------------------------------- execution
    def _execute_ready(self) -> None:
        committed = self.committed
        progressed = False
        while True:
            slot = committed.pop(self.last_exec + 1, None)
            if slot is None:
                break
            self._execute(slot)
            progressed = True
        if progressed:
            self._after_progress()

    def _execute(self, slot: Slot) -> None:
        s = slot.seq
        if s != self.last_exec + 1 or slot.pp is None:
            raise InvariantError(f"pbft replica {self.node_id}: executing seq {s} after {self.last_exec}")
        entries = []
        replies, pending, queue, digest = self.replies, self.pending, self.queue, observed_digest
        for req in slot.pp.batch:
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
            self.vc_attempts = 0
        self._observe(Executed(self.node_id, s, slot.view, tuple(entries)))
        if s % self.interval == 0:
            self._take_checkpoint(s)

    # --------------------------------------------------- view-change timer
    def _waiting(self) -> bool:
        """True while this replica holds a request it has not executed (§4.4)."""
        return bool(self.pending) or self.waiting_seq > self.last_exec

    def _vc_timeout(self) -> float:
        doublings = min(max(0, self.vc_attempts - 1), self.params.view_change_backoff_max)
        return self.params.view_change_timeout_s * (1 << doublings)

    def _arm_vc_timer(self) -> None:
        if not self.vc_armed:
            self.vc_armed = True
            self._out.append(SetTimer(VC_TIMER, self._vc_timeout()))

    def _cancel_vc_timer(self) -> None:
        if self.vc_armed:
            self.vc_armed = False
            self._out.append(CancelTimer(VC_TIMER))

    def _after_progress(self) -> None:
        """Stop the timer, restarting it if still waiting for another request."""
        if not self.active:
            return
        if self._waiting():
            self.vc_armed = True
            self._out.append(SetTimer(VC_TIMER, self._vc_timeout()))
        else:
            self._cancel_vc_timer()


def make_replica(ctx: NodeContext) -> PbftReplica:
    return PbftReplica(ctx)
