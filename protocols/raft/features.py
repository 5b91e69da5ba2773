"""Raft beyond Figure 2: snapshots, ReadIndex reads and leadership transfer.

Theory of operation
-------------------
**Snapshots (§7, thesis ch. 5).** Every ``snapshot_every`` applied entries a
replica persists the state machine (KV data and session table) with the last
index, term and configuration it covers, and forgets the entries below it. A
follower whose next entry the leader no longer has gets InstallSnapshot: it
keeps the suffix of its log that agrees with the snapshot's last entry, or
drops its whole log, restores the state, reports the jump
(``StateTransferred``) and answers once the snapshot is durable.

**ReadIndex (thesis §6.4).** A get needs no log entry: the leader notes its
commit index (once it has committed an entry of its own term, the no-op),
confirms it is still the leader by a round of heartbeats acknowledged by a
majority, waits until it has applied that index and answers from its state.

**Leadership transfer (thesis §3.10).** The leader stops taking requests,
brings the target up to date, and sends it TimeoutNow; the target starts an
election at once, without pre-vote, and its RequestVote carries a flag that
lets voters ignore their leader lease. A transfer that does not complete within
an election timeout is abandoned. A test (or an operator) starts one by firing
the timer ``("transfer", target)`` at the leader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bftlab.api import SetTimer, StateTransferred
from bftlab.core import kv, wire
from bftlab.protocols.cft import ClientReply, ClientRequest, KvMachine

from . import log as stable
from .log import RaftLog
from .messages import InstallSnapshot, SnapshotReply, TimeoutNow

if TYPE_CHECKING:
    from .replica import RaftReplica

TRANSFER_TIMEOUT = "transfer-timeout"


def decode_voters(op: bytes) -> tuple[int, ...]:
    voters = wire.decode(op)
    if type(voters) is not tuple or not all(type(v) is int for v in voters):
        raise ValueError("not a configuration")
    return voters


def encode_voters(voters: tuple[int, ...]) -> bytes:
    return wire.encode(tuple(sorted(voters)))


class Features:
    """Mixed into :class:`~.replica.RaftReplica` (``self`` is one)."""

    snap_data: bytes
    transfer_target: int | None
    reads: list[list[Any]]

    def init_features(self) -> None:
        self.snap_data = KvMachine().snapshot()
        self.transfer_target = None
        self.reads = []  # [request, read index or None, heartbeat round that must be acknowledged]

    # ------------------------------------------------------------ snapshots
    def maybe_snapshot(self: RaftReplica) -> None:
        every = self.params.snapshot_every
        if not every or self.applied - self.log.base < every:
            return
        index = self.applied
        term = self.log.term_at(index)
        assert term is not None
        self.snap_voters = self.voters_at(index)
        self.snap_data = self.machine.snapshot()
        self._out.append(stable.snap_record(index, term, self.snap_voters, self.snap_data))
        self.log.compact(index, term)
        self.counters["snapshots"] = self.counters.get("snapshots", 0) + 1

    def send_snapshot(self: RaftReplica, r: int) -> None:
        log = self.log
        self._send(r, InstallSnapshot(self.term, self.node_id, log.base, log.base_term, self.snap_voters,
                                      self.snap_data, self.probe))

    def on_install_snapshot(self: RaftReplica, sender: int, m: InstallSnapshot) -> None:
        if m.leader != sender:
            return self._drop("drop.bad_sender")
        if m.term < self.term:
            self._send(sender, SnapshotReply(self.term, self.node_id, 0, m.probe))
            return None
        if m.term > self.term or self.role != "follower" or self.leader != sender:
            self._become_follower(m.term, sender)
        self.leader_seen_at = self.now
        self._reset_election_timer()
        if m.last_index > self.commit:
            try:
                machine = KvMachine.restore(m.data)
            except ValueError:
                return self._drop("drop.bad_snapshot")
            if self.log.term_at(m.last_index) == m.last_term:
                self.log.compact(m.last_index, m.last_term)
            else:
                self.log = RaftLog(m.last_index, m.last_term)
                self._truncated(m.last_index)
                self._out.append(stable.Persist(stable.LAST, wire.encode(m.last_index)))
            self.machine, self.snap_data, self.snap_voters = machine, m.data, m.voters
            self._out.append(stable.snap_record(m.last_index, m.last_term, m.voters, m.data))
            self.commit = self.applied = m.last_index
            self._persist_hs()
            self._refresh_voters()
            self._observe(StateTransferred(self.node_id, m.last_index))
            self.counters["snapshots.installed"] = self.counters.get("snapshots.installed", 0) + 1
        self._send(sender, SnapshotReply(self.term, self.node_id, m.last_index, m.probe))
        return None

    def on_snapshot_reply(self: RaftReplica, sender: int, m: SnapshotReply) -> None:
        if m.follower != sender:
            return self._drop("drop.bad_sender")
        if m.term > self.term:
            self._become_follower(m.term, -1)
            return None
        p = self.peers.get(sender)
        if self.role != "leader" or m.term < self.term or p is None:
            return None
        self.active.add(sender)
        p.probe_ack = max(p.probe_ack, m.probe)
        if m.last_index > p.match:
            p.match = m.last_index
        p.next = max(p.next, p.match + 1)
        p.inflight, p.probing = [], False
        self._advance_commit()
        self._replicate(sender)
        self.read_acked()
        return None

    # ------------------------------------------------------------ ReadIndex
    def read_request(self: RaftReplica, m: ClientRequest) -> None:
        if any(r[0].client == m.client and r[0].ts == m.ts for r in self.reads):
            return None
        index = self.commit if self.log.term_at(self.commit) == self.term else None
        self.reads.append([m, index, self.probe + 1])
        self._probe_round()
        self.read_acked()
        return None

    def _probe_round(self: RaftReplica) -> None:
        """One round of empty AppendEntries: their acknowledgements confirm our leadership (thesis §6.4)."""
        self.probe += 1
        for r, p in self.peers.items():
            prev = p.match if p.match >= self.log.base else self.log.base
            prev_term = self.log.term_at(prev)
            if prev_term is None:
                self.send_snapshot(r)
            else:
                self._send(r, stable_append(self, prev, prev_term))

    def read_heartbeat_sent(self) -> None:
        return None

    def reads_applied(self: RaftReplica) -> None:
        if self.reads:
            self.read_acked()

    def read_acked(self: RaftReplica) -> None:
        if not self.reads or self.role != "leader":
            return
        own = self.log.term_at(self.commit) == self.term
        keep = []
        for read in self.reads:
            m, index, needed = read
            if index is None and own:
                index = read[1] = self.commit
            confirmed = self._majority({self.node_id} | {r for r, p in self.peers.items() if p.probe_ack >= needed})
            if index is None or not confirmed or self.applied < index:
                keep.append(read)
                continue
            _, key, _ = kv.decode_op(m.op)
            result = kv.get_result(self.machine.data.get(key))
            self.counters["reads.read_index"] = self.counters.get("reads.read_index", 0) + 1
            self._send(m.client, ClientReply(m.client, m.ts, result, self.node_id, self.node_id))
        self.reads = keep

    # ------------------------------------------------------------ leadership transfer
    def transferring(self) -> bool:
        return self.transfer_target is not None

    def feature_timer(self: RaftReplica, name: Any) -> None:
        if type(name) is tuple and len(name) == 2 and name[0] == "transfer":
            self.start_transfer(name[1])
        elif name == TRANSFER_TIMEOUT:
            self.transfer_target = None

    def start_transfer(self: RaftReplica, target: Any) -> None:
        if self.role != "leader" or target not in self.peers or target not in self.voters:
            return self._drop("transfer.refused")
        self.transfer_target = target
        self._out.append(SetTimer(TRANSFER_TIMEOUT, self.params.election_timeout_s))
        p = self.peers[target]
        if p.match < self.log.last:  # resend from what it is known to hold: the transfer must not wait
            p.next, p.inflight, p.probing = p.match + 1, [], True
        self.transfer_progress(target)
        return None

    def transfer_progress(self: RaftReplica, sender: int) -> None:
        if self.transfer_target != sender or self.role != "leader":
            return
        if self.peers[sender].match >= self.log.last:
            self._send(sender, TimeoutNow(self.term, self.node_id))
        else:
            self._replicate(sender)

    def on_timeout_now(self: RaftReplica, sender: int, m: TimeoutNow) -> None:
        if m.leader != sender or m.term != self.term or self.role == "leader":
            return self._drop("drop.stale_timeout_now")
        self.counters["transfer.elections"] = self.counters.get("transfer.elections", 0) + 1
        self._start_election(pre=False, transfer=True)
        return None

    def leader_stepped_down(self) -> None:
        self.transfer_target = None
        self.reads = []


def stable_append(r: RaftReplica, prev: int, prev_term: int) -> Any:
    """An empty AppendEntries that only claims what ``prev`` says the follower holds."""
    from .messages import AppendEntries

    return AppendEntries(r.term, r.node_id, prev, prev_term, (), min(r.commit, prev), r.probe)
