"""A VR Revisited replica: normal operation, execution and state transfer.

Theory of operation
-------------------
Replicas are numbered 0..n-1 and the primary of view ``v`` is ``v mod n``
(§4). Each replica holds a log of client requests; the op-number ``n`` is its
length and the commit-number ``k`` the last op known to be committed.

Normal operation (§4.1). The primary appends a client REQUEST to its log and
sends PREPARE <v, m, n, k> to the n-1 backups. A backup accepts a PREPARE only
in order (op ``n`` right after its own op-number) and answers PREPAREOK
<v, n, i>, which acknowledges ops 1..n. Once f backups acknowledged op ``n``
the primary commits every op up to it, executes them on the shared
:class:`~bftlab.protocols.cft.KvMachine` (the client table is its session table)
and sends the REPLY. The client therefore waits four one-way delays: REQUEST,
PREPARE, PREPAREOK, REPLY. Backups learn the commit-number from the next
PREPARE or, when the primary has none to send for ``commit_interval_s``, from a
COMMIT; they execute in order up to it and never reply.

Duplicates. A request whose ``(client, ts)`` the client table answered gets the
cached result at once; one still in the log (not yet executed) is dropped, the
REPLY follows its execution; an older one is dropped.

State transfer (§5.2). A backup that sees a PREPARE beyond a gap, or a
commit-number above its op-number, buffers the PREPARE and asks the sender for
the missing suffix with GETSTATE <v, n', i>; NEWSTATE carries the log after
``n'``. A backup that hears from the primary of a later view (or of the view it
is changing to) first cuts its log back to its commit-number, because ops
above it may have been replaced by the view change, then fetches the rest.
Its execution continues op by op (no state jump): logs are never truncated
below the commit-number, so the ops are always there to run.

Retransmission. The paper leaves loss to "resend"; here the primary resends,
on its commit tick, the PREPAREs a backup has not acknowledged ``resend_s``
after they went out, and a lagging backup repeats GETSTATE every ``recovery_retry_s``.

The view change lives in :mod:`.viewchange`, the recovery protocol in
:mod:`.recovery`; this class composes them with the step loop.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import (
    Broadcast,
    CancelTimer,
    Executed,
    NodeContext,
    Observe,
    Persist,
    Receive,
    Send,
    SetTimer,
    Start,
    Sync,
    Synced,
    TimerFired,
    ViewChanged,
)
from bftlab.protocols.cft import ClientReply, ClientRequest, KvMachine, Redirect
from bftlab.protocols.cft.messages import NO_LEADER

from .base import BOOTING, HB_TIMER, NORMAL, RECOVERING, RECOVERY_TIMER, STATE_TIMER, VC_TIMER, VIEW_CHANGE
from .messages import (
    Commit,
    DoViewChange,
    Entry,
    GetState,
    NewState,
    Prepare,
    PrepareOk,
    Recovery,
    RecoveryResponse,
    StartView,
    StartViewChange,
    well_formed,
)
from .params import VrParams
from .recovery import RecoveryMixin
from .viewchange import ViewChangeMixin

BOOT_KEY = "booted"
"""The only record a VR replica persists: that it booted once, so a restart knows it must recover (§4.3)."""
MAX_AHEAD = 4096  # PREPAREs buffered beyond a gap; more are dropped and come back with the state transfer


class VrReplica(ViewChangeMixin, RecoveryMixin):
    """One VR replica (sans-IO)."""

    def __init__(self, ctx: NodeContext) -> None:
        self.node_id = ctx.node_id
        self.n = ctx.n
        self.f = ctx.f
        self.replicas = tuple(ctx.replicas)
        self.others = tuple(r for r in self.replicas if r != self.node_id)
        self.params: VrParams = ctx.params
        self.rng = ctx.rng
        self.counters: dict[str, int] = {}
        self.now = 0.0
        self._out: list[Any] = []
        self.status = BOOTING
        self.view = 0
        self.last_normal = 0
        self.log: list[Entry] = []
        self.commit = 0
        self.executed = 0
        self.known_commit = 0  # the largest commit-number heard in this view (above op-number: we are behind)
        self.machine = KvMachine()
        # primary only
        self.acked: dict[int, int] = {}  # backup -> highest op it acknowledged in this view
        self.prepared_at: dict[int, float] = {}  # uncommitted op -> when its PREPARE last went out
        self.proposed: dict[int, int] = {}  # client -> highest ts in the log
        self.sent_prepare = False
        self.view_start_op = 0
        # backup only
        self.ahead: dict[int, Entry] = {}
        self.fetch_at: float | None = None
        self._init_view_change()
        self._init_recovery()

    # ------------------------------------------------------------------ helpers
    @property
    def op_number(self) -> int:
        return len(self.log)

    def primary_of(self, view: int) -> int:
        return self.replicas[view % self.n]

    @property
    def is_primary(self) -> bool:
        return self.primary_of(self.view) == self.node_id

    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _observe(self, ev: Any) -> None:
        self._out.append(Observe(ev))

    # ------------------------------------------------------------------ step
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        self._out = []
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._drop("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Start:
            self._on_start(inp.recovered)
        elif t is Synced:
            if inp.token == BOOT_KEY and self.status == BOOTING:
                self._enter_normal_at_boot()
        return self._out

    def _on_start(self, recovered: Any) -> None:
        if BOOT_KEY in recovered:  # a restart: we lost our state and must not act before §4.3 completes
            self._start_recovery()
            return
        # First boot: record that we booted, and act only once that is durable. A crash before that leaves no
        # marker, but then we never sent anything either, so booting afresh is still correct.
        self._out += [Persist(BOOT_KEY, b"1"), Sync(BOOT_KEY)]

    def _enter_normal_at_boot(self) -> None:
        self.status = NORMAL
        self._arm_role_timers()

    def _arm_role_timers(self) -> None:
        if self.is_primary:
            self._out += [CancelTimer(VC_TIMER), SetTimer(HB_TIMER, self.params.commit_interval_s)]
        else:
            self._out += [CancelTimer(HB_TIMER), SetTimer(VC_TIMER, self.params.view_change_timeout_s)]

    def _on_timer(self, name: Any) -> None:
        if name == HB_TIMER:
            self._on_commit_tick()
        elif name == VC_TIMER:
            self._on_view_change_timer()
        elif name == STATE_TIMER:
            self.fetch_at = None
            if self.status == NORMAL and self._behind():
                self._fetch_state(self.primary_of(self.view))
        elif name == RECOVERY_TIMER:
            self._on_recovery_timer()

    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is ClientRequest:
            return self._on_request(sender, m)
        if t not in _HANDLERS:
            return self._drop("drop.unexpected_type")
        if not well_formed(m):
            return self._drop("drop.malformed")
        if sender not in self.replicas or sender == self.node_id or getattr(m, "replica", sender) != sender:
            return self._drop("drop.bad_sender")
        if self.status == BOOTING:
            return self._drop("drop.booting")
        if self.status == RECOVERING and t is not RecoveryResponse:
            return self._drop("drop.recovering")  # §4.3: no part in anything until recovery completes
        _HANDLERS[t](self, sender, m)
        return None

    # ------------------------------------------------------------------ normal operation (§4.1)
    def _on_request(self, sender: int, m: ClientRequest) -> None:
        if type(m.client) is not int or type(m.ts) is not int or type(m.op) is not bytes or m.client != sender:
            return self._drop("drop.malformed")
        if self.status in (BOOTING, RECOVERING):
            return self._drop("drop.recovering")
        if self.status != NORMAL or not self.is_primary:
            leader = self.primary_of(self.view) if self.status == NORMAL else NO_LEADER
            self._out.append(Send(m.client, Redirect(m.client, m.ts, self.node_id, leader)))
            return None
        cached = self.machine.answered(m.client, m.ts)
        if cached is not None:
            self._out.append(Send(m.client, ClientReply(m.client, m.ts, cached, self.node_id, self.node_id)))
            return None
        last = self.machine.sessions.get(m.client)
        if (last is not None and m.ts < last[0]) or m.ts <= self.proposed.get(m.client, -1):
            return self._drop("drop.duplicate_request")  # old, or in the log: its REPLY follows execution
        entry = Entry(m.client, m.ts, m.op)
        self.log.append(entry)
        self.proposed[m.client] = m.ts
        self.prepared_at[self.op_number] = self.now
        self.sent_prepare = True
        self._out.append(Broadcast(self.others, Prepare(self.view, self.op_number, entry, self.commit)))
        self._advance_commit()  # f = 0: nothing to wait for
        return None

    def _from_primary(self, sender: int, view: int) -> bool:
        """Checks common to PREPARE and COMMIT; False when the message is not for us to apply now."""
        if sender != self.primary_of(view):
            self._drop("drop.bad_sender")
            return False
        if view < self.view or (view == self.view and self.status == NORMAL and self.is_primary):
            self._drop("drop.stale_view")
            return False
        if view > self.view or self.status == VIEW_CHANGE:
            self._join_view(view, sender)  # §5.2: a later view is running; take its log from the sender
        self._out.append(SetTimer(VC_TIMER, self.params.view_change_timeout_s))
        return True

    def _on_prepare(self, sender: int, m: Prepare) -> None:
        if not self._from_primary(sender, m.view):
            return
        if m.op_number > self.op_number + 1:
            if m.op_number - self.op_number <= MAX_AHEAD:
                self.ahead[m.op_number] = m.entry
            self._note_behind()
        elif m.op_number == self.op_number + 1:
            self.log.append(m.entry)
            self._drain_ahead()
        self.known_commit = max(self.known_commit, m.commit)
        self._out.append(Send(sender, PrepareOk(self.view, self.op_number, self.node_id)))
        self._learn_commit(m.commit)

    def _on_commit(self, sender: int, m: Commit) -> None:
        if not self._from_primary(sender, m.view):
            return
        self.known_commit = max(self.known_commit, m.commit)
        if m.commit > self.op_number:
            self._note_behind()
        self._learn_commit(m.commit)

    def _drain_ahead(self) -> None:
        while self.op_number + 1 in self.ahead:
            self.log.append(self.ahead.pop(self.op_number + 1))
        for op in [op for op in self.ahead if op <= self.op_number]:
            del self.ahead[op]

    def _learn_commit(self, k: int) -> None:
        k = min(k, self.op_number)
        if k > self.commit:
            self.commit = k
            self._execute()

    def _on_prepare_ok(self, sender: int, m: PrepareOk) -> None:
        if self.status != NORMAL or not self.is_primary or m.view != self.view:
            return self._drop("drop.stale_view")
        self.acked[sender] = max(self.acked.get(sender, 0), min(m.op_number, self.op_number))
        self._advance_commit()
        return None

    def _advance_commit(self) -> None:
        """Commit up to the highest op that f backups acknowledged (with the primary: f+1 replicas)."""
        if self.f == 0:
            k = self.op_number
        else:
            acks = sorted(self.acked.values(), reverse=True)
            k = acks[self.f - 1] if len(acks) >= self.f else 0
        if k > self.commit:
            for op in range(self.commit + 1, k + 1):
                self.prepared_at.pop(op, None)
            self.commit = k
            self._execute()

    def _execute(self) -> None:
        reply = self.status == NORMAL and self.is_primary
        while self.executed < self.commit:
            s = self.executed + 1
            e = self.log[s - 1]
            result, hist = self.machine.apply(e.client, e.ts, e.op, self.now)
            self.executed = s
            self._observe(Executed(self.node_id, s, self.view, (hist,) if hist is not None else ()))
            if reply and result is not None:
                self._out.append(Send(e.client, ClientReply(e.client, e.ts, result, self.node_id, self.node_id)))

    def _on_commit_tick(self) -> None:
        if self.status == VIEW_CHANGE:
            return self._resend_view_change()
        if self.status != NORMAL or not self.is_primary:
            return None
        if not self.sent_prepare:
            self._out.append(Broadcast(self.others, Commit(self.view, self.commit)))
        self.sent_prepare = False
        # Retransmit what a backup left unacknowledged for resend_s (lost PREPAREs or a lost PREPAREOK).
        due = self.now - self.params.resend_s
        resent: set[int] = set()
        for b in self.others:
            first = self.acked.get(b, 0) + 1
            last = min(self.op_number, first + self.params.max_resend - 1)
            for op in range(first, last + 1):
                if self.prepared_at.get(op, self.now) <= due:
                    self._out.append(Send(b, Prepare(self.view, op, self.log[op - 1], self.commit)))
                    resent.add(op)
                    self.counters["resent_prepares"] = self.counters.get("resent_prepares", 0) + 1
        for op in resent:
            self.prepared_at[op] = self.now
        self._out.append(SetTimer(HB_TIMER, self.params.commit_interval_s))

    # ------------------------------------------------------------------ state transfer (§5.2)
    def _behind(self) -> bool:
        return bool(self.ahead) or self.known_commit > self.op_number

    def _note_behind(self) -> None:
        """A gap: reordering usually fills it within a retry interval; ask for the state if it does not."""
        if self.fetch_at is None:
            self.fetch_at = self.now
            self._out.append(SetTimer(STATE_TIMER, self.params.recovery_retry_s))

    def _fetch_state(self, target: int) -> None:
        if self.fetch_at is not None and self.now - self.fetch_at < self.params.recovery_retry_s:
            return  # one GETSTATE in flight at a time
        self.fetch_at = self.now
        self._out += [Send(target, GetState(self.view, self.op_number, self.node_id)),
                      SetTimer(STATE_TIMER, self.params.recovery_retry_s)]

    def _join_view(self, view: int, sender: int) -> None:
        """A later view (or the one we were changing to) is running without us: keep only what is committed."""
        del self.log[self.commit:]
        self.ahead.clear()
        self.view, self.last_normal, self.status = view, view, NORMAL  # a later view, or the one we changed to
        self.known_commit = self.commit
        self._reset_view_change()
        self._observe(ViewChanged(self.node_id, view))
        self._arm_role_timers()
        self.fetch_at = None
        self._fetch_state(sender)

    def _on_get_state(self, sender: int, m: GetState) -> None:
        if self.status != NORMAL or m.view != self.view or not 0 <= m.op_number <= self.op_number:
            return self._drop("drop.get_state")
        self._out.append(Send(sender, NewState(self.view, m.op_number, tuple(self.log[m.op_number:]),
                                               self.op_number, self.commit, self.node_id)))
        return None

    def _on_new_state(self, sender: int, m: NewState) -> None:
        if self.status != NORMAL or m.view != self.view or not 0 <= m.after <= self.op_number:
            return self._drop("drop.new_state")
        if m.op_number != m.after + len(m.log) or m.commit > m.op_number:
            return self._drop("drop.malformed")
        self.fetch_at = None
        self._out.append(CancelTimer(STATE_TIMER))
        if m.op_number > self.op_number:
            # Same view: the sender's log and ours are prefixes of the primary's, so its suffix extends ours.
            self.log.extend(m.log[self.op_number - m.after:])
            self._drain_ahead()
            self._out.append(Send(self.primary_of(self.view), PrepareOk(self.view, self.op_number, self.node_id)))
        self.known_commit = max(self.known_commit, m.commit)
        self._learn_commit(m.commit)
        if self._behind():
            self._note_behind()
        return None


_HANDLERS: dict[type, Any] = {
    Prepare: VrReplica._on_prepare,
    PrepareOk: VrReplica._on_prepare_ok,
    Commit: VrReplica._on_commit,
    StartViewChange: VrReplica._on_start_view_change,
    DoViewChange: VrReplica._on_do_view_change,
    StartView: VrReplica._on_start_view,
    Recovery: VrReplica._on_recovery,
    RecoveryResponse: VrReplica._on_recovery_response,
    GetState: VrReplica._on_get_state,
    NewState: VrReplica._on_new_state,
}


def make_replica(ctx: NodeContext) -> VrReplica:
    return VrReplica(ctx)
