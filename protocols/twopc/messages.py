"""Two-phase commit wire messages (codes 0x310-0x32F); the client's are :mod:`bftlab.protocols.txn`'s.

Every message names the attempt ``(client, ts)`` it is about. :class:`Prepare`
carries the whole write set (each participant keeps the writes of its shard),
so a participant needs nothing but the message to vote. :class:`Inquire` is an
uncertain participant's question after a timeout (to the coordinator, and with
cooperative termination to the other participants); :class:`Decision` answers
it and also carries the coordinator's COMMIT/ABORT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.core.wire import message


@message(0x310)
@dataclass(frozen=True, slots=True)
class Prepare:
    """Phase 1: vote on ``(client, ts)``; ``participants`` lets them ask each other (cooperative termination)."""

    client: int
    ts: int
    writes: tuple[tuple[int, bytes, bytes], ...]
    participants: tuple[int, ...]


@message(0x311)
@dataclass(frozen=True, slots=True)
class Vote:
    """A participant's vote (sent after its prepared record is durable when ``yes``)."""

    client: int
    ts: int
    node: int
    yes: bool


@message(0x312)
@dataclass(frozen=True, slots=True)
class Decision:
    """Phase 2: the outcome (COMMIT or ABORT), or an answer to :class:`Inquire` from whoever knows it."""

    client: int
    ts: int
    commit: bool


@message(0x313)
@dataclass(frozen=True, slots=True)
class Ack:
    """A participant's commit record is durable: the coordinator may forget the transaction."""

    client: int
    ts: int
    node: int


@message(0x314)
@dataclass(frozen=True, slots=True)
class Inquire:
    """An uncertain participant ``node`` asks for the outcome of ``(client, ts)``."""

    client: int
    ts: int
    node: int


MESSAGE_TYPES: tuple[type, ...] = (Prepare, Vote, Decision, Ack, Inquire)


def txn_of(m: Any) -> tuple[int, int] | None:
    """The attempt a message is about, or None when its id fields are not plain ints."""
    c, ts = getattr(m, "client", None), getattr(m, "ts", None)
    if type(c) is not int or type(ts) is not int:
        return None
    return c, ts


def writes_of(raw: Any) -> tuple[tuple[int, bytes, bytes], ...] | None:
    """A well-formed write set as tuples, or None (a peer's garbage)."""
    try:
        out = tuple((int(s), bytes(k), bytes(v)) for s, k, v in raw)
    except (TypeError, ValueError):
        return None
    return out
