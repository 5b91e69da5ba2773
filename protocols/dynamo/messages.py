"""Dynamo's wire messages (codes 0x430-0x46F).

A key's state travels as a tuple of :class:`Version` (its siblings). Clients
talk to a coordinator with :class:`ClientRequest`/:class:`ClientReply`; a
coordinator talks to the replicas of the key with :class:`Replicate`
(a write, possibly a hinted one, §4.6) and :class:`Read`; read repair is a
:class:`Repair`; Merkle anti-entropy (§4.7) is a :class:`MerkleSummary`
followed by :class:`MerkleDiff` both ways; hinted handoff is
:class:`Handoff`/:class:`HandoffAck`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message

Clock = tuple[tuple[int, int], ...]
"""A vector clock: sorted ``(node, counter)`` pairs, counters > 0."""
Stamp = tuple[int, int, int]
"""A hybrid logical clock stamp ``(physical_us, logical, node)``; ordered as a tuple."""

NO_HINT = -1


@message(0x430)
@dataclass(frozen=True, slots=True)
class Version:
    """One version of a key: its value (or a delete's tombstone), vector clock and HLC stamp."""

    value: bytes
    deleted: bool
    clock: Clock
    stamp: Stamp


@message(0x431)
@dataclass(frozen=True, slots=True)
class ClientRequest:
    """Execute ``op`` (a :mod:`bftlab.core.kv` operation); ``r``/``w`` 0 = the params' quorum.

    ``context`` is the vector clock the client last saw for the key (Dynamo's
    opaque context, §4.4): a put supersedes every version it covers.
    """

    client: int
    ts: int
    op: bytes
    r: int
    w: int
    context: Clock


@message(0x432)
@dataclass(frozen=True, slots=True)
class ClientReply:
    """The outcome of ``(client, ts)``: ``ok`` False when the quorum was not reached (ask elsewhere)."""

    client: int
    ts: int
    ok: bool
    result: bytes
    versions: tuple[Version, ...]
    replica: int


@message(0x433)
@dataclass(frozen=True, slots=True)
class Replicate:
    """Store ``versions`` of ``key``; ``hint`` names the owner this copy stands in for (or NO_HINT)."""

    req: int
    key: bytes
    versions: tuple[Version, ...]
    hint: int


@message(0x434)
@dataclass(frozen=True, slots=True)
class ReplicateAck:
    req: int
    replica: int


@message(0x435)
@dataclass(frozen=True, slots=True)
class Read:
    req: int
    key: bytes


@message(0x436)
@dataclass(frozen=True, slots=True)
class ReadReply:
    req: int
    replica: int
    versions: tuple[Version, ...]


@message(0x437)
@dataclass(frozen=True, slots=True)
class Repair:
    """Read repair: the reconciled versions of ``key`` (the receiver merges them)."""

    key: bytes
    versions: tuple[Version, ...]


@message(0x438)
@dataclass(frozen=True, slots=True)
class KeyVersions:
    key: bytes
    versions: tuple[Version, ...]


@message(0x439)
@dataclass(frozen=True, slots=True)
class MerkleSummary:
    """Anti-entropy, step 1: the root and leaves of the sender's tree over the keys both nodes replicate."""

    root: bytes
    leaves: tuple[bytes, ...]


@message(0x43A)
@dataclass(frozen=True, slots=True)
class MerkleDiff:
    """Anti-entropy, step 2: the sender's keys in the differing ``buckets``; ``reply`` asks for the peer's."""

    buckets: tuple[int, ...]
    items: tuple[KeyVersions, ...]
    reply: bool


@message(0x43B)
@dataclass(frozen=True, slots=True)
class Handoff:
    """Hinted handoff: versions held for their owner (the receiver), batch ``batch``."""

    batch: int
    items: tuple[KeyVersions, ...]


@message(0x43C)
@dataclass(frozen=True, slots=True)
class HandoffAck:
    batch: int


MESSAGE_TYPES: tuple[type, ...] = (Version, ClientRequest, ClientReply, Replicate, ReplicateAck, Read, ReadReply,
                                   Repair, KeyVersions, MerkleSummary, MerkleDiff, Handoff, HandoffAck)
