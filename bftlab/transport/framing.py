"""Frames on a TCP stream: length prefix, session MAC, replay counter (sans-IO).

After the handshake (:mod:`bftlab.transport.handshake`) every frame is::

    u32 length | u64 counter | item* | mac[16]
    item = u32 src | u32 dst | u32 size | payload[size]

big-endian, where ``length`` counts everything after itself, each ``payload``
is one message in the :mod:`bftlab.core.wire` encoding (msgpack, never pickle), and
``mac`` is a keyed BLAKE2b tag over ``counter|items`` under the session key of
that direction. A frame carries every message that was queued on the
connection when its writer woke up, so a busy connection pays one MAC, one
header and one ``send`` for many messages. ``counter`` starts at 1 and grows by
one per frame, so a frame replayed into the stream (or reordered) is refused.
``src``/``dst`` name the nodes: one connection can carry several nodes of a
process (clients).

Nothing here raises on a peer's bytes except :class:`FrameError` for a length
beyond the limit: framing is then lost and the caller must close the connection.
A bad MAC, counter or item layout is reported as a reason string, to be counted
and dropped.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

PROTOCOL_VERSION = 3
"""Bumped whenever the handshake, the frame layout or the message encoding changes; peers must agree."""

MAX_FRAME_BYTES = 8 << 20
"""Default cap on one frame (state transfer replies are the largest messages)."""

MAC_BYTES = 16
_LEN = struct.Struct(">I")
_CTR = struct.Struct(">Q")
_HEAD = struct.Struct(">IQ")
_ITEM = struct.Struct(">III")
ITEM_OVERHEAD = _ITEM.size
"""Bytes each message adds inside a frame."""
OVERHEAD = _HEAD.size + MAC_BYTES
"""Bytes a frame adds around its items."""

Item = tuple[int, int, bytes]
"""``(src, dst, payload)``: one message inside a frame."""


class FrameError(Exception):
    """The byte stream cannot be framed any more (a peer's fault): close the connection."""


class FrameDecoder:
    """Splits a byte stream into length-prefixed frames, refusing oversized ones early.

    The length is checked before the body is buffered, so a peer announcing a
    huge frame costs us nothing: at most ``max_frame`` bytes are ever buffered.
    """

    __slots__ = ("_buf", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self.max_frame = max_frame

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Append ``data``; return the complete frame bodies now available."""
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            src = data  # the common case: the chunk holds whole frames, so slice it without a staging copy
        out: list[bytes] = []
        pos, end = 0, len(src)
        unpack = _LEN.unpack_from
        while end - pos >= 4:
            (size,) = unpack(src, pos)
            if size > self.max_frame:
                raise FrameError(f"frame of {size} bytes exceeds the limit of {self.max_frame}")
            if end - pos - 4 < size:
                break
            out.append(bytes(src[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if src is buf:
            if pos:
                del buf[:pos]
        elif pos < end:
            buf += data[pos:]
        return out


def length_prefixed(body: bytes) -> bytes:
    """A frame holding ``body`` as is (used during the handshake, before keys exist)."""
    return _LEN.pack(len(body)) + body


class Sealer:
    """Seals outgoing frames of one direction of one connection."""

    __slots__ = ("_key", "counter")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.counter = 0

    def seal(self, src: int, dst: int, payload: bytes) -> bytes:
        """A frame holding one message."""
        return self.seal_many([(src, dst, payload)])

    def seal_many(self, items: Iterable[Item]) -> bytes:
        """One frame holding ``items`` in order (the caller keeps it under the peer's frame limit)."""
        self.counter += 1
        pack = _ITEM.pack
        parts = [_CTR.pack(self.counter)]
        for src, dst, payload in items:
            parts.append(pack(src, dst, len(payload)))
            parts.append(payload)
        body = b"".join(parts)
        mac = hashlib.blake2b(body, key=self._key, digest_size=MAC_BYTES).digest()
        return _LEN.pack(len(body) + MAC_BYTES) + body + mac


class Opener:
    """Checks incoming frames of one direction: MAC first, then the counter, then the item layout."""

    __slots__ = ("_key", "counter")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.counter = 0

    def open(self, body: bytes) -> list[Item] | str:
        """The frame's ``(src, dst, payload)`` items, or the reason the frame must be dropped."""
        if len(body) < _CTR.size + MAC_BYTES:
            return "short_frame"
        end = len(body) - MAC_BYTES
        view = memoryview(body)
        if hashlib.blake2b(view[:end], key=self._key, digest_size=MAC_BYTES).digest() != body[end:]:
            return "bad_mac"
        (counter,) = _CTR.unpack_from(body)
        if counter <= self.counter:
            return "replayed"
        self.counter = counter
        out: list[Item] = []
        pos = _CTR.size
        unpack = _ITEM.unpack_from
        step = _ITEM.size
        while pos < end:
            if end - pos < step:
                return "malformed_frame"
            src, dst, size = unpack(body, pos)
            pos += step
            if size > end - pos:
                return "malformed_frame"
            out.append((src, dst, body[pos : pos + size]))
            pos += size
        return out
