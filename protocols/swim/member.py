"""The SWIM member: a sans-IO node that probes one member per protocol period and gossips membership.

Theory of operation (Das, Gupta & Motivala, DSN 2002)
-----------------------------------------------------
Every protocol period T' (``period_s``) a member judges the probe of the
period that just ended and starts a new one (section 3.1):

1. it pings its next target Mj (round-robin over a list shuffled at each
   traversal, section 4.3, or a uniform choice, section 3);
2. with no ack after ``ping_timeout_s`` it sends ping-req(Mj) to ``k`` members
   chosen at random; each pings Mj and forwards Mj's ack;
3. if no ack, direct or forwarded, has arrived when the period ends, the probe
   failed: with ``suspicion`` the member marks Mj Suspect and spreads it; a
   Suspect that is not refuted within the suspicion timeout becomes Dead
   (Confirm, section 4.2). Without suspicion a failed probe is a death (the
   basic protocol of section 3).

A member that hears it is suspected (or declared dead) refutes: it raises its
incarnation above the claim and spreads Alive (section 4.2). Updates travel
piggybacked on pings, ping-reqs and acks (section 4.1), each at most
ceil(lambda ln(n+1)) times (:mod:`~bftlab.protocols.swim.view`).

Joins and leaves (section 4). A joiner sends Join to the introducer and gets
its whole view back; the introducer spreads Alive(joiner). A member that
restarts after a crash (its memory is kept, as the simulator does for
non-durable protocols) rejoins the same way at a higher incarnation, through
any member it knows. A leaver spreads Left to a few members and goes quiet.

Two additions beyond the paper: every message a member sends to a member it
holds Suspect or Dead carries that claim first (Lifeguard's "buddy system",
Dadgar, Phillips & Currey 2018), so a suspect learns of its suspicion from the
first probe that reaches it and refutes it at once, however busy the piggyback
buffers are; and every ``sync_periods`` periods a member
exchanges its whole view with any member it knows, dead ones included, which
is what reconnects the two sides of a healed partition (they no longer probe
each other). ``log``, ``outcomes`` and ``sent`` record what the run's metrics
need; nothing reads them during the run.
"""

from __future__ import annotations

import math
from typing import Any

from bftlab.api import NodeContext, Receive, Send, SetTimer, Start, TimerFired

from .messages import Ack, Join, JoinAck, Ping, PingReq, ViewSync, ViewSyncReply
from .params import SwimParams
from .view import ALIVE, DEAD, LEFT, STATUS_NAMES, STATUSES, SUSPECT, Piggyback, Update, overrides, retransmit_limit

PERIOD, JOIN, LEAVE = "period", "join", "leave"


class SwimMember:
    """One group member. ``view`` maps every other known member to ``[status, incarnation]``."""

    def __init__(self, ctx: NodeContext, params: SwimParams) -> None:
        self.node_id = me = ctx.node_id
        self.params = params
        self.rng = ctx.rng
        self.n = ctx.n
        self.inc = 0
        self.joined = me not in params.joiners
        self.left = False
        self.booted = False
        others = [] if not self.joined else [m for m in ctx.replicas if m != me and m not in params.joiners]
        self.view: dict[int, list[int]] = {m: [ALIVE, 0] for m in others}
        self.gossip = Piggyback()
        self.order: list[int] = []
        self.pos = 0
        self.seq = 0
        self.target: int | None = None
        self.target_seq = -1
        self.acked = False
        self.probe_start = 0.0
        self.relays: dict[int, tuple[int, int, int, float]] = {}  # our seq -> (requester, its seq, target, sent at)
        self.periods = 0
        self.now = 0.0
        self.log: list[tuple[float, int, int, int, str]] = []  # (t, member, status, incarnation, how we learned)
        self.outcomes: list[tuple[float, int, bool]] = []  # (probe start, target, acked by the period's end)
        self.sent: dict[str, int] = {}
        self.counters: dict[str, int] = {}
        self._out: list[Any] = []
        timeout = params.suspicion_periods or params.suspicion_mult * math.log10(max(ctx.n, 10))
        self.suspicion_timeout_s = timeout * params.period_s

    # ------------------------------------------------------------------ helpers
    def _count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def _limit(self) -> int:
        return retransmit_limit(self.params.retransmit_mult, len(self.view) + 1)

    def _updates(self, to: int) -> tuple[Update, ...]:
        """The updates to piggyback on a message to ``to``: first what we hold against it, if anything (a suspect
        or a member we hold dead learns it from the first message we send it, and can refute at once)."""
        rec = self.view.get(to)
        first = (rec[0], to, rec[1]) if rec is not None and rec[0] in (SUSPECT, DEAD) else None
        return self.gossip.take(self.params.max_piggyback, self._limit(), first)

    def _send(self, to: int, msg: Any) -> None:
        name = type(msg).__name__
        self.sent[name] = self.sent.get(name, 0) + 1
        self._out.append(Send(to, msg))

    def _probeable(self, m: int) -> bool:
        rec = self.view.get(m)
        return rec is not None and rec[0] <= SUSPECT

    def _live_members(self) -> list[int]:
        return [m for m, rec in self.view.items() if rec[0] <= SUSPECT]

    def view_wire(self) -> tuple[Update, ...]:
        """The whole view, this member included, as updates."""
        mine = (LEFT if self.left else ALIVE, self.node_id, self.inc)
        return (mine, *((rec[0], m, rec[1]) for m, rec in sorted(self.view.items())))

    # ------------------------------------------------------------------ entry point
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        if self.left:
            return out  # gone: a leaver answers nothing, like a crashed member
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except Exception:  # a peer's garbage must never crash us
                self._count("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Start:
            self._on_start(now)
        return out

    def _on_start(self, now: float) -> None:
        p = self.params
        if self.booted:  # a restart after a crash: timers and probes in flight are gone; come back newer
            self.inc += 1
            self.target, self.relays, self.joined = None, {}, False
            self._count("restarts")
            self.gossip.add(ALIVE, self.node_id, self.inc)
            for m, rec in self.view.items():
                if rec[0] == SUSPECT:
                    self._out.append(SetTimer(("suspect", m, rec[1]), self.suspicion_timeout_s))
            self._try_join()
            return
        self.booted = True
        if not self.joined:
            self._out.append(SetTimer(JOIN, max(0.0, p.join_at_s - now)))
        else:
            self._arm_first_period(now)
        if self.node_id in p.leavers:
            self._out.append(SetTimer(LEAVE, max(0.0, p.leave_at_s - now)))

    def _arm_first_period(self, now: float) -> None:
        period = self.params.period_s
        if self.params.phase == "aligned":
            delay = (math.floor(now / period + 1e-9) + 1) * period - now
        else:
            delay = self.rng.uniform(0.0, period)
        self._out.append(SetTimer(PERIOD, delay))

    # ------------------------------------------------------------------ timers
    def _on_timer(self, name: Any) -> None:
        if name == PERIOD:
            self._period()
        elif name == JOIN:
            self._try_join()
        elif name == LEAVE:
            self._leave()
        elif type(name) is tuple and name[0] == "ack":
            self._ping_timeout(name[1])
        elif type(name) is tuple and name[0] == "suspect":
            self._suspicion_timeout(name[1], name[2])

    def _period(self) -> None:
        p = self.params
        self._out.append(SetTimer(PERIOD, p.period_s))
        if not self.joined:
            return self._try_join()
        if self.target is not None:
            self.outcomes.append((self.probe_start, self.target, self.acked))
            if not self.acked:
                self._probe_failed(self.target)
        self.target = None
        self.periods += 1
        horizon = self.now - p.period_s
        self.relays = {s: r for s, r in self.relays.items() if r[3] >= horizon}
        if p.sync_periods and self.periods % p.sync_periods == 0:
            self._sync()
        target = self._next_target()
        if target is None:
            return None
        self.seq += 1
        self.target, self.target_seq, self.acked, self.probe_start = target, self.seq, False, self.now
        self._send(target, Ping(self.seq, self.inc, self._updates(target)))
        self._out.append(SetTimer(("ack", self.seq), p.ping_timeout_s))
        return None

    def _next_target(self) -> int | None:
        if self.params.target_selection == "random":
            live = sorted(self._live_members())
            return live[self.rng.randrange(len(live))] if live else None
        for _ in range(2 * len(self.order) + 2):  # bounded: at most one reshuffle per call
            if self.pos >= len(self.order):
                self.order = sorted(self._live_members())
                self.rng.shuffle(self.order)
                self.pos = 0
                if not self.order:
                    return None
            m = self.order[self.pos]
            self.pos += 1
            if self._probeable(m):
                return m
        return None

    def _ping_timeout(self, seq: int) -> None:
        if seq != self.target_seq or self.acked or self.target is None:
            return
        target = self.target
        helpers = [m for m in sorted(self._live_members()) if m != target]
        for m in self.rng.sample(helpers, min(self.params.k, len(helpers))):
            self._send(m, PingReq(seq, target, self._updates(m)))

    def _probe_failed(self, target: int) -> None:
        rec = self.view.get(target)
        self._count("probes.failed")
        if rec is None or rec[0] > SUSPECT:
            return
        if self.params.suspicion:
            if rec[0] == ALIVE:
                self._set(target, SUSPECT, rec[1], "probe")
        else:
            self._set(target, DEAD, rec[1], "probe")

    def _suspicion_timeout(self, member: int, inc: int) -> None:
        if self.view.get(member) == [SUSPECT, inc]:
            self._set(member, DEAD, inc, "timeout")

    # ------------------------------------------------------------------ membership
    def _set(self, member: int, status: int, inc: int, how: str) -> None:
        """Record a new claim about ``member``, spread it, and keep the probe list and timers in step."""
        was = self.view.get(member)
        self.view[member] = [status, inc]
        self.log.append((self.now, member, status, inc, how))
        self.gossip.add(status, member, inc)
        if status == SUSPECT:
            self._out.append(SetTimer(("suspect", member, inc), self.suspicion_timeout_s))
        if status <= SUSPECT and (was is None or was[0] > SUSPECT) and self.params.target_selection == "round-robin":
            if member in self.order:  # back from the dead: its old place goes, so it is probed once per traversal
                at = self.order.index(member)
                del self.order[at]
                self.pos -= at < self.pos
            self.order.insert(self.rng.randint(0, len(self.order)), member)  # section 4.3: at a random place

    def apply(self, upd: Any, how: str) -> None:
        """Merge one update received from a peer (see :func:`~bftlab.protocols.swim.view.overrides`)."""
        status, member, inc = int(upd[0]), int(upd[1]), int(upd[2])
        if status not in STATUSES or inc < 0 or not 0 <= member < self.n:
            return self._count("drop.bad_update")
        if member == self.node_id:
            if status in (SUSPECT, DEAD) and inc >= self.inc:  # section 4.2: refute with a newer incarnation
                self.inc = inc + 1
                self._count("refutations")
                self.gossip.add(ALIVE, self.node_id, self.inc)
            return None
        old = self.view.get(member)
        if old is None or overrides((status, inc), (old[0], old[1])):
            self._set(member, status, inc, how)
        return None

    def _try_join(self) -> None:
        if self.joined or self.left:
            return
        p = self.params
        # A first join goes through the introducer; a restarted member asks anyone it still knows (the
        # introducer may be the one that is down).
        known = [m for m in sorted(self.view) if self._probeable(m)] or sorted(self.view)
        contact = p.introducer
        if self.counters.get("restarts") and known:
            contact = known[self.rng.randrange(len(known))]
        self._send(contact, Join(self.inc))
        self._out.append(SetTimer(JOIN, p.period_s))  # try again until someone answers

    def _on_join(self, sender: int, m: Join) -> None:
        self.apply((ALIVE, sender, m.inc), "join")
        self._send(sender, JoinAck(self.view_wire()))

    def _on_join_ack(self, m: JoinAck) -> None:
        for upd in m.view:
            self.apply(upd, "join")
        if not self.joined:
            self.joined = True
            self._count("joins")
            self._arm_first_period(self.now)

    def _leave(self) -> None:
        live = sorted(self._live_members())
        note = (LEFT, self.node_id, self.inc)
        for m in self.rng.sample(live, min(self.params.k + 1, len(live))):
            self._send(m, Ping(0, self.inc, (note,)))
        self.left = True

    def _sync(self) -> None:
        known = sorted(m for m, rec in self.view.items() if rec[0] != LEFT)
        if known:
            self._send(known[self.rng.randrange(len(known))], ViewSync(self.view_wire()))

    # ------------------------------------------------------------------ messages
    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if not 0 <= sender < self.n or sender == self.node_id:
            return self._count("drop.not_a_member")
        if t is Join:
            return self._on_join(sender, m)
        if t is JoinAck:
            return self._on_join_ack(m)
        if not self.joined:
            return self._count("drop.not_joined")
        if t is Ping:
            return self._on_ping(sender, m)
        if t is Ack:
            return self._on_ack(m)
        if t is PingReq:
            return self._on_ping_req(sender, m)
        if t is ViewSync:
            for upd in m.view:
                self.apply(upd, "sync")
            return self._send(sender, ViewSyncReply(self.view_wire()))
        if t is ViewSyncReply:
            for upd in m.view:
                self.apply(upd, "sync")
            return None
        return self._count("drop.unexpected_type")

    def _on_ping(self, sender: int, m: Ping) -> None:
        self.apply((ALIVE, sender, m.inc), "contact")  # a ping is news of its sender only at a newer incarnation
        for upd in m.updates:
            self.apply(upd, "gossip")
        if m.seq == 0:
            return  # a leave notice, not a probe
        self._send(sender, Ack(m.seq, self.node_id, self._updates(sender)))

    def _on_ack(self, m: Ack) -> None:
        for upd in m.updates:
            self.apply(upd, "gossip")
        if m.seq == self.target_seq and m.member == self.target:
            self.acked = True
            return
        relay = self.relays.pop(m.seq, None)
        if relay is not None and relay[2] == m.member:
            self._send(relay[0], Ack(relay[1], m.member, self._updates(relay[0])))

    def _on_ping_req(self, sender: int, m: PingReq) -> None:
        for upd in m.updates:
            self.apply(upd, "gossip")
        if not 0 <= m.target < self.n or m.target == self.node_id:
            return self._count("drop.bad_ping_req")
        self.seq += 1
        self.relays[self.seq] = (sender, m.seq, m.target, self.now)
        self._send(m.target, Ping(self.seq, self.inc, self._updates(m.target)))
        return None

    # ------------------------------------------------------------------ final state
    def final_state(self) -> dict[str, Any]:
        """The member's view: member id -> [status, incarnation], itself included."""
        members = {str(m): [STATUS_NAMES[rec[0]], rec[1]] for m, rec in sorted(self.view.items())}
        members[str(self.node_id)] = ["left" if self.left else "alive", self.inc]
        return {"members": dict(sorted(members.items(), key=lambda kv: int(kv[0]))), "incarnation": self.inc,
                "joined": self.joined}
