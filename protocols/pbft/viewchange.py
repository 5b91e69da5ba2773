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

:class:`ViewChanger` owns the current ``view``, whether it is ``active``
(installed) or still waiting for its NEW-VIEW, the view-change timer, and the
VIEW-CHANGE/NEW-VIEW bookkeeping. It validates what it receives and returns
actions; entering and installing a view touch the log, the checkpoints and the
request queue too, so the replica drives those steps and asks the view changer
for its part of each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from bftlab.api import Broadcast, CancelTimer, Send, SetTimer

from .config import Drop, ReplicaConfig
from .messages import (
    PREPARE,
    Checkpoint,
    NewView,
    PreparedCert,
    PrePrepare,
    Request,
    ViewChange,
    batch_bytes,
    new_view_body,
    pre_prepare_body,
    view_change_body,
    vote_body,
    well_formed,
)

VC_TIMER = "vc"
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
        (s, chosen[s].digest, chosen[s].batch) if s in chosen else (s, null_digest, ())
        for s in range(min_s + 1, max_s + 1)
    )
    return NewViewPlan(min_s, best.checkpoint_proof, entries)


ProofChecker = Callable[[int, tuple[Checkpoint, ...]], "bytes | None"]
"""Returns the state digest a checkpoint proof proves for a seq, or None (the checkpoint manager's)."""


class ViewChanger:
    """The view, the view-change timer and the VIEW-CHANGE / NEW-VIEW protocol of one replica."""

    __slots__ = (
        "cfg", "drop", "valid_ckpt_proof", "view", "active", "timer_armed", "attempts",
        "msgs", "future", "nv_sent", "last_nv", "hints", "null_digest",
    )  # fmt: skip

    def __init__(self, cfg: ReplicaConfig, drop: Drop, valid_ckpt_proof: ProofChecker) -> None:
        self.cfg = cfg
        self.drop = drop
        self.valid_ckpt_proof = valid_ckpt_proof
        self.view = 0
        self.active = True  # False while waiting for NEW-VIEW of self.view
        self.timer_armed = False
        self.attempts = 0  # view changes since a request last executed (timer doublings)
        self.msgs: dict[int, dict[int, ViewChange]] = {}  # view -> replica -> VIEW-CHANGE
        self.future: dict[int, int] = {}  # replica -> view of its VIEW-CHANGE above ours
        self.nv_sent = -1
        self.last_nv: NewView | None = None
        self.hints: dict[int, int] = {}  # replica -> highest view seen in its authentic votes
        self.null_digest = cfg.crypto.digest(batch_bytes(()))  # what O holds where nothing prepared

    # -------------------------------------------------------------- timer
    def timeout(self) -> float:
        params = self.cfg.params
        doublings = min(max(0, self.attempts - 1), params.view_change_backoff_max)
        return params.view_change_timeout_s * (1 << doublings)

    def arm_timer(self) -> list[Any]:
        if self.timer_armed:
            return []
        self.timer_armed = True
        return [SetTimer(VC_TIMER, self.timeout())]

    def restart_timer(self) -> list[Any]:
        self.timer_armed = True
        return [SetTimer(VC_TIMER, self.timeout())]

    def cancel_timer(self) -> list[Any]:
        if not self.timer_armed:
            return []
        self.timer_armed = False
        return [CancelTimer(VC_TIMER)]

    def timer_fired(self) -> int:
        """The view-change timer expired: the view to move to."""
        self.timer_armed = False
        self.attempts += 1
        return self.view + 1

    def timers_lost(self) -> None:
        """A reboot: no timer survived."""
        self.timer_armed = False

    def request_executed(self) -> None:
        self.attempts = 0

    def hint(self, r: int, v: int) -> int | None:
        """Authentic votes from f+1 replicas in higher views: we missed a NEW-VIEW. Returns the view to move to."""
        hints = self.hints
        if hints.get(r, -1) >= v:
            return None
        hints[r] = v
        higher = sorted((w for w in hints.values() if w > self.view), reverse=True)
        q = self.cfg.q_join
        if len(higher) >= q:
            self.hints = {}
            return higher[q - 1]
        return None

    # ------------------------------------------------------- leaving a view
    def start(self, v: int, h: int, proof: tuple[Checkpoint, ...], prepared: tuple[PreparedCert, ...]) -> list[Any]:
        """Move to view ``v`` (not yet installed) and multicast our VIEW-CHANGE with ``(h, proof, prepared)``."""
        self.view = v
        self.active = False
        out = self.cancel_timer()
        me = self.cfg.node_id
        vc = ViewChange(v, h, proof, prepared, me, self.cfg.auth.sign(view_change_body(v, h, proof, prepared, me)))
        self._prune()
        self.msgs.setdefault(v, {})[me] = vc
        out.append(Broadcast(self.cfg.others, vc))
        out.append(self.resend_timer())
        return out

    def resend_timer(self) -> SetTimer:
        return SetTimer(VC_RESEND_TIMER, self.cfg.params.view_change_timeout_s / 2)

    def resend(self) -> list[Any]:
        """Retransmit our VIEW-CHANGE while waiting (messages get lost); peers that
        already installed the view answer with their NEW-VIEW."""
        if self.active:
            return []
        out: list[Any] = []
        own = self.msgs.get(self.view, {}).get(self.cfg.node_id)
        if own is not None:
            out.append(Broadcast(self.cfg.others, own))
        out.append(self.resend_timer())
        return out

    def _prune(self) -> None:
        view, active = self.view, self.active
        for w in [w for w in self.msgs if w < view or (w == view and active)]:
            del self.msgs[w]
        for r in [r for r, w in self.future.items() if w <= view]:
            del self.future[r]

    # ------------------------------------------------------ VIEW-CHANGE in
    def on_view_change(self, sender: int, m: ViewChange) -> tuple[list[Any], bytes | None]:
        """Validate and record a VIEW-CHANGE. Returns the actions and, if it was recorded, the digest of
        its stable checkpoint (the caller adopts it if ours is older, then joins or checks the quorum)."""
        if not well_formed(m):
            return self._no("drop.malformed")
        r, v = m.replica, m.view
        cfg = self.cfg
        if r != sender or r not in cfg.replica_set or r == cfg.node_id:
            return self._no("drop.bad_sender")
        if v < self.view or (v == self.view and self.active):
            nv = self.last_nv
            out: list[Any] = []
            if nv is not None and nv.view == self.view and self.active:
                out.append(Send(sender, nv))  # it missed the NEW-VIEW: relay ours
            self.drop("drop.stale_view_change")
            return out, None
        if r in self.msgs.get(v, ()):
            return self._no("drop.duplicate")
        if v > self.view and self.future.get(r, -1) >= v:
            return self._no("drop.stale_view_change")
        d = self.valid_view_change(m)
        if d is None:
            return self._no("drop.bad_view_change")
        if v > self.view:
            prev = self.future.get(r)
            if prev is not None:
                old = self.msgs.get(prev)
                if old is not None:
                    old.pop(r, None)
                    if not old:
                        del self.msgs[prev]
            self.future[r] = v
        self.msgs.setdefault(v, {})[r] = m
        return [], d

    def _no(self, reason: str) -> tuple[list[Any], None]:
        self.drop(reason)
        return [], None

    def valid_view_change(self, m: ViewChange) -> bytes | None:
        """Check a VIEW-CHANGE; return the digest of its stable checkpoint, or None."""
        body = view_change_body(m.view, m.stable_seq, m.checkpoint_proof, m.prepared, m.replica)
        if not self.cfg.auth.verify(m.replica, body, m.sig):
            return None
        s0 = m.stable_seq
        d = self.valid_ckpt_proof(s0, m.checkpoint_proof)
        window = self.cfg.window
        if d is None or len(m.prepared) > window:
            return None
        last = s0
        for cert in m.prepared:
            pp = cert.pre_prepare
            if pp.seq <= last or pp.seq > s0 + window or not 0 <= pp.view < m.view:
                return None
            last = pp.seq
            if not self._valid_cert(cert):
                return None
        return d

    def _valid_cert(self, cert: PreparedCert) -> bool:
        cfg = self.cfg
        pp = cert.pre_prepare
        w, s, d = pp.view, pp.seq, pp.digest
        prim = w % cfg.n
        if len(pp.batch) > cfg.batch_max or cfg.crypto.digest(batch_bytes(pp.batch)) != d:
            return False
        if not cfg.auth.check_any(prim, pre_prepare_body(w, s, d), pp.auth):
            return False
        seen: set[int] = set()
        for p in cert.prepares:
            r = p.replica
            if p.view != w or p.seq != s or p.digest != d or r == prim or r in seen or r not in cfg.replica_set:
                return False
            if not cfg.auth.check(r, vote_body(PREPARE, w, s, d, r), p.auth):
                return False
            seen.add(r)
        return len(seen) >= cfg.q_prepare

    def join_target(self) -> int | None:
        """§4.5.2: f+1 VIEW-CHANGEs for views above ours make us join the smallest."""
        higher = [w for w in self.future.values() if w > self.view]
        return min(higher) if len(higher) >= self.cfg.q_join else None

    def check_quorum(self) -> tuple[list[Any], tuple[NewView, NewViewPlan] | None]:
        """While waiting for a view: arm the timer at f+1 VIEW-CHANGEs and, as its primary, send the
        NEW-VIEW at 2f+1. Returns the actions and the NEW-VIEW we sent (for the caller to install)."""
        if self.active:
            return [], None
        v, cfg = self.view, self.cfg
        vcs = self.msgs.get(v)
        if vcs is None or len(vcs) < cfg.q_join:
            return [], None
        out = self.arm_timer()  # wait this long for the NEW-VIEW (doubles if it never comes)
        me = cfg.node_id
        if len(vcs) >= cfg.q_vc and v % cfg.n == me and me in vcs and self.nv_sent < v:
            chosen = [vcs[me]] + [vcs[r] for r in sorted(vcs) if r != me]
            V = tuple(chosen[: cfg.q_vc])
            plan = compute_new_view(V, self.null_digest)
            sign = cfg.auth.sign
            # V and O are the paper's names for these sets (§4.4).
            O = tuple(  # noqa: E741
                PrePrepare(v, s, d, batch, (sign(pre_prepare_body(v, s, d)),)) for s, d, batch in plan.entries
            )
            nv = NewView(v, V, O, me, sign(new_view_body(v, V, O, me)))
            self.nv_sent = v
            out.append(Broadcast(cfg.others, nv))
            return out, (nv, plan)
        return out, None

    # ------------------------------------------------------------ NEW-VIEW
    def on_new_view(self, sender: int, m: NewView) -> NewViewPlan | None:
        """Validate a NEW-VIEW (recomputing its O set); the plan to install, or None (dropped)."""
        if not well_formed(m):
            return self.drop("drop.malformed")
        cfg = self.cfg
        v = m.view  # may be relayed by any replica; it is signed by primary(v)
        if m.replica != v % cfg.n or m.replica == cfg.node_id or sender not in cfg.replica_set:
            return self.drop("drop.bad_sender")
        if v < self.view or (v == self.view and self.active):
            return self.drop("drop.stale_new_view")
        if not cfg.auth.verify(m.replica, new_view_body(v, m.view_changes, m.pre_prepares, m.replica), m.sig):
            return self.drop("drop.bad_auth")
        V = m.view_changes
        if not cfg.q_vc <= len(V) <= cfg.n or len({vc.replica for vc in V}) != len(V):
            return self.drop("drop.bad_new_view")
        known = self.msgs.get(v, {})
        for vc in V:
            if vc.view != v or vc.replica not in cfg.replica_set:
                return self.drop("drop.bad_new_view")
            if known.get(vc.replica) != vc and self.valid_view_change(vc) is None:
                return self.drop("drop.bad_new_view")
        plan = compute_new_view(V, self.null_digest)
        O = m.pre_prepares  # noqa: E741 (the paper's name)
        if len(O) != len(plan.entries):
            return self.drop("drop.bad_new_view")
        for pp, (s, d, batch) in zip(O, plan.entries):
            if pp.view != v or pp.seq != s or pp.digest != d or pp.batch != batch:
                return self.drop("drop.bad_new_view")
            if not cfg.auth.check_any(m.replica, pre_prepare_body(v, s, d), pp.auth):
                return self.drop("drop.bad_new_view")
        return plan

    def install(self, nv: NewView) -> list[Any]:
        """Enter view ``nv.view`` (the caller has checked ``nv``); stop the view-change timers."""
        self.view = nv.view
        self.active = True
        self.last_nv = nv
        self._prune()
        out = self.cancel_timer()
        out.append(CancelTimer(VC_RESEND_TIMER))
        self.hints = {}
        return out
