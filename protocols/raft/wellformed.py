"""Field-type guard for received messages: a peer's malformed message is dropped and counted, never raised on.

The wire codec checks types when it decodes, but the simulator hands objects
over without encoding them, and a test (or a Byzantine harness) can inject
anything: the replica checks every field against its annotation itself.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from bftlab.protocols.cft import ClientRequest

from .messages import MESSAGE_TYPES

_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    got = _FIELDS.get(cls)
    if got is None:
        hints = typing.get_type_hints(cls)
        got = _FIELDS[cls] = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return got


def _ok(tp: Any, v: Any) -> bool:
    if tp in (int, bool, bytes, str):
        return type(v) is tp
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        return type(v) is tuple and all(_ok(args[0], x) for x in v)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return type(v) is tp and well_formed(v)
    return False


def well_formed(m: Any) -> bool:
    """True iff ``m`` is one of our messages (or a client request) with every field of its annotated type."""
    cls = type(m)
    if cls not in MESSAGE_TYPES and cls is not ClientRequest:
        return False
    return all(_ok(tp, getattr(m, name)) for name, tp in _fields(cls))
