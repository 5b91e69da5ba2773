"""The state of a Raft replica and the small operations every part of it uses.

Theory of operation
-------------------
:class:`RaftCore` holds Figure 2's state (persistent: ``term``, ``voted_for``,
``log``; volatile: ``commit``, ``applied``; leader: one :class:`Peer` per
follower) plus what the extensions need (snapshot, ReadIndex, transfer,
configuration), and the plumbing shared by :mod:`.replica` and
:mod:`.features`: output actions, the majority test over the current voters,
the election timer, and the configuration in effect (the latest one in the
log, committed or not: thesis §4.1). The protocol logic itself lives in
:class:`~.replica.RaftReplica`; the methods declared here without a body are
the ones :mod:`.features` calls back into.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import NodeContext, Observe, Send, SetTimer
from bftlab.core import wire
from bftlab.protocols.cft import KvMachine
from bftlab.protocols.cft.messages import NO_LEADER

from . import log as stable
from .log import RaftLog
from .messages import CONFIG, Entry
from .params import RaftParams

FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = "follower", "pre-candidate", "candidate", "leader"
ELECTION_TIMER = "election"
HEARTBEAT_TIMER = "heartbeat"
QUORUM_TIMER = "check-quorum"


def decode_voters(op: bytes) -> tuple[int, ...]:
    """The voters a configuration entry names; ValueError when ``op`` is not one."""
    voters = wire.decode(op)
    if type(voters) is not tuple or not all(type(v) is int for v in voters):
        raise ValueError("not a configuration")
    return voters


def encode_voters(voters: tuple[int, ...]) -> bytes:
    return wire.encode(tuple(sorted(voters)))


class Peer:
    """The leader's view of one follower (Figure 2's nextIndex/matchIndex, plus the pipelining window)."""

    __slots__ = ("next", "match", "probing", "inflight", "acked_at_hb", "probe_ack", "probe_prev")

    def __init__(self, next_index: int) -> None:
        self.next = next_index
        self.match = 0
        self.probing = True
        self.inflight: list[tuple[int, int]] = []  # (first, last) index of each unacknowledged AppendEntries
        self.acked_at_hb = 0  # match at the previous heartbeat, to notice a stalled window
        self.probe_ack = 0  # highest heartbeat round it acknowledged (ReadIndex)
        self.probe_prev = -1  # prev_index of the last probe: only its rejection moves ``next`` while probing


class RaftCore:
    """Figure 2's state and the shared plumbing (see the module docstring)."""

    def __init__(self, ctx: NodeContext) -> None:
        p = ctx.params if isinstance(ctx.params, RaftParams) else RaftParams()
        self.params = p
        self.node_id = ctx.node_id
        self.replicas = tuple(ctx.replicas)
        self.rng = ctx.rng
        self.initial_voters = tuple(self.replicas[:p.initial_voters]) if p.initial_voters else self.replicas
        self.voters = self.initial_voters
        self.snap_voters = self.initial_voters
        self.term = 0
        self.voted_for = -1
        self.role = FOLLOWER
        self.leader = NO_LEADER
        self.log = RaftLog()
        self.commit = 0
        self.applied = 0
        self.first_commit_term = 0  # the last term whose leader (this replica) observed FirstCommit
        self.machine = KvMachine()
        self.votes: set[int] = set()
        self.peers: dict[int, Peer] = {}
        self.active: set[int] = set()
        self.leader_seen_at = -1e9
        self.in_log: dict[int, int] = {}  # leader: client -> highest ts in its log not yet applied
        self.counters: dict[str, int] = {}
        self.now = 0.0
        self.token = 0
        self.held: list[tuple[int, list[Any]]] = []
        self.sync_last: dict[int, int] = {}  # pending sync token -> last log index it covers
        self.synced_index = 0  # our own log is durable up to here
        self.probe = 0  # leader: heartbeat round (ReadIndex)
        self._out: list[Any] = []
        self._released: list[Any] = []
        self.snap_data = KvMachine().snapshot()  # the state at log.base (sent in InstallSnapshot)
        self.transfer_target: int | None = None
        self.reads: list[list[Any]] = []  # ReadIndex: [request, read index or None, heartbeat round to be acked]

    # ------------------------------------------------------------ plumbing
    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _observe(self, ev: Any) -> None:
        self._out.append(Observe(ev))

    def _send(self, to: int, msg: Any) -> None:
        if to != self.node_id:
            self._out.append(Send(to, msg))

    def _others(self) -> tuple[int, ...]:
        return tuple(r for r in self.replicas if r != self.node_id)

    def _majority(self, have: set[int]) -> bool:
        return 2 * len(have & set(self.voters)) > len(self.voters)

    def _persist_hs(self) -> None:
        self._out.append(stable.hs_record(self.term, self.voted_for, self.applied))

    def _election_delay(self) -> float:
        t = self.params.election_timeout_s
        spread = (self.params.election_timeout_max_s or 2 * t) - t
        return t + self.rng.random() * spread

    def _reset_election_timer(self) -> None:
        self._out.append(SetTimer(ELECTION_TIMER, self._election_delay()))

    def _truncated(self, keep: int) -> None:
        self.synced_index = min(self.synced_index, keep)
        for tok in self.sync_last:
            self.sync_last[tok] = min(self.sync_last[tok], keep)
        self._refresh_voters()

    def _refresh_voters(self) -> None:
        """The latest configuration in the log is in effect, committed or not (thesis §4.1)."""
        for i in range(self.log.last, self.log.base, -1):
            e = self.log.get(i)
            if e.kind == CONFIG:
                self.voters = decode_voters(e.op)
                return
        self.voters = self.snap_voters

    def voters_at(self, index: int) -> tuple[int, ...]:
        for i in range(min(index, self.log.last), self.log.base, -1):
            e = self.log.get(i)
            if e.kind == CONFIG:
                return decode_voters(e.op)
        return self.snap_voters

    # ------------------------------------------------------------ implemented by RaftReplica
    def _become_follower(self, term: int, leader: int) -> None:
        raise NotImplementedError

    def _start_election(self, pre: bool, transfer: bool) -> None:
        raise NotImplementedError

    def _append(self, entries: list[Entry]) -> None:
        raise NotImplementedError

    def _replicate(self, r: int) -> None:
        raise NotImplementedError

    def _advance_commit(self) -> None:
        raise NotImplementedError
