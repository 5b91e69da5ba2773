"""SWIM messages (wire codes 0x470-0x48F).

Membership updates travel as ``(status, member, incarnation)`` triples
(:data:`~bftlab.protocols.swim.view.Update`), piggybacked on every ping, ping-req
and ack (infection-style dissemination, Das, Gupta & Motivala section 4.1);
whole views travel in the same form.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message

UpdateWire = tuple[int, int, int]


@message(0x470)
@dataclass(frozen=True, slots=True)
class Ping:
    """A probe: the receiver answers :class:`Ack` with the same ``seq``. ``inc`` is the sender's incarnation."""

    seq: int
    inc: int
    updates: tuple[UpdateWire, ...]


@message(0x471)
@dataclass(frozen=True, slots=True)
class Ack:
    """``member`` answered probe ``seq`` (sent by the member itself, or forwarded by an indirect prober)."""

    seq: int
    member: int
    updates: tuple[UpdateWire, ...]


@message(0x472)
@dataclass(frozen=True, slots=True)
class PingReq:
    """Please ping ``target`` and forward its ack as ``Ack(seq, target)`` (section 3.1's indirect probe)."""

    seq: int
    target: int
    updates: tuple[UpdateWire, ...]


@message(0x478)
@dataclass(frozen=True, slots=True)
class Join:
    """A member (new, or restarted after a crash) asks to enter the group at incarnation ``inc``."""

    inc: int


@message(0x479)
@dataclass(frozen=True, slots=True)
class JoinAck:
    """The contacted member's whole view, itself included: the joiner's starting membership list."""

    view: tuple[UpdateWire, ...]


@message(0x47A)
@dataclass(frozen=True, slots=True)
class ViewSync:
    """Periodic whole-view exchange (push): the receiver merges it and answers with its own view."""

    view: tuple[UpdateWire, ...]


@message(0x47B)
@dataclass(frozen=True, slots=True)
class ViewSyncReply:
    """The answer to :class:`ViewSync` (pull): the receiver's view after merging the sender's."""

    view: tuple[UpdateWire, ...]


MESSAGE_TYPES: tuple[type, ...] = (Ping, Ack, PingReq, Join, JoinAck, ViewSync, ViewSyncReply)
