"""The storage seam's engine side: one record format, a simulated disk and a real log file.

A node keeps what must survive a crash with the actions ``Persist(key, value)``
and ``Sync(token)`` (see :mod:`bftlab.api`); every runtime executes them through
its :class:`~bftlab.core.host.ActionSink`. This module holds what they share:

* **The record format** (:func:`encode_record`, :func:`scan`). A log is a
  sequence of records ``<u32 length><u32 crc32><payload>``, the payload being
  ``<u16 key length><key utf-8><value>``; the CRC covers the length and the
  payload. Recovery reads records in order and stops at the first one that is
  cut short, longer than :data:`MAX_RECORD_BYTES` or fails its checksum: after
  a torn or corrupt record nothing can be trusted (its length may be garbage),
  so the log is cut there. The latest value per key wins.
* **The simulated disk** (:class:`SimDisk`): records in order, a durable prefix,
  a device that takes ``write_ns`` per record and ``fsync_ns`` per fsync, group
  commit (every Sync issued while an fsync is in flight is answered together by
  the next one) and the crash faults of ``storage.faults``:

  - ``none``: a process crash; the OS page cache keeps every written record,
    synced or not;
  - ``lose-unsynced`` (default): power loss; records not yet durable are gone;
  - ``torn-tail``: power loss during write-back; a random prefix of the
    unsynced records reached the disk and the record after it may be half
    written (cut short, or its tail zero-filled). Recovery detects it by its
    checksum and cuts it, exactly as the real log does.

  Fault draws come from the disk's own random stream (``storage/<node>``), so
  storage faults never shift any other component's randomness.
* **The real log** (:class:`DiskLog`): an append-only file per node; ``sync``
  is flush + ``os.fsync``; :meth:`DiskLog.open` recovers the file and
  truncates a bad tail before the node boots.
"""

from __future__ import annotations

import os
import random
import struct
import zlib
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from bftlab.errors import InvariantError

__all__ = ["MAX_RECORD_BYTES", "DiskLog", "Recovery", "SimDisk", "StorageFaults", "encode_record", "scan"]

StorageFaults = Literal["none", "lose-unsynced", "torn-tail"]

_HDR = struct.Struct("<II")  # payload length, crc32(length bytes + payload)
_KEY = struct.Struct("<H")
MAX_RECORD_BYTES = 64 << 20
"""Largest record payload (64 MiB); a header claiming more is corruption, not a record."""
MAX_KEY_BYTES = 0xFFFF


def encode_record(key: str, value: bytes) -> bytes:
    """One log record for ``key = value`` (see the module docstring for the layout)."""
    k = key.encode()
    if len(k) > MAX_KEY_BYTES:
        raise InvariantError(f"Persist key of {len(k)} bytes exceeds {MAX_KEY_BYTES}: {key[:80]!r}")
    payload = _KEY.pack(len(k)) + k + bytes(value)
    if len(payload) > MAX_RECORD_BYTES:
        raise InvariantError(f"Persist record of {len(payload)} bytes exceeds {MAX_RECORD_BYTES} (key {key[:80]!r})")
    n = struct.pack("<I", len(payload))
    return _HDR.pack(len(payload), zlib.crc32(payload, zlib.crc32(n))) + payload


@dataclass(frozen=True)
class Recovery:
    """What :func:`scan` found: the latest value per key, the intact prefix, and why it stopped early."""

    values: dict[str, bytes] = field(default_factory=dict)
    records: int = 0
    good_bytes: int = 0
    problem: str | None = None
    """None if the whole input was intact; else ``truncated``, ``oversized``, ``checksum`` or ``bad_key``."""


def scan(data: bytes) -> Recovery:
    """Decode records from the start of ``data`` until the end or the first bad one."""
    values: dict[str, bytes] = {}
    pos, count, size = 0, 0, len(data)
    problem = None
    view = memoryview(data)
    while pos < size:
        if size - pos < _HDR.size:
            problem = "truncated"
            break
        length, crc = _HDR.unpack_from(data, pos)
        if length > MAX_RECORD_BYTES or length < _KEY.size:
            problem = "oversized" if length > MAX_RECORD_BYTES else "checksum"
            break
        end = pos + _HDR.size + length
        if end > size:
            problem = "truncated"
            break
        payload = view[pos + _HDR.size:end]
        if zlib.crc32(payload, zlib.crc32(data[pos:pos + 4])) != crc:
            problem = "checksum"
            break
        (klen,) = _KEY.unpack_from(payload, 0)
        if _KEY.size + klen > length:
            problem = "bad_key"
            break
        try:
            key = bytes(payload[_KEY.size:_KEY.size + klen]).decode()
        except UnicodeDecodeError:
            problem = "bad_key"
            break
        values[key] = bytes(payload[_KEY.size + klen:])
        count += 1
        pos = end
    return Recovery(values, count, pos, problem)


# ------------------------------------------------------------------ the simulated disk
class SimDisk:
    """One node's simulated stable log, in integer nanoseconds of the runtime's clock.

    The runtime calls :meth:`persist` and :meth:`sync` from its sink; when
    :meth:`sync` or :meth:`fsync_done` returns a completion time the runtime
    schedules :meth:`fsync_done` then, tagged with :attr:`incarnation` so that a
    completion from before a crash is recognised as stale.
    """

    __slots__ = ("write_ns", "fsync_ns", "faults", "rng", "log", "durable", "written_at", "waiting", "inflight",
                 "incarnation", "stats")

    def __init__(self, write_ns: int, fsync_ns: int, faults: StorageFaults, rng: random.Random) -> None:
        self.write_ns = write_ns
        self.fsync_ns = fsync_ns
        self.faults = faults
        self.rng = rng
        self.log: list[bytes] = []  # encoded records (after a torn crash, the last may be a fragment)
        self.durable = 0  # log[:durable] is on stable storage
        self.written_at = 0  # when the device finishes the writes queued so far
        self.waiting: list[Hashable] = []  # Syncs for the next fsync
        self.inflight: tuple[int, list[Hashable]] | None = None  # (records it covers, its tokens)
        self.incarnation = 0
        self.stats = {"records": 0, "bytes": 0, "syncs": 0, "fsyncs": 0, "lost_records": 0, "torn_cut": 0}

    def persist(self, t: int, key: str, value: bytes) -> None:
        rec = encode_record(key, value)
        self.log.append(rec)
        self.written_at = max(t, self.written_at) + self.write_ns
        self.stats["records"] += 1
        self.stats["bytes"] += len(rec)

    def sync(self, t: int, token: Hashable) -> int | None:
        """Queue ``token``; returns the completion time of an fsync started now, or None if one is in flight."""
        self.stats["syncs"] += 1
        self.waiting.append(token)
        return None if self.inflight is not None else self._start(t)

    def _start(self, t: int) -> int:
        covers = len(self.log)
        tokens, self.waiting = self.waiting, []
        self.inflight = (covers, tokens)
        if covers == self.durable:  # nothing new to flush: the device has nothing to do
            return t
        self.stats["fsyncs"] += 1
        return max(t, self.written_at) + self.fsync_ns

    def fsync_done(self, t: int) -> tuple[list[Hashable], int | None]:
        """The in-flight fsync completed at ``t``: the tokens it answers, and the next fsync's completion time."""
        if self.inflight is None:
            raise InvariantError("SimDisk.fsync_done without an fsync in flight")
        covers, tokens = self.inflight
        self.durable = max(self.durable, covers)
        self.inflight = None
        return tokens, (self._start(t) if self.waiting else None)

    def crash(self) -> None:
        """The node crashed: in-flight Syncs are cancelled, and unsynced records meet ``faults``."""
        self.incarnation += 1
        self.inflight = None
        self.waiting = []
        unsynced = len(self.log) - self.durable
        if self.faults == "none" or unsynced == 0:
            self.durable = len(self.log)
            return
        keep = 0
        if self.faults == "torn-tail":
            keep = self.rng.randint(0, unsynced)  # records that reached the disk before power was lost
            if keep < unsynced:
                rec = self.log[self.durable + keep]
                cut = self.rng.randint(1, len(rec) - 1)
                # Cut short (the file ends mid-record) or zero-filled (the length is there, the data never was).
                torn = rec[:cut] if self.rng.random() < 0.5 else rec[:cut] + bytes(len(rec) - cut)
                del self.log[self.durable + keep + 1:]
                self.log[self.durable + keep] = torn
                self.stats["lost_records"] += unsynced - keep
                self.durable = len(self.log)
                return
        del self.log[self.durable + keep:]
        self.stats["lost_records"] += unsynced - keep
        self.durable = len(self.log)

    def recover(self) -> dict[str, bytes]:
        """Read the log as a rebooting node would: the latest intact value per key; a torn tail is cut."""
        found = scan(b"".join(self.log))
        if found.problem is not None:
            self.stats["torn_cut"] += 1
            kept, size = [], 0
            for rec in self.log:
                if size + len(rec) > found.good_bytes:
                    break
                kept.append(rec)
                size += len(rec)
            self.log = kept
            self.durable = min(self.durable, len(kept))
        return found.values


# ------------------------------------------------------------------ the real log file
class DiskLog:
    """An append-only, checksummed log file (the real transport's storage for one node).

    :meth:`open` recovers what the file holds and truncates a bad tail, so new
    records follow the last intact one. :meth:`append` writes into the file
    object's buffer; :meth:`flush` hands the buffer to the OS (cheap, on the
    event loop); :meth:`fsync` makes it durable (slow: run it in a worker thread).
    """

    def __init__(self, path: Path, fh: BinaryIO, recovered: Recovery) -> None:
        self.path = path
        self._fh = fh
        self.recovered = recovered
        self.fsyncs = 0

    @classmethod
    def open(cls, path: str | Path) -> DiskLog:
        path = Path(path)
        data = path.read_bytes() if path.exists() else b""
        found = scan(data)
        fh = open(path, "ab")  # noqa: SIM115  # lives as long as the log
        if found.good_bytes < len(data):
            fh.truncate(found.good_bytes)  # the bad tail goes before anything is appended after it
            fh.flush()
            os.fsync(fh.fileno())
        return cls(path, fh, found)

    def append(self, key: str, value: bytes) -> None:
        self._fh.write(encode_record(key, value))

    def flush(self) -> None:
        self._fh.flush()

    def fsync(self) -> None:
        os.fsync(self._fh.fileno())
        self.fsyncs += 1

    def sync(self) -> None:
        """flush + fsync in one call (for callers that may block)."""
        self.flush()
        self.fsync()

    def close(self) -> None:
        self._fh.close()
