"""Frames on a TCP stream: length prefix, session MAC, replay counter (sans-IO).

After the handshake (:mod:`bftlab.transport.handshake`) every frame is::

    u32 length | u64 counter | u32 src | u32 dst | payload | mac[16]

big-endian, where ``length`` counts everything after itself, ``payload`` is one
message in the :mod:`bftlab.wire` encoding (msgpack, never pickle), and ``mac``
is a keyed BLAKE2b tag over ``counter|src|dst|payload`` under the session key of
that direction. ``counter`` starts at 1 and grows by one per frame, so a frame
replayed into the stream (or reordered) is refused. ``src``/``dst`` name the
nodes: one connection can carry several nodes of a process (clients).

Nothing here raises on a peer's bytes except :class:`FrameError` for a length
beyond the limit: framing is then lost and the caller must close the connection.
A bad MAC or counter is reported as a reason string, to be counted and dropped.
"""

from __future__ import annotations

import hashlib
import struct

PROTOCOL_VERSION = 1
"""Bumped whenever the handshake or frame layout changes; peers must agree."""

MAX_FRAME_BYTES = 8 << 20
"""Default cap on one frame (state transfer replies are the largest messages)."""

MAC_BYTES = 16
_LEN = struct.Struct(">I")
_HDR = struct.Struct(">QII")
OVERHEAD = _LEN.size + _HDR.size + MAC_BYTES
"""Bytes a frame adds around its payload."""


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

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data``; return the complete frame bodies now available."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        unpack = _LEN.unpack_from
        while end - pos >= 4:
            (size,) = unpack(buf, pos)
            if size > self.max_frame:
                raise FrameError(f"frame of {size} bytes exceeds the limit of {self.max_frame}")
            if end - pos - 4 < size:
                break
            out.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
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
        self.counter += 1
        head = _HDR.pack(self.counter, src, dst)
        mac = hashlib.blake2b(head + payload, key=self._key, digest_size=MAC_BYTES).digest()
        return _LEN.pack(len(head) + len(payload) + MAC_BYTES) + head + payload + mac


class Opener:
    """Checks incoming frames of one direction: MAC first, then the counter."""

    __slots__ = ("_key", "counter")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.counter = 0

    def open(self, body: bytes) -> tuple[int, int, bytes] | str:
        """``(src, dst, payload)``, or the reason the frame must be dropped."""
        if len(body) < _HDR.size + MAC_BYTES:
            return "short_frame"
        signed, mac = body[:-MAC_BYTES], body[-MAC_BYTES:]
        if hashlib.blake2b(signed, key=self._key, digest_size=MAC_BYTES).digest() != mac:
            return "bad_mac"
        counter, src, dst = _HDR.unpack_from(signed)
        if counter <= self.counter:
            return "replayed"
        self.counter = counter
        return src, dst, signed[_HDR.size :]
