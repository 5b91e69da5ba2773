"""The replicated service: a deterministic key-value store.

An operation is msgpack ``["put", key, value]``, ``["get", key]`` or
``["del", key]`` with ``bytes`` keys and values (build them with :func:`op_put`
and friends). Results are msgpack too: ``put``/``del`` return ``nil``; ``get``
returns the value or ``nil``; anything else returns ``{"error": ...}``, so a
garbage operation is executed deterministically rather than rejected.

:meth:`KvStore.snapshot` is the canonical encoding of the whole state (sorted
items); checkpoints digest it and state transfer ships it (TOCS §4.3; the
paper's incremental partition tree of §5.3 is not modelled).
"""

from __future__ import annotations

import msgpack

_NIL = msgpack.packb(None)
_BAD_OP = msgpack.packb({"error": "bad op"})


def op_put(key: bytes, value: bytes) -> bytes:
    return msgpack.packb(("put", key, value), use_bin_type=True)


def op_get(key: bytes) -> bytes:
    return msgpack.packb(("get", key), use_bin_type=True)


def op_del(key: bytes) -> bytes:
    return msgpack.packb(("del", key), use_bin_type=True)


def decode_result(result: bytes) -> object:
    return msgpack.unpackb(result, raw=False)


class KvStore:
    __slots__ = ("data",)

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = data if data is not None else {}

    def apply(self, op: bytes) -> bytes:
        """Execute one operation and return its result bytes (never raises)."""
        try:
            cmd = msgpack.unpackb(op, use_list=False, raw=False)
        except Exception:
            return _BAD_OP
        if type(cmd) is not tuple or not cmd:
            return _BAD_OP
        name = cmd[0]
        if name == "put" and len(cmd) == 3 and type(cmd[1]) is bytes and type(cmd[2]) is bytes:
            self.data[cmd[1]] = cmd[2]
            return _NIL
        if name == "get" and len(cmd) == 2 and type(cmd[1]) is bytes:
            value = self.data.get(cmd[1])
            return _NIL if value is None else msgpack.packb(value, use_bin_type=True)
        if name == "del" and len(cmd) == 2 and type(cmd[1]) is bytes:
            self.data.pop(cmd[1], None)
            return _NIL
        return _BAD_OP

    def items(self) -> list[tuple[bytes, bytes]]:
        return sorted(self.data.items())

    def snapshot(self) -> bytes:
        return msgpack.packb(self.items(), use_bin_type=True)

    @classmethod
    def restore(cls, snapshot: bytes) -> KvStore:
        """Rebuild a store from :meth:`snapshot` output; raises ValueError if malformed."""
        items = msgpack.unpackb(snapshot, use_list=False, raw=False)
        return cls.from_items(items)

    @classmethod
    def from_items(cls, items: object) -> KvStore:
        if type(items) is not tuple:
            raise ValueError("kv snapshot: expected a sequence of pairs")
        data: dict[bytes, bytes] = {}
        for pair in items:
            if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not bytes or type(pair[1]) is not bytes:
                raise ValueError("kv snapshot: bad pair")
            data[pair[0]] = pair[1]
        return cls(data)
