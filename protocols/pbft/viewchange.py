"""View changes (TOCS'02 §4.4, liveness rules of §4.5.2).

Theory of operation
-------------------
A backup's view-change timer runs while it holds a request it has not executed.
When it expires in view ``v`` the replica moves to ``v+1``, stops accepting
normal-case messages for ``v`` and multicasts a signed
<VIEW-CHANGE, v+1, n, C, P, i>: ``n`` is its stable checkpoint with proof ``C``
and ``P`` holds, for every seq above ``n``, the certificate of the highest view
in which it prepared: the PRE-PREPARE plus ``2f`` matching PREPAREs. In "mac"
mode those messages carry authenticators sealed for every replica, so a reader
checks the entry meant for itself (TOCS §5.1 discusses why this is weaker than
signatures: a faulty sender can make a certificate valid for some readers only,
which may cost a view change but never safety).

The primary of ``v+1`` waits for ``2f+1`` valid VIEW-CHANGEs (its own included),
then computes ``O`` exactly as in §4.4: ``min-s`` is the latest stable
checkpoint in ``V``, ``max-s`` the highest prepared seq; for each seq in
``(min-s, max-s]`` it re-proposes the batch of the certificate with the highest
view, or a null request if there is none. It multicasts a signed
<NEW-VIEW, v+1, V, O>, each PRE-PREPARE in ``O`` signed. Backups verify ``V``,
recompute ``O`` and compare before installing the view; they then PREPARE every
entry of ``O`` (also those they already executed, so that others can commit).

Liveness (§4.5.2): a replica arms its timer for ``v+1`` once it has ``f+1``
VIEW-CHANGEs for ``v+1`` (its own included); if that view does not complete,
the next timer is twice as long (``vc_attempts`` doublings, reset when a new
request executes); a replica that sees ``f+1`` VIEW-CHANGEs for views above its
own joins the smallest of them. The paper arms the timer only at ``2f+1``; that
can deadlock when messages are lost. With one replica crashed, one that got
``2f+1`` for ``v+1`` times out and moves on to ``v+2``. The others hold only
``2f`` for ``v+1``, because its VIEW-CHANGE to them was lost. Then nobody has a
timer running and nobody has ``f+1`` votes above its view, so all wait forever.
With the ``f+1`` rule the others time out too and meet it in ``v+2``. A replica that installed a view answers a late
VIEW-CHANGE for it with the NEW-VIEW, so a replica that missed it can catch up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from bftlab.api import CancelTimer, Send, SetTimer, ViewChanged

from .messages import (
    PREPARE,
    Checkpoint,
    NewView,
    PrePrepare,
    PreparedCert,
    Request,
    ViewChange,
    batch_bytes,
    new_view_body,
    pre_prepare_body,
    view_change_body,
    vote_body,
    well_formed,
)

if TYPE_CHECKING:
    from .replica import PbftReplica

VC_RESEND_TIMER = "vc-resend"


class NewViewPlan(NamedTuple):
    """What a NEW-VIEW must contain, computed from its ``V`` set."""

    min_s: int
    proof: tuple[Checkpoint, ...]
    entries: tuple[tuple[int, bytes, tuple[Request, ...]], ...]  # (seq, digest, batch) for min_s < seq <= max_s

    @property
    def max_s(self) -> int:
        return self.entries[-1][0] if self.entries else self.min_s


def compute_new_view(view_changes: tuple[ViewChange, ...], null_digest: bytes) -> NewViewPlan:
    """The ``O`` set of TOCS §4.4 from already-validated VIEW-CHANGE messages (pure)."""
    best = view_changes[0]
    for m in view_changes:
        if m.stable_seq > best.stable_seq:
            best = m
    min_s = best.stable_seq
    chosen: dict[int, PrePrepare] = {}
    for m in view_changes:
        for cert in m.prepared:
            pp = cert.pre_prepare
            if pp.seq <= min_s:
                continue
            cur = chosen.get(pp.seq)
            if cur is None or pp.view > cur.view:
                chosen[pp.seq] = pp
    max_s = max(chosen, default=min_s)
    entries = tuple(
        (s, chosen[s].digest, chosen[s].batch) if s in chosen else (s, null_digest, ()) for s in range(min_s + 1, max_s + 1)
    )
    return NewViewPlan(min_s, best.checkpoint_proof, entries)


class ViewChangeMixin:
    __slots__ = ()

    # ------------------------------------------------------- leaving a view
    def _start_view_change(self: PbftReplica, v: int) -> None:
        if v <= self.view:
            return
        self.view = v
        self.active = False
        self._cancel_batch()
        self._cancel_vc_timer()
        for key in [k for k in self.slots if k[0] < v]:
            del self.slots[key]
        vc = self._make_view_change(v)
        self._prune_view_changes()
        self.vc_msgs.setdefault(v, {})[self.node_id] = vc
        self._broadcast(vc)
        self._arm_vc_resend()
        self._check_vc_quorum()

    def _arm_vc_resend(self: PbftReplica) -> None:
        self._out.append(SetTimer(VC_RESEND_TIMER, self.params.view_change_timeout_s / 2))

    def _resend_view_change(self: PbftReplica) -> None:
        """Retransmit our VIEW-CHANGE while waiting (messages get lost); peers that
        already installed the view answer with their NEW-VIEW."""
        if self.active:
            return
        own = self.vc_msgs.get(self.view, {}).get(self.node_id)
        if own is not None:
            self._broadcast(own)
        self._arm_vc_resend()

    def _make_view_change(self: PbftReplica, v: int) -> ViewChange:
        certs = []
        for s in sorted(self.prepared_slots):
            slot = self.prepared_slots[s]
            if s <= self.h or slot.pp is None:
                continue
            d, prim = slot.digest, slot.view % self.n
            preps = tuple(p for r, p in slot.prepares.items() if p.digest == d and r != prim)
            certs.append(PreparedCert(slot.pp, preps[: self.q_prepare]))
        prepared = tuple(certs)
        me = self.node_id
        sig = self.auth.sign(view_change_body(v, self.h, self.stable_proof, prepared, me))
        return ViewChange(v, self.h, self.stable_proof, prepared, me, sig)

    def _prune_view_changes(self: PbftReplica) -> None:
        for w in [w for w in self.vc_msgs if w < self.view or (w == self.view and self.active)]:
            del self.vc_msgs[w]
        for r in [r for r, w in self.vc_future.items() if w <= self.view]:
            del self.vc_future[r]

    # ------------------------------------------------------ VIEW-CHANGE in
    def _on_view_change(self: PbftReplica, sender: int, m: ViewChange) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        r, v = m.replica, m.view
        if r != sender or r not in self.replica_set or r == self.node_id:
            return self._drop("drop.bad_sender")
        if v < self.view or (v == self.view and self.active):
            nv = self.last_nv
            if nv is not None and nv.view == self.view and self.active:
                self._out.append(Send(sender, nv))  # it missed the NEW-VIEW: relay ours
            return self._drop("drop.stale_view_change")
        if r in self.vc_msgs.get(v, ()):
            return self._drop("drop.duplicate")
        if v > self.view and self.vc_future.get(r, -1) >= v:
            return self._drop("drop.stale_view_change")
        d = self._valid_view_change(m)
        if d is None:
            return self._drop("drop.bad_view_change")
        if v > self.view:
            prev = self.vc_future.get(r)
            if prev is not None:
                old = self.vc_msgs.get(prev)
                if old is not None:
                    old.pop(r, None)
                    if not old:
                        del self.vc_msgs[prev]
            self.vc_future[r] = v
        self.vc_msgs.setdefault(v, {})[r] = m
        if m.stable_seq > self.h:
            self._stable(m.stable_seq, d, m.checkpoint_proof)  # we are behind: adopt it
        if v > self.view:
            self._check_join()
        else:
            self._check_vc_quorum()

    def _valid_view_change(self: PbftReplica, m: ViewChange) -> bytes | None:
        """Check a VIEW-CHANGE; return the digest of its stable checkpoint, or None."""
        if not self.auth.verify(m.replica, view_change_body(m.view, m.stable_seq, m.checkpoint_proof, m.prepared, m.replica), m.sig):
            return None
        s0 = m.stable_seq
        d = self._valid_ckpt_proof(s0, m.checkpoint_proof)
        if d is None or len(m.prepared) > self.window:
            return None
        last = s0
        for cert in m.prepared:
            pp = cert.pre_prepare
            if pp.seq <= last or pp.seq > s0 + self.window or not 0 <= pp.view < m.view:
                return None
            last = pp.seq
            if not self._valid_cert(cert):
                return None
        return d

    def _valid_cert(self: PbftReplica, cert: PreparedCert) -> bool:
        pp = cert.pre_prepare
        w, s, d = pp.view, pp.seq, pp.digest
        prim = w % self.n
        if len(pp.batch) > self.batch_max or self.crypto.digest(batch_bytes(pp.batch)) != d:
            return False
        if not self.auth.check_any(prim, pre_prepare_body(w, s, d), pp.auth):
            return False
        seen: set[int] = set()
        for p in cert.prepares:
            r = p.replica
            if p.view != w or p.seq != s or p.digest != d or r == prim or r in seen or r not in self.replica_set:
                return False
            if not self.auth.check(r, vote_body(PREPARE, w, s, d, r), p.auth):
                return False
            seen.add(r)
        return len(seen) >= self.q_prepare

    def _check_join(self: PbftReplica) -> None:
        """§4.5.2: f+1 VIEW-CHANGEs for views above ours make us join the smallest."""
        higher = [w for w in self.vc_future.values() if w > self.view]
        if len(higher) >= self.q_join:
            self._start_view_change(min(higher))

    def _check_vc_quorum(self: PbftReplica) -> None:
        if self.active:
            return
        v = self.view
        vcs = self.vc_msgs.get(v)
        if vcs is None or len(vcs) < self.q_join:
            return
        self._arm_vc_timer()  # wait this long for the NEW-VIEW (doubles if it never comes)
        if len(vcs) >= self.q_vc and v % self.n == self.node_id and self.node_id in vcs and self.nv_sent < v:
            self._send_new_view(v, vcs)

    # ------------------------------------------------------------ NEW-VIEW
    def _send_new_view(self: PbftReplica, v: int, vcs: dict[int, ViewChange]) -> None:
        me = self.node_id
        chosen = [vcs[me]] + [vcs[r] for r in sorted(vcs) if r != me]
        V = tuple(chosen[: self.q_vc])
        plan = compute_new_view(V, self.null_digest)
        sign = self.auth.sign
        O = tuple(PrePrepare(v, s, d, batch, (sign(pre_prepare_body(v, s, d)),)) for s, d, batch in plan.entries)
        nv = NewView(v, V, O, me, sign(new_view_body(v, V, O, me)))
        self.nv_sent = v
        self._broadcast(nv)
        self._install_new_view(nv, plan)

    def _on_new_view(self: PbftReplica, sender: int, m: NewView) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        v = m.view  # may be relayed by any replica; it is signed by primary(v)
        if m.replica != v % self.n or m.replica == self.node_id or sender not in self.replica_set:
            return self._drop("drop.bad_sender")
        if v < self.view or (v == self.view and self.active):
            return self._drop("drop.stale_new_view")
        if not self.auth.verify(m.replica, new_view_body(v, m.view_changes, m.pre_prepares, m.replica), m.sig):
            return self._drop("drop.bad_auth")
        V = m.view_changes
        if not self.q_vc <= len(V) <= self.n or len({vc.replica for vc in V}) != len(V):
            return self._drop("drop.bad_new_view")
        known = self.vc_msgs.get(v, {})
        for vc in V:
            if vc.view != v or vc.replica not in self.replica_set:
                return self._drop("drop.bad_new_view")
            if known.get(vc.replica) != vc and self._valid_view_change(vc) is None:
                return self._drop("drop.bad_new_view")
        plan = compute_new_view(V, self.null_digest)
        O = m.pre_prepares
        if len(O) != len(plan.entries):
            return self._drop("drop.bad_new_view")
        for pp, (s, d, batch) in zip(O, plan.entries):
            if pp.view != v or pp.seq != s or pp.digest != d or pp.batch != batch:
                return self._drop("drop.bad_new_view")
            if not self.auth.check_any(m.replica, pre_prepare_body(v, s, d), pp.auth):
                return self._drop("drop.bad_new_view")
        self._install_new_view(m, plan)

    def _install_new_view(self: PbftReplica, nv: NewView, plan: NewViewPlan) -> None:
        v, me = nv.view, self.node_id
        if plan.min_s > self.h:
            self._stable(plan.min_s, plan.proof[0].state_digest, plan.proof)
        self.view = v
        self.active = True
        self.last_nv = nv
        for key in [k for k in self.slots if k[0] < v]:
            del self.slots[key]
        self._prune_view_changes()
        self._cancel_vc_timer()
        self._out.append(CancelTimer(VC_RESEND_TIMER))
        self.view_hints = {}
        self.proposed = {}
        self.waiting_seq = 0
        is_primary = v % self.n == me
        for pp in nv.pre_prepares:
            if not self._in_window(pp.seq):
                continue
            slot = self._slot(v, pp.seq)
            if slot.pp is None:
                self._accept_pre_prepare(slot, pp)
            if is_primary:
                for req in pp.batch:
                    if req.ts > self.proposed.get(req.client, -1):
                        self.proposed[req.client] = req.ts
        self.seq_next = max(plan.max_s, self.h) + 1
        early = sorted((k, val) for k, val in self.future_pp.items() if k[0] == v)
        self.future_pp = {}
        for _key, (sender, pp) in early:
            self._on_pre_prepare(sender, pp)
        self._observe(ViewChanged(me, v))
        if self._waiting():
            self._arm_vc_timer()
        self.queue = {}
        for req in list(self.pending.values()):
            if is_primary:
                self._enqueue(req)
            else:
                self._out.append(Send(v % self.n, req))
        self._try_propose()
