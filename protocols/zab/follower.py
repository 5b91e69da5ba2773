"""The follower's side of discovery, synchronisation and broadcast (DSN'11 §IV, follower parts).

Theory of operation
-------------------
A replica that elected (or joined) a leader sends it FOLLOWERINFO (CEPOCH:
acceptedEpoch, currentEpoch, lastZxid). On NEWEPOCH(e') it refuses an epoch
below its acceptedEpoch (back to election), else makes acceptedEpoch = e'
durable (with the leader's id) and answers ACKEPOCH, with its history if it is
more recent than the leader's. An ACKEPOCH for an epoch it had already accepted
from another replica is marked as not counting towards that epoch's quorum.

On NEWLEADER(e') it checks the sync point (the entry at ``base`` must carry the
zxid the leader says; if not, it asks for a SNAP by starting again with
``length = -1``), truncates and appends, persists history and currentEpoch =
e', and ACKs (ACKLEADER) once that is durable.

In broadcast it accepts PROPOSALs of its epoch only in index order, logs each
and **ACKs only after the Sync** (the write-ahead rule of
:mod:`.durability`); it executes up to the leader's COMMIT (or the commit
index of a PING). A gap (a lost PROPOSAL: links here may lose what ZooKeeper's
TCP would not) that the next PING shows is not just a late one (entries a PING
announced are still missing at the following PING) make it start
discovery again with the same leader, as ZooKeeper's follower does after a
reconnect; so do two PINGs while it still waits for its NEWLEADER. Nothing
heard from the leader for ``leader_timeout_s``, or a LOOKING notification from
it, sends it back to election.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import Send, SetTimer

from .messages import SNAP, Ack, AckEpoch, AckLeader, Commit, FollowerInfo, NewEpoch, NewLeader, Ping, Pong, Proposal
from .phases import BROADCAST, DISCOVERY, SYNC, SYNCING, WATCH

EARLY_MAX = 4096
"""At most this many out-of-order proposals wait for the one before them."""


class FollowerRole:
    """Mixin of :class:`~.replica.ZabReplica`: everything only a FOLLOWING replica does."""

    def _init_follower(self: Any) -> None:
        self.last_leader_msg = 0.0
        self.want_snap = False
        self.attempt = -1
        self.behind = 0  # the history length the last PING announced
        self.early: dict[int, Proposal] = {}  # proposals that overtook an earlier one (or our NEWLEADER)

    def _follow(self: Any) -> None:
        self.last_leader_msg = self.now
        self._out.append(SetTimer(WATCH, self.params.leader_timeout_s))
        self._send_info()

    def _send_info(self: Any) -> None:
        self.phase = DISCOVERY
        self.behind = 0
        self.early = {}
        self.attempt = self.rng.getrandbits(48)
        le, lc = self.last_zxid()
        self._out.append(Send(self.leader, FollowerInfo(self.node_id, self.accepted_epoch, self.current_epoch, le, lc,
                                                        len(self.history), self.attempt)))
        self._out.append(SetTimer(SYNC, self.params.sync_timeout_s))

    def _follower_receive(self: Any, s: int, m: Any) -> None:
        if s != self.leader:
            return self._drop("drop.not_leader")
        self.last_leader_msg = self.now
        t = type(m)
        if t is NewEpoch:
            self._on_new_epoch(m)
        elif t is NewLeader:
            self._on_new_leader(m)
        elif t is Proposal:
            self._on_proposal(m)
        elif t is Commit:
            if self.phase == BROADCAST and m.epoch == self.current_epoch:
                self._commit_to(m.index)
        elif t is Ping:
            self._on_ping(m)
        else:
            self._drop("drop.unexpected_type")

    def _on_new_epoch(self: Any, m: NewEpoch) -> None:
        if self.phase != DISCOVERY or m.attempt != self.attempt:
            return self._drop("drop.stale_epoch")
        if m.epoch < self.accepted_epoch:  # we promised a newer leader (l.1.1)
            self._count("zab.refused_epoch")
            return self.start_election()
        if m.epoch > self.accepted_epoch:
            self._accept_epoch(m.epoch, self.leader)
        # Our ACK counts towards the leader's quorum only if we promised this epoch to this leader: two
        # prospective leaders that picked the same epoch number cannot both gather a quorum (ZooKeeper's
        # ACKEPOCH with -1 for an epoch already accepted).
        fresh = int(self.accepted_from == self.leader)
        mine = (self.current_epoch, self.last_zxid())
        newer = mine > (m.leader_current_epoch, (m.leader_last_epoch, m.leader_last_counter))
        le, lc = self.last_zxid()
        length = -1 if self.want_snap else len(self.history)
        self._out.append(Send(self.leader, AckEpoch(m.epoch, self.current_epoch, le, lc, length,
                                                    tuple(self.history) if newer else (), self.attempt, fresh)))
        self.phase = SYNCING
        self.behind = 0

    def _on_new_leader(self: Any, m: NewLeader) -> None:
        if self.phase != SYNCING or m.epoch != self.accepted_epoch or m.attempt != self.attempt:
            return self._drop("drop.stale_epoch")
        h, base = self.history, m.base
        if m.mode == SNAP:
            ok = base == 0
        else:
            ok = 0 <= base <= len(h) and (base == 0 or h[base - 1].zxid == (m.base_epoch, m.base_counter))
        if not ok or any(t.epoch > m.epoch for t in m.entries):
            self._count("zab.sync_mismatch")
            self.want_snap = True
            return self._send_info()
        self.want_snap = False
        self._replace_history(base, m.entries)
        self._set_current_epoch(m.epoch)
        self._out.append(Send(self.leader, AckLeader(m.epoch, len(self.history))))
        self.phase = BROADCAST
        self.behind = 0
        self._drain_early()

    def _on_proposal(self: Any, m: Proposal) -> None:
        if m.txn.epoch != m.epoch:
            return self._drop("drop.malformed")
        if self.phase == SYNCING and m.epoch == self.accepted_epoch and len(self.early) < EARLY_MAX:
            self.early[m.index] = m  # it overtook our NEWLEADER
            return None
        if self.phase != BROADCAST or m.epoch != self.current_epoch:
            return self._drop("drop.stale_epoch")
        h, i = self.history, m.index
        if i == len(h) + 1:
            self._accept(m)
            self._drain_early()
        elif 1 <= i <= len(h) and h[i - 1] == m.txn:
            self._out.append(Send(self.leader, Ack(m.epoch, i)))  # a duplicate: durable once what is ahead is
        elif i > len(h) + 1:
            if len(self.early) < EARLY_MAX:
                self.early[i] = m  # an earlier one is late or lost: PINGs tell which
        else:
            self._drop("drop.conflicting_proposal")
        return None

    def _accept(self: Any, m: Proposal) -> None:
        self._append(m.txn)
        ack = Send(self.leader, Ack(m.epoch, m.index))
        (self._eager if self.ack_before_sync else self._out).append(ack)

    def _drain_early(self: Any) -> None:
        while True:
            m = self.early.pop(len(self.history) + 1, None)
            if m is None or m.epoch != self.current_epoch:
                break
            self._accept(m)
        self.early = {i: p for i, p in self.early.items() if i > len(self.history)}

    def _on_ping(self: Any, m: Ping) -> None:
        if self.phase == SYNCING and m.epoch == self.accepted_epoch:
            self.behind += 1  # the leader counts us in sync, yet no NEWLEADER came: lost, or very late
            if self.behind >= 2:
                self._count("zab.gaps")
                self._send_info()
            return None
        if self.phase != BROADCAST or m.epoch != self.current_epoch:
            return None
        self._out.append(Send(self.leader, Pong(m.epoch, len(self.history))))
        self._commit_to(m.commit)
        if len(self.history) < self.behind:  # the previous PING announced entries that never came
            self._count("zab.gaps")
            return self._send_info()
        self.behind = m.length
        return None

    def _follower_watch(self: Any) -> None:
        quiet = self.now - self.last_leader_msg
        if quiet >= self.params.leader_timeout_s:
            self._count("zab.leader_timeouts")
            return self.start_election()
        self._out.append(SetTimer(WATCH, self.params.leader_timeout_s - quiet))
        return None
