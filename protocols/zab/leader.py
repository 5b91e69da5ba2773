"""The leader's side of discovery, synchronisation and broadcast (DSN'11 §IV, Algorithms 1-3 leader parts).

Theory of operation
-------------------
**Discovery.** The elected replica collects FOLLOWERINFO (CEPOCH) from a
quorum, itself included, picks ``e' = max(acceptedEpoch) + 1``, makes
acceptedEpoch = e' durable and only then sends NEWEPOCH(e'). From a quorum of
ACKEPOCHs of replicas that accepted e' from it (its own counts once its write
is durable; see :mod:`.follower` for those that accepted e' from another) it adopts the history of
the one with the highest ``(currentEpoch, lastZxid)`` (§IV-A, step l.1.2);
followers ship their history only when it beats the leader's, so the leader's
own history is adopted without a copy in the usual case, when FLE elected the
most up-to-date replica.

**Synchronisation.** It persists that initial history I and currentEpoch = e',
then sends each follower a NEWLEADER that brings it to I: DIFF (append what it
misses), TRUNC (drop an uncommitted suffix first) or SNAP (the whole history,
when the follower's log does not match). Once a quorum, itself included after
its own Sync, acknowledged NEWLEADER, I is committed (§IV-B) and the epoch is
established. Followers that arrive later go through the same steps.

**Broadcast.** Each client request becomes a PROPOSAL with zxid
``(e', counter)``; the leader logs it (the PROPOSAL leaves once the write is
durable) and counts its own ACK when durable; index ``k`` commits when a
quorum acknowledged ``k`` (every ACK covers the prefix: followers accept in
order), and COMMIT follows. A PING every ``tick_s`` carries the commit index
and length; PONGs keep the leader informed (one stands in for a lost ACK or
ACKLEADER), and a leader that hears from fewer than a quorum for
``leader_timeout_s`` steps down (back to election).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from bftlab.api import Broadcast, CancelTimer, Send, SetTimer
from bftlab.protocols.cft import ClientReply, ClientRequest

from .durability import SelfAck
from .messages import (
    DIFF,
    SNAP,
    TRUNC,
    ZERO,
    Ack,
    AckEpoch,
    AckLeader,
    Commit,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Ping,
    Pong,
    Proposal,
    Txn,
)
from .phases import BROADCAST, DISCOVERY, SYNC, SYNCING, TICK


class LeaderRole:
    """Mixin of :class:`~.replica.ZabReplica`: everything only a LEADING replica does."""

    def _init_leader(self: Any) -> None:
        self.epoch = 0  # the epoch being established or led
        self.epoch_chosen = False
        self.infos: dict[int, FollowerInfo] = {}
        self.acks_epoch: dict[int, AckEpoch] = {}
        self.forward: set[int] = set()  # sent NEWLEADER in ``epoch``: they get PROPOSALs and PINGs
        self.acked: dict[int, int] = {}  # follower -> durable length it acknowledged (after ACKLEADER)
        self.self_acked = 0
        self.self_synced = False
        self.heard: dict[int, float] = {}
        self.waiting: dict[int, ClientRequest] = {}
        self.inflight: dict[int, int] = {}  # client -> ts of a request in our history above ``commit``

    def _own_info(self: Any) -> FollowerInfo:
        le, lc = self.last_zxid()
        return FollowerInfo(self.node_id, self.accepted_epoch, self.current_epoch, le, lc, len(self.history), 0)

    def _lead(self: Any, early: dict[int, FollowerInfo]) -> None:
        self.infos = {**early, self.node_id: self._own_info()}
        self.heard = dict.fromkeys(early, self.now)
        self._out.append(SetTimer(TICK, self.params.tick_s))
        self._try_new_epoch()

    def _try_new_epoch(self: Any) -> None:
        if self.epoch_chosen or len(self.infos) < self.quorum:
            return
        self.epoch = max(i.accepted_epoch for i in self.infos.values()) + 1
        self.epoch_chosen = True
        self._accept_epoch(self.epoch, self.node_id)
        info = self._own_info()
        self.acks_epoch[self.node_id] = AckEpoch(self.epoch, info.current_epoch, info.last_epoch, info.last_counter,
                                                 info.length, (), 0, 1)
        for f, i in sorted(self.infos.items()):
            if f != self.node_id:
                self._out.append(Send(f, self._new_epoch_msg(i.attempt)))

    def _new_epoch_msg(self: Any, attempt: int) -> NewEpoch:
        le, lc = self.last_zxid()
        return NewEpoch(self.epoch, self.current_epoch, le, lc, attempt)

    # ------------------------------------------------------------------ messages from followers
    def _leader_receive(self: Any, f: int, m: Any) -> None:
        self.heard[f] = self.now
        t = type(m)
        if t is FollowerInfo:
            self._on_follower_info(f, m)
        elif t is AckEpoch:
            self._on_ack_epoch(f, m)
        elif t is AckLeader:
            self._on_ack_leader(f, m)
        elif t is Ack:
            if m.epoch == self.epoch and f in self.acked:
                self.acked[f] = max(self.acked[f], m.index)
                self._advance()
        elif t is Pong:
            # A PONG comes only from a follower that accepted our NEWLEADER and made it durable: it says what
            # ACKLEADER says, so it stands in for one that was lost.
            if m.epoch == self.epoch and f in self.forward and self.phase != DISCOVERY:
                self._on_ack_leader(f, AckLeader(m.epoch, m.length))
        else:
            self._drop("drop.unexpected_type")

    def _on_follower_info(self: Any, f: int, m: FollowerInfo) -> None:
        if m.replica != f:
            return self._drop("drop.bad_sender")
        # It (re)starts discovery: no proposals until it is in sync again.
        self.forward.discard(f)
        self.acked.pop(f, None)
        self.acks_epoch.pop(f, None)
        self.infos[f] = m
        if not self.epoch_chosen:
            return self._try_new_epoch()
        if m.accepted_epoch > self.epoch:  # it promised a newer leader: it will refuse our epoch
            return self._count("zab.follower_ahead")
        self._out.append(Send(f, self._new_epoch_msg(m.attempt)))

    def _on_ack_epoch(self: Any, f: int, m: AckEpoch) -> None:
        info = self.infos.get(f)
        if not self.epoch_chosen or m.epoch != self.epoch or info is None or m.attempt != info.attempt:
            return self._drop("drop.stale_epoch")
        if m.history and len(m.history) != m.length:
            return self._drop("drop.malformed")
        self.acks_epoch[f] = m
        if self.phase == DISCOVERY:
            if sum(a.fresh for a in self.acks_epoch.values()) >= self.quorum:
                self._choose_history()
        else:
            self._sync_follower(f, m)

    def _choose_history(self: Any) -> None:
        """Adopt the most recent history of the quorum (l.1.2) as the initial history I of our epoch."""
        def rank(a: AckEpoch) -> tuple[int, tuple[int, int]]:
            return (a.current_epoch, (a.last_epoch, a.last_counter))

        own = self.acks_epoch[self.node_id]
        best = max(self.acks_epoch.values(), key=rank)
        if rank(best) > rank(own) and best.history:
            self._count("zab.adopted_history")
            self._replace_history(0, best.history)
        self._set_current_epoch(self.epoch)
        self.phase = SYNCING
        self.inflight = {t.client: t.ts for t in self.history[self.commit:]}
        self._out.append(SelfAck(self.epoch, len(self.history), leader_sync=True))
        for g, a in sorted(self.acks_epoch.items()):
            if g != self.node_id:
                self._sync_follower(g, a)

    def _sync_follower(self: Any, f: int, a: AckEpoch) -> None:
        self._out.append(Send(f, self._new_leader_for(a)))
        self.forward.add(f)

    def _new_leader_for(self: Any, a: AckEpoch) -> NewLeader:
        h = self.history
        last = (a.last_epoch, a.last_counter)
        if a.length < 0:
            mode, base = SNAP, 0
        elif last == ZERO:
            mode, base = (DIFF if a.length == 0 else SNAP), 0
        else:
            j = bisect_left(h, last, key=lambda t: t.zxid)  # entries of ours strictly below its last zxid
            if j < len(h) and h[j].zxid == last:
                mode, base = (DIFF, j + 1) if a.length == j + 1 else (SNAP, 0)
            else:
                mode, base = TRUNC, j
        be, bc = h[base - 1].zxid if base else ZERO
        return NewLeader(self.epoch, mode, base, be, bc, tuple(h[base:]), a.attempt)

    def _on_ack_leader(self: Any, f: int, m: AckLeader) -> None:
        if m.epoch != self.epoch or f not in self.forward or self.phase == DISCOVERY:
            return self._drop("drop.stale_epoch")
        known = f in self.acked
        self.acked[f] = max(self.acked.get(f, 0), m.length)
        if self.phase == SYNCING:
            self._try_establish()
        else:
            if not known:
                self._out.append(Send(f, Commit(self.epoch, self.commit)))
            self._advance()

    def _self_acked(self: Any, item: SelfAck) -> None:
        if self.state != 2 or item.epoch != self.epoch:  # 2 = LEADING; a stale marker from an earlier term
            return
        self.self_acked = max(self.self_acked, item.index)
        if item.leader_sync:
            self.self_synced = True
            self._try_establish()
        else:
            self._advance()

    def _try_establish(self: Any) -> None:
        if self.phase != SYNCING or not self.self_synced or 1 + len(self.acked) < self.quorum:
            return
        self.phase = BROADCAST  # I is committed: a quorum holds it durably (l.2.2)
        self._out.append(CancelTimer(SYNC))
        self._count("zab.epochs_established")
        self._advance()
        waiting, self.waiting = self.waiting, {}
        for _, m in sorted(waiting.items()):
            self._leader_request(m)

    def _advance(self: Any) -> None:
        if self.phase != BROADCAST:
            return
        lengths = sorted([self.self_acked, *self.acked.values()], reverse=True)
        if len(lengths) < self.quorum:
            return
        k = lengths[self.quorum - 1]
        if k > self.commit:
            self._commit_to(k)
            if self.acked:
                self._out.append(Broadcast(tuple(sorted(self.acked)), Commit(self.epoch, self.commit)))

    # ------------------------------------------------------------------ clients and heartbeats
    def _leader_request(self: Any, m: ClientRequest) -> None:
        done = self.machine.answered(m.client, m.ts)
        if done is not None:
            self._out.append(Send(m.client, ClientReply(m.client, m.ts, done, self.node_id, self.node_id)))
            return None
        last = self.machine.sessions.get(m.client)
        if (last is not None and m.ts <= last[0]) or self.inflight.get(m.client, -1) >= m.ts:
            return self._drop("drop.old_request")
        if self.phase != BROADCAST:
            prev = self.waiting.get(m.client)
            if prev is None or prev.ts < m.ts:
                self.waiting[m.client] = m
            return None
        h = self.history
        counter = h[-1].counter + 1 if h and h[-1].epoch == self.epoch else 1
        i = self._append(Txn(self.epoch, counter, m.client, m.ts, m.op))
        self.inflight[m.client] = m.ts
        if self.forward:
            self._out.append(Broadcast(tuple(sorted(self.forward)), Proposal(self.epoch, i, h[-1])))
        self._out.append(SelfAck(self.epoch, i))
        return None

    def _leader_tick(self: Any) -> None:
        if self.forward:
            self._out.append(Broadcast(tuple(sorted(self.forward)),
                                       Ping(self.epoch, self.commit, len(self.history))))
        if self.phase == BROADCAST:
            alive = sum(1 for f in self.forward if self.heard.get(f, -1e9) >= self.now - self.params.leader_timeout_s)
            if alive + 1 < self.quorum:
                self._count("zab.leader_lost_quorum")
                return self.start_election()
        self._out.append(SetTimer(TICK, self.params.tick_s))
