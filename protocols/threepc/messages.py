"""Three-phase commit wire messages (codes 0x330-0x34F); the client's are :mod:`bftlab.protocols.txn`'s.

The failure-free protocol is :class:`CanCommit` / :class:`Vote`,
:class:`PreCommit` / :class:`PreAck`, then :class:`Decision` (DoCommit, or
abort). The termination protocol reuses :class:`PreCommit`/:class:`PreAck`
with the backup coordinator's ``epoch`` (0 is the original coordinator's) and
adds :class:`StateReq`/:class:`StateReply`; :class:`DecisionReq` is how a
restarted process, which may not take part in termination, asks for the
outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message

ABORTED, UNCERTAIN, COMMITTABLE, COMMITTED = 0, 1, 2, 3
"""A participant's state as reported in :class:`StateReply` (Bernstein, Hadzilacos & Goodman 1987, §7.5)."""


@message(0x330)
@dataclass(frozen=True, slots=True)
class CanCommit:
    """Phase 1 (Skeen's "xact"): vote on ``(client, ts)``."""

    client: int
    ts: int
    writes: tuple[tuple[int, bytes, bytes], ...]
    participants: tuple[int, ...]


@message(0x331)
@dataclass(frozen=True, slots=True)
class Vote:
    client: int
    ts: int
    node: int
    yes: bool


@message(0x332)
@dataclass(frozen=True, slots=True)
class PreCommit:
    """Phase 2: everyone voted yes; move to *committable*. ``epoch`` 0: the coordinator; k >= 1: backup k."""

    client: int
    ts: int
    epoch: int


@message(0x333)
@dataclass(frozen=True, slots=True)
class PreAck:
    client: int
    ts: int
    node: int
    epoch: int


@message(0x334)
@dataclass(frozen=True, slots=True)
class Decision:
    """Phase 3 (DoCommit) or abort; also the answer of anyone who knows the outcome."""

    client: int
    ts: int
    commit: bool


@message(0x335)
@dataclass(frozen=True, slots=True)
class StateReq:
    """Termination: backup coordinator ``node`` of ``epoch`` asks for the participants' states."""

    client: int
    ts: int
    node: int
    epoch: int


@message(0x336)
@dataclass(frozen=True, slots=True)
class StateReply:
    client: int
    ts: int
    node: int
    epoch: int
    state: int


@message(0x337)
@dataclass(frozen=True, slots=True)
class DecisionReq:
    """A restarted process in doubt asks whoever knows the outcome."""

    client: int
    ts: int
    node: int


MESSAGE_TYPES: tuple[type, ...] = (CanCommit, Vote, PreCommit, PreAck, Decision, StateReq, StateReply, DecisionReq)
