"""Gossip messages (wire codes 0x400-0x42F).

Entries travel as ``(key, value or None, (l, c, node), activation_us)`` tuples
(:data:`~bftlab.protocols.gossip.store.Entry`): a value of None is a death certificate, whose lifetime
starts at ``activation_us``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message

TsWire = tuple[int, int, int]
EntryWire = tuple[bytes, bytes | None, TsWire, int]


@message(0x400)
@dataclass(frozen=True, slots=True)
class GossipRequest:
    """A client asks a replica to execute ``op`` (a put, get or del of :mod:`bftlab.core.kv`)."""

    client: int
    ts: int
    op: bytes


@message(0x401)
@dataclass(frozen=True, slots=True)
class GossipReply:
    """The replica's answer to ``(client, ts)``, given at once from its local store."""

    client: int
    ts: int
    result: bytes
    replica: int


@message(0x410)
@dataclass(frozen=True, slots=True)
class Rumor:
    """Hot updates pushed to a random peer (rumor mongering, section 1.4)."""

    entries: tuple[EntryWire, ...]


@message(0x411)
@dataclass(frozen=True, slots=True)
class RumorFeedback:
    """The rumors of a :class:`Rumor` that the recipient already knew (the sender's "unnecessary" contacts)."""

    known: tuple[tuple[bytes, TsWire], ...]


@message(0x418)
@dataclass(frozen=True, slots=True)
class Digest:
    """Anti-entropy, step 1: the initiator's Merkle root; a peer with the same root has nothing to exchange."""

    root: bytes
    style: str


@message(0x419)
@dataclass(frozen=True, slots=True)
class Summary:
    """Anti-entropy, step 2: the peer's keys and timestamps, so the initiator can tell which entries differ."""

    pairs: tuple[tuple[bytes, TsWire], ...]
    style: str


@message(0x41A)
@dataclass(frozen=True, slots=True)
class Entries:
    """Anti-entropy, steps 3-4: entries newer than the receiver's (push), and keys the sender wants back (pull)."""

    entries: tuple[EntryWire, ...]
    want: tuple[bytes, ...]


MESSAGE_TYPES: tuple[type, ...] = (GossipRequest, GossipReply, Rumor, RumorFeedback, Digest, Summary, Entries)
