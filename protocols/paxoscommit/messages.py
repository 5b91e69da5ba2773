"""Paxos Commit wire messages (codes 0x350-0x37F); the client's are :mod:`bftlab.protocols.txn`'s.

One Paxos instance per participant (resource manager, RM) per transaction
``(client, ts)``; an instance's value is ``prepared`` (True: Prepared, False:
Aborted). Ballots are per transaction: ballot 0 belongs to every RM for its
own instance (the paper's fast path: the RM is the ballot-0 leader of its
instance and sends its Phase 2a itself); a ballot ``b > 0`` is
``round * A + j`` with ``round >= 1`` and A = 2F+1, led by acceptor number
``j`` (replica ``shards + j``), so two acceptors never share a ballot.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message
from bftlab.protocols.txn import MESSAGE_TYPES as TXN_MESSAGES

Writes = tuple[tuple[int, bytes, bytes], ...]


@message(0x350)
@dataclass(frozen=True, slots=True)
class Prepare:
    """The coordinator asks each participant to prepare transaction ``(client, ts)`` (Gray & Lamport's Prepare)."""

    client: int
    ts: int
    writes: Writes
    participants: tuple[int, ...]


@message(0x351)
@dataclass(frozen=True, slots=True)
class Phase2a:
    """Accept ``prepared`` for participant ``rm``'s instance under ``ballot``.

    Ballot 0 comes from the RM itself (its vote); ``leader`` is the coordinator the
    acceptors send their Phase 2b to (for ballot 0 the one whose Prepare the RM
    answered). ``retry`` marks an uncertain RM asking again (it may make an
    acceptor take over).
    """

    client: int
    ts: int
    rm: int
    ballot: int
    prepared: bool
    participants: tuple[int, ...]
    leader: int
    retry: bool


@message(0x352)
@dataclass(frozen=True, slots=True)
class Phase2b:
    """The sending acceptor accepted ``prepared`` for ``rm`` under ``ballot`` (durably)."""

    client: int
    ts: int
    rm: int
    ballot: int
    prepared: bool
    participants: tuple[int, ...]


@message(0x353)
@dataclass(frozen=True, slots=True)
class Phase1a:
    """A new coordinator asks for promises for every instance of ``(client, ts)`` at ``ballot``."""

    client: int
    ts: int
    ballot: int
    participants: tuple[int, ...]


@message(0x354)
@dataclass(frozen=True, slots=True)
class Phase1b:
    """The sending acceptor promised ``ballot``; ``accepted`` lists its ``(rm, vbal, prepared)``."""

    client: int
    ts: int
    ballot: int
    accepted: tuple[tuple[int, int, bool], ...]


@message(0x355)
@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of ``(client, ts)`` (the paper's Commit/Abort), from whoever knows it."""

    client: int
    ts: int
    commit: bool


@message(0x356)
@dataclass(frozen=True, slots=True)
class Nack:
    """The sending acceptor has promised ``ballot`` for ``(client, ts)``, above the one it was asked about."""

    client: int
    ts: int
    ballot: int


@message(0x357)
@dataclass(frozen=True, slots=True)
class Phase2bBundle:
    """The sending acceptor accepted each ``(rm, ballot, prepared)`` of ``votes`` (durably, in one write).

    Sent instead of one :class:`Phase2b` per instance when ``bundle_2b`` is on
    (Gray & Lamport's normal-case layout: one 2b message per acceptor).
    """

    client: int
    ts: int
    votes: tuple[tuple[int, int, bool], ...]
    participants: tuple[int, ...]


COMMIT_MESSAGES: tuple[type, ...] = (Prepare, Phase2a, Phase2b, Phase1a, Phase1b, Decision, Nack, Phase2bBundle)
MESSAGE_TYPES: tuple[type, ...] = (*COMMIT_MESSAGES, *TXN_MESSAGES)
