"""Raft's replica-to-replica messages (wire codes 0x210-0x23F).

Figure 2 of the ATC'14 paper names RequestVote and AppendEntries with their
replies; the rest come from Ongaro's thesis: the pre-vote flag (§9.6),
the conflict hint in the AppendEntries reply (§5.3 / thesis §3.5),
InstallSnapshot (§7 / thesis ch. 5) and TimeoutNow (thesis §3.10).
``AppendEntries.probe`` is a number the leader increments for each round of
heartbeats; a follower echoes it, so the leader can tell that a majority
acknowledged it *after* a read arrived (ReadIndex, thesis §6.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message

NOOP = 0
"""An entry the new leader appends to commit its predecessors' entries (§5.4.2, thesis §6.4)."""
COMMAND = 1
"""A client command: ``(client, ts, op)``."""
CONFIG = 2
"""A configuration: ``op`` is the encoded tuple of voters (thesis §4.1)."""


@message(0x210)
@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry: the term its leader created it in, and what it carries."""

    term: int
    kind: int
    client: int
    ts: int
    op: bytes


@message(0x211)
@dataclass(frozen=True, slots=True)
class RequestVote:
    """A candidate (or a pre-candidate, ``pre``) asks for a vote in ``term``."""

    term: int
    candidate: int
    last_index: int
    last_term: int
    pre: bool
    transfer: bool


@message(0x212)
@dataclass(frozen=True, slots=True)
class VoteReply:
    term: int
    voter: int
    granted: bool
    pre: bool


@message(0x213)
@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    leader: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int
    probe: int


@message(0x214)
@dataclass(frozen=True, slots=True)
class AppendReply:
    """``match`` is the last index known to agree (success), else the hint of §5.3: the follower's term at
    ``prev_index`` (``conflict_term``, 0 = none) and the first index it holds of that term (or its log length + 1)."""

    term: int
    follower: int
    success: bool
    match: int
    conflict_term: int
    conflict_index: int
    probe: int


@message(0x215)
@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """The whole state up to ``last_index`` (sent in one piece: snapshots here are small)."""

    term: int
    leader: int
    last_index: int
    last_term: int
    voters: tuple[int, ...]
    data: bytes
    probe: int


@message(0x216)
@dataclass(frozen=True, slots=True)
class SnapshotReply:
    term: int
    follower: int
    last_index: int
    probe: int


@message(0x217)
@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer: start an election now, skipping the pre-vote (thesis §3.10)."""

    term: int
    leader: int


MESSAGE_TYPES: tuple[type, ...] = (Entry, RequestVote, VoteReply, AppendEntries, AppendReply, InstallSnapshot,
                                   SnapshotReply, TimeoutNow)
