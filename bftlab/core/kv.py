"""The replicated key-value service every state-machine protocol runs: operations and results.

An operation is msgpack ``["put", key, value]``, ``["get", key]`` or
``["del", key]`` with ``bytes`` keys and values. ``put`` and ``del`` return
msgpack ``nil``; ``get`` returns the packed value, or ``nil`` when the key is
absent; anything else returns ``{"error": "bad op"}``, so a garbage operation
is executed deterministically rather than rejected. Workloads build
operations here, protocols execute them with :func:`apply`, and oracles that
judge values (linearizability) read both through this one definition.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import msgpack

NIL = msgpack.packb(None)
BAD_OP = msgpack.packb({"error": "bad op"})
KINDS = ("put", "get", "del")


def encode_op(kind: str, key: bytes, value: bytes = b"") -> bytes:
    """The operation bytes for ``kind`` on ``key`` (``value`` only for put)."""
    if kind not in KINDS:
        raise ValueError(f"unknown operation kind {kind!r}; expected one of {KINDS}")
    return msgpack.packb([kind, key, value] if kind == "put" else [kind, key], use_bin_type=True)


def decode_op(op: bytes) -> tuple[str, bytes, bytes]:
    """``(kind, key, value)`` of an operation (value empty but for put); ValueError when it is none."""
    try:
        items = msgpack.unpackb(op, raw=False)
    except Exception as exc:
        raise ValueError(f"not an operation: {exc}") from None
    if not isinstance(items, list) or not items or items[0] not in KINDS:
        raise ValueError("not an operation")
    kind = items[0]
    if kind == "put" and len(items) == 3 and isinstance(items[1], bytes) and isinstance(items[2], bytes):
        return "put", items[1], items[2]
    if kind in ("get", "del") and len(items) == 2 and isinstance(items[1], bytes):
        return kind, items[1], b""
    raise ValueError("malformed operation")


def get_result(value: bytes | None) -> bytes:
    """What a get returns when the key holds ``value`` (None: absent)."""
    return NIL if value is None else msgpack.packb(value, use_bin_type=True)


def apply(data: MutableMapping[bytes, bytes], op: bytes) -> bytes:
    """Execute one operation on ``data`` and return its result bytes (never raises)."""
    try:
        kind, key, value = decode_op(op)
    except ValueError:
        return BAD_OP
    return apply_decoded(data, kind, key, value)


def apply_decoded(data: MutableMapping[bytes, bytes], kind: str, key: bytes, value: bytes) -> bytes:
    """:func:`apply` for an operation already decoded by :func:`decode_op` (callers that also need its key)."""
    if kind == "put":
        data[key] = value
        return NIL
    if kind == "get":
        return get_result(data.get(key))
    data.pop(key, None)
    return NIL
