"""Wire messages of Viewstamped Replication Revisited (codes 0x270-0x29F).

Names and fields follow the paper (Liskov & Cowling, MIT-CSAIL-TR-2012-021):
``v`` is the view number, ``n`` the op-number, ``k`` the commit-number, ``i``
the sender's replica number. Client messages are the shared ones of
:mod:`bftlab.protocols.cft` (REQUEST = ``ClientRequest``, REPLY = ``ClientReply``).

:func:`well_formed` checks every field against its annotation, recursively, so
a message built in memory with a wrong field type (the simulator may skip the
wire codec) is dropped like a malformed frame.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bftlab.core.wire import message


@message(0x270)
@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry: the client's request ``(client, ts, op)``."""

    client: int
    ts: int
    op: bytes


@message(0x271)
@dataclass(frozen=True, slots=True)
class Prepare:
    """PREPARE <v, m, n, k> (§4.1 step 3): op ``op_number`` is ``entry``; ``commit`` piggybacks the commit-number."""

    view: int
    op_number: int
    entry: Entry
    commit: int


@message(0x272)
@dataclass(frozen=True, slots=True)
class PrepareOk:
    """PREPAREOK <v, n, i> (§4.1 step 4); cumulative: replica ``replica`` holds ops 1..n of view ``view``."""

    view: int
    op_number: int
    replica: int


@message(0x273)
@dataclass(frozen=True, slots=True)
class Commit:
    """COMMIT <v, k> (§4.1 step 6): the primary's commit-number, sent when it has no PREPARE to piggyback it on."""

    view: int
    commit: int


@message(0x274)
@dataclass(frozen=True, slots=True)
class StartViewChange:
    """STARTVIEWCHANGE <v, i> (§4.2 step 1)."""

    view: int
    replica: int


@message(0x275)
@dataclass(frozen=True, slots=True)
class DoViewChange:
    """DOVIEWCHANGE <v, l, v', n, k, i> (§4.2 step 2): ``last_normal`` is v', the latest view it was normal in."""

    view: int
    log: tuple[Entry, ...]
    last_normal: int
    op_number: int
    commit: int
    replica: int


@message(0x276)
@dataclass(frozen=True, slots=True)
class StartView:
    """STARTVIEW <v, l, n, k> (§4.2 step 4)."""

    view: int
    log: tuple[Entry, ...]
    op_number: int
    commit: int


@message(0x277)
@dataclass(frozen=True, slots=True)
class Recovery:
    """RECOVERY <i, x> (§4.3 step 1): ``nonce`` pairs the answers with this recovery."""

    replica: int
    nonce: int


@message(0x278)
@dataclass(frozen=True, slots=True)
class RecoveryResponse:
    """RECOVERYRESPONSE <v, x, l, n, k, j> (§4.3 step 2); only the primary fills ``log`` (others: ``has_log`` False)."""

    view: int
    nonce: int
    has_log: bool
    log: tuple[Entry, ...]
    op_number: int
    commit: int
    replica: int


@message(0x279)
@dataclass(frozen=True, slots=True)
class GetState:
    """GETSTATE <v, n', i> (§5.2): send me your log after op ``op_number``."""

    view: int
    op_number: int
    replica: int


@message(0x27A)
@dataclass(frozen=True, slots=True)
class NewState:
    """NEWSTATE <v, l, n, k> (§5.2): ``log`` holds ops ``after+1 .. op_number`` of view ``view``."""

    view: int
    after: int
    log: tuple[Entry, ...]
    op_number: int
    commit: int
    replica: int


MESSAGE_TYPES: tuple[type, ...] = (Entry, Prepare, PrepareOk, Commit, StartViewChange, DoViewChange, StartView,
                                   Recovery, RecoveryResponse, GetState, NewState)

_CHECKS: dict[type, Callable[[Any], bool]] = {}


def _check_of(tp: Any) -> Callable[[Any], bool]:
    if tp in (int, bool, bytes):
        def scalar(v: Any, _t: type = tp) -> bool:
            return type(v) is _t

        return scalar
    if typing.get_origin(tp) is tuple:
        item = _check_of(typing.get_args(tp)[0])
        return lambda v: type(v) is tuple and all(item(x) for x in v)
    if tp in MESSAGE_TYPES:
        return well_formed
    raise TypeError(f"unsupported field type {tp!r}")


def well_formed(m: Any) -> bool:
    """True iff ``m`` is a VR message whose fields (recursively) have their declared types."""
    cls = type(m)
    chk = _CHECKS.get(cls)
    if chk is None:
        if cls not in MESSAGE_TYPES:
            return False
        hints = typing.get_type_hints(cls)
        fields = [(f.name, _check_of(hints[f.name])) for f in dataclasses.fields(cls)]

        def chk(obj: Any, _fields: list = fields) -> bool:
            return all(c(getattr(obj, name)) for name, c in _fields)

        _CHECKS[cls] = chk
    return chk(m)
