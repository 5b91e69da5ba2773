"""A Raft replica: roles, elections, replication, commitment and application.

Theory of operation
-------------------
Every replica is a follower, a (pre-)candidate or the leader of its current
term (§5.1). A follower that hears from no leader for a random election
timeout in [T, 2T) (drawn from ``ctx.rng``; ``election_timeout_max_s`` may
set another upper end) first asks for *pre-votes* for term+1 without
changing its term (thesis §9.6); only when a majority of the voters would
vote for it does it become a candidate: term+1, vote for itself, RequestVote
(§5.2). A vote goes to the first candidate of a term whose log is
at least as up-to-date as the voter's (§5.4.1). With check-quorum a replica
that heard from a leader within T neither grants a (pre-)vote nor adopts the
candidate's term, and a leader that heard from no majority within T steps
down, so a partitioned leader cannot serve stale reads and a rejoining server
cannot depose a healthy leader.

The leader appends client commands to its log and sends them in
AppendEntries: each follower is *probed* (one message at a time) until an
AppendEntries succeeds, then *replicated* to with up to ``max_inflight``
messages of up to ``max_batch`` entries in flight (pipelining). Requests
arriving while a window is full queue in the log and go out together
(batching). A follower rejecting an AppendEntries returns the §5.3 hint (the
conflicting term and its first index) so the leader skips a whole term per
round trip. The leader commits index N once a majority of voters store it
*and* N is of its current term (§5.4.2; Figure 8 shows why counting replicas
of an older term's entry is unsafe); its own copy counts only once its Sync
completed.

Durability (Figure 2's "persistent state", see :mod:`.log`): term, vote and
entries are persisted and a vote or an AppendEntries acknowledgement leaves
only after the Sync covering them; messages of a step are held behind every
earlier unfinished Sync too, so nothing overtakes a write it may depend on.
The leader's own AppendEntries are not held: followers may store entries
before the leader does (thesis §10.2.1), it just cannot count itself early.
``Executed`` and client replies wait for the Sync of the applied index.

Committed entries are applied in order to :class:`~bftlab.protocols.cft.KvMachine`;
the leader answers the client of each command it applies. See
:mod:`.core` for the state itself, :mod:`.features` for snapshots, ReadIndex,
leadership transfer and membership changes.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import (
    Broadcast,
    Executed,
    NodeContext,
    Observe,
    Persist,
    Receive,
    Recovered,
    Send,
    SetTimer,
    Start,
    StateTransferred,
    Submit,
    Sync,
    Synced,
    TimerFired,
    ViewChanged,
)
from bftlab.core import kv
from bftlab.errors import InvariantError
from bftlab.protocols.cft import ClientReply, ClientRequest, KvMachine, Redirect
from bftlab.protocols.cft.messages import NO_LEADER

from . import features
from . import log as stable
from .core import (
    CANDIDATE,
    ELECTION_TIMER,
    FOLLOWER,
    HEARTBEAT_TIMER,
    LEADER,
    PRE_CANDIDATE,
    QUORUM_TIMER,
    Peer,
    RaftCore,
)
from .election import FirstCommit, LeaderElected
from .messages import (
    COMMAND,
    CONFIG,
    NOOP,
    AppendEntries,
    AppendReply,
    Entry,
    InstallSnapshot,
    RequestVote,
    SnapshotReply,
    TimeoutNow,
    VoteReply,
)
from .wellformed import well_formed

# The leader's own replication may run ahead of its disk (thesis §10.2.1). Client replies are held with the
# ``Executed`` they follow: sent at once, a reply could be accepted while a crash loses the only Executed of
# that request (the history would show a result that no replica reports computing).
_FREE = (AppendEntries, InstallSnapshot, TimeoutNow)
_HELD = (Send, Broadcast, Observe)


class RaftReplica(RaftCore):
    """One Raft server (sans-IO); planted variants in the tests override :meth:`_can_commit`."""

    # ------------------------------------------------------------ plumbing
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        out = self._out = []
        t = type(inp)
        if t is Receive:
            try:
                self._on_receive(inp.sender, inp.msg)
            except InvariantError:
                raise
            except Exception:  # a peer's garbage must never crash us
                self._drop("drop.exception")
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Synced:
            self._on_synced(inp.token)
        elif t is Start:
            self._on_start(inp.recovered)
        elif t is Submit:
            self._drop("drop.submit_to_replica")
        released, self._released = self._released, []
        return released + self._write_ahead(out)

    def _write_ahead(self, out: list[Any]) -> list[Any]:
        """Hold this step's messages behind its own writes and every earlier unfinished Sync."""
        persisted = any(type(a) is Persist for a in out)
        if not persisted and not self.held:
            return out
        now, later = [], []
        for a in out:
            if type(a) in _HELD and not (type(a) in (Send, Broadcast) and type(a.msg) in _FREE):
                later.append(a)
            else:
                now.append(a)
        if persisted:
            self.token += 1
            self.sync_last[self.token] = self.log.last
            self.held.append((self.token, later))
            now.append(Sync(self.token))
        else:
            self.held[-1][1].extend(later)
        return now

    def _on_synced(self, token: Any) -> None:
        if type(token) is not int:
            return
        while self.held and self.held[0][0] <= token:
            self._released += self.held.pop(0)[1]  # already ordered behind their writes: not held again
        for tok in [k for k in self.sync_last if k <= token]:
            self.synced_index = max(self.synced_index, self.sync_last.pop(tok))
        if self.role == LEADER:
            self._advance_commit()

    # ------------------------------------------------------------ boot
    def _on_start(self, recovered: Any) -> None:
        if recovered:
            try:
                st = stable.load(dict(recovered))
            except ValueError as exc:
                raise InvariantError(f"raft replica {self.node_id}: {exc}") from None
            self.term, self.voted_for, self.log = st.term, st.voted_for, st.log
            if st.snap is not None:
                index, _, voters, data = st.snap
                self.machine = KvMachine.restore(data, self.now)
                self.snap_voters, self.snap_data = voters, data
                self.applied = index
            # Entries up to the persisted applied index are committed: replay them silently (their Executed
            # and replies went out in our previous life, or never if the Sync did not complete).
            target = min(max(st.applied, self.log.base), self.log.last)
            while self.applied < target:
                self.applied += 1
                self._apply_entry(self.log.get(self.applied), quiet=True)
            self.commit = self.applied
            self.synced_index = self.log.last
            self._refresh_voters()
            if self.applied > 0:
                self._observe(StateTransferred(self.node_id, self.applied))
            self._observe(Recovered(self.node_id))
        self._observe(ViewChanged(self.node_id, self.term))
        if self.term == 0 and self.node_id == self.params.first_candidate:
            self._out.append(SetTimer(ELECTION_TIMER, self.params.election_timeout_s / 2))  # stand first
        else:
            self._reset_election_timer()

    # ------------------------------------------------------------ timers
    def _on_timer(self, name: Any) -> None:
        if name == ELECTION_TIMER:
            if self.role != LEADER:
                self._start_election(pre=self.params.pre_vote, transfer=False)
        elif name == HEARTBEAT_TIMER:
            if self.role == LEADER:
                self._heartbeat()
        elif name == QUORUM_TIMER:
            if self.role == LEADER:
                self._check_quorum()
        else:
            features.feature_timer(self, name)

    def _check_quorum(self) -> None:
        if self.params.check_quorum and not self._majority(self.active | {self.node_id}):
            self._drop("leader.lost_quorum")
            self._become_follower(self.term, NO_LEADER)
            return
        self.active = set()
        self._out.append(SetTimer(QUORUM_TIMER, self.params.election_timeout_s))

    # ------------------------------------------------------------ elections
    def _start_election(self, pre: bool, transfer: bool) -> None:
        if self.node_id not in self.voters:
            self._reset_election_timer()
            return
        self.leader = NO_LEADER
        if pre:
            self.role = PRE_CANDIDATE
            term = self.term + 1
        else:
            self.role = CANDIDATE
            self.term += 1
            term = self.term
            self.voted_for = self.node_id
            self._persist_hs()
            self._observe(ViewChanged(self.node_id, self.term))
        self.votes = {self.node_id}
        self._reset_election_timer()
        if self._majority(self.votes):
            return self._won(pre)
        msg = RequestVote(term, self.node_id, self.log.last, self.log.last_term, pre, transfer)
        self._out.append(Broadcast(self._others(), msg))

    def _won(self, pre: bool) -> None:
        if pre:
            self._start_election(pre=False, transfer=False)
        else:
            self._become_leader()

    def _leader_lease(self) -> bool:
        """Check-quorum's other half: we heard from a live leader within the minimum election timeout."""
        return (self.params.check_quorum and self.leader != NO_LEADER
                and (self.role == LEADER or self.now - self.leader_seen_at < self.params.election_timeout_s))

    def _on_request_vote(self, sender: int, m: RequestVote) -> None:
        if m.candidate != sender:
            return self._drop("drop.bad_sender")
        if m.term > self.term and self._leader_lease() and not m.transfer:
            return self._drop("vote.leader_lease")  # neither adopt the term nor vote (thesis §9.6)
        up_to_date = (m.last_term, m.last_index) >= (self.log.last_term, self.log.last)
        if m.pre:
            granted = m.term > self.term and up_to_date
            self._send(sender, VoteReply(m.term if granted else self.term, self.node_id, granted, True))
            return None
        if m.term > self.term:
            self._become_follower(m.term, NO_LEADER)
        granted = m.term == self.term and self.voted_for in (-1, m.candidate) and up_to_date
        if granted:
            self.voted_for = m.candidate
            self._persist_hs()
            self._reset_election_timer()
        self._send(sender, VoteReply(self.term, self.node_id, granted, False))
        return None

    def _on_vote_reply(self, sender: int, m: VoteReply) -> None:
        if m.voter != sender:
            return self._drop("drop.bad_sender")
        if m.term > self.term and not (m.pre and m.granted):
            self._become_follower(m.term, NO_LEADER)
            return None
        if not m.granted:
            return None
        if m.pre and self.role == PRE_CANDIDATE and m.term == self.term + 1:
            self.votes.add(sender)
        elif not m.pre and self.role == CANDIDATE and m.term == self.term:
            self.votes.add(sender)
        else:
            return None
        if self._majority(self.votes):
            self._won(m.pre)
        return None

    def _become_follower(self, term: int, leader: int) -> None:
        was_leader = self.role == LEADER
        if term > self.term:
            self.term, self.voted_for = term, -1
            self._persist_hs()
            self._observe(ViewChanged(self.node_id, term))
        self.role = FOLLOWER
        self.leader = leader
        self.votes = set()
        if was_leader:
            self.peers = {}
            self.in_log = {}
            features.leader_stepped_down(self)
        self._reset_election_timer()

    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader = self.node_id
        # A measurement, not an output that depends on a write: not held behind the no-op's Sync below.
        self._released.append(Observe(LeaderElected(self.node_id, self.term)))
        self.peers = {r: Peer(self.log.last + 1) for r in self._others()}
        self.active = set()
        self.in_log = {}
        for i in range(self.applied + 1, self.log.last + 1):
            e = self.log.get(i)
            if e.kind == COMMAND:
                self.in_log[e.client] = max(e.ts, self.in_log.get(e.client, 0))
        self._append([Entry(self.term, NOOP, 0, 0, b"")])
        self._out.append(SetTimer(HEARTBEAT_TIMER, self.params.heartbeat_s))
        self._out.append(SetTimer(QUORUM_TIMER, self.params.election_timeout_s))

    # ------------------------------------------------------------ replication (leader)
    def _append(self, entries: list[Entry]) -> None:
        self.log.append(entries, self._out)
        for e in entries:
            if e.kind == CONFIG:
                self._refresh_voters()
        if self._majority({self.node_id}) and self.synced_index >= self.log.last:
            self._advance_commit()
        for r in self.peers:
            self._replicate(r)

    def _replicate(self, r: int) -> None:
        """Send what ``r`` lacks, as far as its window allows."""
        p = self.peers[r]
        limit = 1 if p.probing else self.params.max_inflight
        while len(p.inflight) < limit:
            if p.next <= self.log.base:
                features.send_snapshot(self, r)
                p.inflight.append((self.log.base, self.log.base))
                return
            if p.next > self.log.last:
                return  # nothing new: heartbeats carry the commit index and probe
            self._send_append(r, p, self.params.max_batch)

    def _send_append(self, r: int, p: Peer, limit: int) -> None:
        prev = p.probe_prev = p.next - 1
        entries = self.log.slice(p.next, limit)
        prev_term = self.log.term_at(prev)
        assert prev_term is not None
        self._send(r, AppendEntries(self.term, self.node_id, prev, prev_term, entries, self.commit, self.probe))
        if entries:
            p.inflight.append((p.next, p.next + len(entries) - 1))
            p.next += len(entries)

    def _heartbeat(self) -> None:
        self.probe += 1
        for r, p in self.peers.items():
            if p.inflight and p.match == p.acked_at_hb:
                # Nothing acknowledged for a whole period: probe again from the oldest unacknowledged message.
                p.next = max(p.match + 1, p.inflight[0][0])
                p.inflight = []
                p.probing = True
            p.acked_at_hb = p.match
            if not p.probing and not p.inflight and p.next <= self.log.last:
                self._replicate(r)
                continue
            # A probe (prev = next-1: its answer tells where the logs agree) or a plain heartbeat at what the
            # follower is known to hold; either carries the commit index as far as that prefix.
            prev = p.probe_prev = p.next - 1 if p.probing else max(p.match, self.log.base)
            prev_term = self.log.term_at(prev)
            if prev_term is None:
                features.send_snapshot(self, r)
                continue
            self._send(r, AppendEntries(self.term, self.node_id, prev, prev_term, (), min(self.commit, prev),
                                        self.probe))
        self._out.append(SetTimer(HEARTBEAT_TIMER, self.params.heartbeat_s))

    def _on_append_reply(self, sender: int, m: AppendReply) -> None:
        if m.follower != sender or sender not in self.replicas:
            return self._drop("drop.bad_sender")
        if m.term > self.term:
            self._become_follower(m.term, NO_LEADER)
            return None
        if self.role != LEADER or m.term < self.term or sender not in self.peers:
            return None
        p = self.peers[sender]
        self.active.add(sender)
        p.probe_ack = max(p.probe_ack, m.probe)
        if m.success:
            if m.match > p.match:
                p.match = m.match
            p.next = max(p.next, p.match + 1)
            p.inflight = [w for w in p.inflight if w[1] > p.match]
            p.probing = False
            self._advance_commit()
        else:
            rejected = m.match  # the prev_index it rejected
            if rejected < p.match or (p.probing and rejected != p.probe_prev):
                return features.read_acked(self)  # a stale rejection
            if m.conflict_term > 0:
                last = self.log.last_of_term(m.conflict_term)
                nxt = last + 1 if last > 0 else m.conflict_index
            else:
                nxt = m.conflict_index
            p.next = max(p.match + 1, min(nxt, rejected, self.log.last + 1), 1)
            p.inflight = []
            p.probing = True
        self._replicate(sender)
        features.read_acked(self)
        features.transfer_progress(self, sender)
        return None

    def _can_commit(self, index: int) -> bool:
        """Figure 2 / §5.4.2: only an entry of the current term is committed by counting replicas."""
        return self.log.term_at(index) == self.term

    def _advance_commit(self) -> None:
        if self.role != LEADER:
            return
        matches = {self.node_id: self.synced_index}
        for r, p in self.peers.items():
            matches[r] = p.match
        for index in range(self.log.last, self.commit, -1):
            if self.log.term_at(index) is None:
                break
            have = {r for r, m in matches.items() if m >= index}
            if self._majority(have) and self._can_commit(index):
                if self.first_commit_term != self.term:  # a measurement, like LeaderElected: not held by a Sync
                    self.first_commit_term = self.term
                    self._released.append(Observe(FirstCommit(self.node_id, self.term, index)))
                self.commit = index
                self._apply()
                features.config_committed(self)
                return

    # ------------------------------------------------------------ replication (follower)
    def _on_append(self, sender: int, m: AppendEntries) -> None:
        if m.leader != sender:
            return self._drop("drop.bad_sender")
        if m.term < self.term:
            self._send(sender, AppendReply(self.term, self.node_id, False, m.prev_index, 0, 0, m.probe))
            return None
        if m.term > self.term or self.role != FOLLOWER or self.leader != sender:
            if self.role == LEADER and m.term == self.term:
                # Election Safety says this never happens; count it (a planted bug can cause it) and let the
                # history oracles judge what follows instead of crashing the run.
                self._drop("invariant.two_leaders")
            self._become_follower(m.term, sender)
        self.leader_seen_at = self.now
        self._reset_election_timer()
        prev, entries, log = m.prev_index, m.entries, self.log
        if prev < log.base:  # the part below our snapshot is committed and therefore matches
            skip = log.base - prev
            if skip > len(entries):
                self._send(sender, AppendReply(self.term, self.node_id, True, log.base, 0, 0, m.probe))
                return None
            entries, prev = entries[skip:], log.base
            prev_term: int | None = log.base_term
        else:
            prev_term = m.prev_term
        if log.term_at(prev) != prev_term:
            if prev > log.last:
                ct, ci = 0, log.last + 1
            else:
                ct = log.term_at(prev) or 0
                ci = log.first_of_term(prev)
            self._send(sender, AppendReply(self.term, self.node_id, False, m.prev_index, ct, ci, m.probe))
            return None
        new: list[Entry] = []
        for i, e in enumerate(entries):
            index = prev + 1 + i
            have = log.term_at(index)
            if have is None or have != e.term:
                if have is not None:
                    if index <= self.commit:  # Leader Completeness says never; counted, judged by the oracles
                        self._drop("invariant.truncate_committed")
                        self.commit = index - 1
                    log.truncate(index - 1, self._out)
                    self._truncated(index - 1)
                new = list(entries[i:])
                break
        if new:
            log.append(new, self._out)
            if any(e.kind == CONFIG for e in new):
                self._refresh_voters()
        last_new = prev + len(entries)
        if m.commit > self.commit:
            self.commit = max(self.commit, min(m.commit, last_new))
            self._apply()
        self._send(sender, AppendReply(self.term, self.node_id, True, last_new, 0, 0, m.probe))
        return None

    # ------------------------------------------------------------ application
    def _apply(self) -> None:
        start = self.applied
        while self.applied < self.commit:
            self.applied += 1
            self._apply_entry(self.log.get(self.applied), quiet=False)
        if self.applied > start:
            self._persist_hs()
            features.maybe_snapshot(self)
            features.reads_applied(self)

    def _apply_entry(self, e: Entry, quiet: bool) -> None:
        index = self.applied
        done: tuple = ()
        if e.kind == COMMAND:
            result, entry = self.machine.apply(e.client, e.ts, e.op, self.now)
            done = () if entry is None else (entry,)
            if not quiet and self.role == LEADER:
                if self.in_log.get(e.client, -1) <= e.ts:
                    self.in_log.pop(e.client, None)
                if result is not None:
                    self._send(e.client, ClientReply(e.client, e.ts, result, self.node_id, self.node_id))
        if not quiet:
            self._observe(Executed(self.node_id, index, e.term, done))

    # ------------------------------------------------------------ clients
    def _on_client_request(self, sender: int, m: ClientRequest) -> None:
        if m.client != sender:
            return self._drop("drop.bad_sender")
        if self.role != LEADER or features.transferring(self):
            leader = self.leader if self.role != LEADER else NO_LEADER
            self._send(sender, Redirect(m.client, m.ts, self.node_id, leader))
            return None
        cached = self.machine.answered(m.client, m.ts)
        if cached is not None:
            self._send(sender, ClientReply(m.client, m.ts, cached, self.node_id, self.node_id))
            return None
        last = self.machine.sessions.get(m.client)
        if (last is not None and m.ts <= last[0]) or self.in_log.get(m.client, -1) >= m.ts:
            return self._drop("drop.old_or_pending_request")
        if self.params.read_index and self.is_read(m.op):
            return features.read_request(self, m)
        self.in_log[m.client] = m.ts
        self._append([Entry(self.term, COMMAND, m.client, m.ts, m.op)])
        return None

    @staticmethod
    def is_read(op: bytes) -> bool:
        try:
            return kv.decode_op(op)[0] == "get"
        except ValueError:
            return False

    # ------------------------------------------------------------ dispatch
    def _on_receive(self, sender: int, m: Any) -> None:
        if not well_formed(m):
            return self._drop("drop.malformed")
        t = type(m)
        if t is ClientRequest:
            return self._on_client_request(sender, m)
        if sender not in self.replicas:
            return self._drop("drop.unknown_sender")
        if t is AppendEntries:
            return self._on_append(sender, m)
        if t is AppendReply:
            return self._on_append_reply(sender, m)
        if t is RequestVote:
            return self._on_request_vote(sender, m)
        if t is VoteReply:
            return self._on_vote_reply(sender, m)
        if t is InstallSnapshot:
            return features.on_install_snapshot(self, sender, m)
        if t is SnapshotReply:
            return features.on_snapshot_reply(self, sender, m)
        if t is TimeoutNow:
            return features.on_timeout_now(self, sender, m)
        return self._drop("drop.unexpected_type")

    # ------------------------------------------------------------ configuration
def make_replica(ctx: NodeContext) -> RaftReplica:
    return RaftReplica(ctx)
