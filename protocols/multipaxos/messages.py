"""Multi-Paxos wire messages (codes 0x240-0x26F); the client's messages are :mod:`bftlab.protocols.cft`'s.

A ballot is one integer ``round * n + leader``: ordering it orders ``(round,
leader id)`` lexicographically, as the leader ballots of van Renesse &
Altinbuken (§3, "ballot numbers are pairs") do, and ``ballot % n`` names its
leader. Ballot 0 belongs to replica 0, the initial leader.

Phase 1 is :class:`Prepare`/:class:`Promise` (1a/1b), phase 2 is
:class:`Accept`/:class:`Accepted` (2a/2b); :class:`Nack` is the "preempted"
answer of an acceptor that promised a higher ballot. :class:`Decide` carries a
chosen slot to the learners, :class:`Heartbeat` is the leader's liveness
signal (and tells followers how far the log is decided), :class:`CatchUp` and
:class:`Decisions` let a lagging learner fetch decided slots.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bftlab.core.wire import message
from bftlab.protocols.cft import MESSAGE_TYPES as CFT_MESSAGES
from bftlab.protocols.cft import ClientRequest

Cmds = tuple[ClientRequest, ...]
"""A slot's value: a batch of client commands (empty: a no-op)."""


@message(0x240)
@dataclass(frozen=True, slots=True)
class Prepare:
    """Phase 1a: leader ``ballot % n`` asks for promises and the values accepted in slots ``>= first``."""

    ballot: int
    first: int


@message(0x241)
@dataclass(frozen=True, slots=True)
class Slot:
    """One slot's value with the ballot it was accepted (or decided) in."""

    slot: int
    ballot: int
    cmds: Cmds


@message(0x242)
@dataclass(frozen=True, slots=True)
class Promise:
    """Phase 1b: ``replica`` promised ``ballot``; ``accepted`` lists its accepted values in slots ``>= first``."""

    ballot: int
    replica: int
    accepted: tuple[Slot, ...]


@message(0x243)
@dataclass(frozen=True, slots=True)
class Accept:
    """Phase 2a: accept ``cmds`` in ``slot`` under ``ballot``."""

    ballot: int
    slot: int
    cmds: Cmds


@message(0x244)
@dataclass(frozen=True, slots=True)
class Accepted:
    """Phase 2b: ``replica`` accepted the value of ``slot`` under ``ballot`` (and its record is durable)."""

    ballot: int
    slot: int
    replica: int


@message(0x245)
@dataclass(frozen=True, slots=True)
class Nack:
    """Preempted: ``replica`` has promised ``ballot``, above the one it was asked about."""

    ballot: int
    replica: int


@message(0x246)
@dataclass(frozen=True, slots=True)
class Decide:
    """``slot`` is chosen with ``cmds`` (proposed under ``ballot``)."""

    slot: int
    ballot: int
    cmds: Cmds


@message(0x247)
@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The leader of ``ballot`` is alive; slots ``1..decided`` are chosen."""

    ballot: int
    decided: int


@message(0x248)
@dataclass(frozen=True, slots=True)
class CatchUp:
    """``replica`` asks for the decided slots from ``first`` on."""

    replica: int
    first: int


@message(0x249)
@dataclass(frozen=True, slots=True)
class Decisions:
    """Decided slots sent by ``replica`` to a learner that asked with :class:`CatchUp`."""

    replica: int
    slots: tuple[Slot, ...]


PAXOS_MESSAGES: tuple[type, ...] = (Prepare, Slot, Promise, Accept, Accepted, Nack, Decide, Heartbeat, CatchUp,
                                    Decisions)
MESSAGE_TYPES: tuple[type, ...] = (*PAXOS_MESSAGES, *CFT_MESSAGES)


# ------------------------------------------------------------ well-formedness
_CHECKS: dict[type, Callable[[Any], bool]] = {}


def _compile(tp: Any) -> Callable[[Any], bool]:
    if tp is int:
        return lambda v: type(v) is int
    if tp is bytes:
        return lambda v: type(v) is bytes
    if typing.get_origin(tp) is tuple:
        item = _compile(typing.get_args(tp)[0])
        return lambda v: type(v) is tuple and all(map(item, v))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return lambda v: type(v) is tp and well_formed(v)
    raise TypeError(f"unsupported annotation {tp!r}")


def well_formed(m: Any) -> bool:
    """True iff ``m`` is one of our messages whose fields (recursively) have their declared types."""
    cls = type(m)
    chk = _CHECKS.get(cls)
    if chk is None:
        if cls not in MESSAGE_TYPES:
            return False
        hints = typing.get_type_hints(cls)
        fields = [(f.name, _compile(hints[f.name])) for f in dataclasses.fields(cls)]

        def chk(obj: Any, _fields: list = fields) -> bool:
            return all(c(getattr(obj, name)) for name, c in _fields)

        _CHECKS[cls] = chk
    return chk(m)
