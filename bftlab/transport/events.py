"""History event logs: each process appends its Observe events to a file; the launcher reads them back.

A log is a stream of msgpack records, each a list starting with a one-letter
kind and a ``time.monotonic_ns()`` timestamp (system-wide on one host, so the
launcher can line up processes; latency only ever compares timestamps of one
process)::

    ["I", t_issued, client, ts, op_digest, t_submitted]
    ["A", t, client, ts, result_digest]
    ["X", t, node, seq, view, [[client, ts, op_digest, result_digest], ...]]
    ["V", t, node, view]
    ["S", t, node, seq]
    ["R", t, node]
    ["Q", t, node, client, ts, op_digest, result_digest]   (ReadServed)
    ["U", t, client, op]                            (Submitted: the operation the workload handed over)
    ["T", t, client, ts, [participant, ...]]        (TxnBegan)
    ["O", t, node, client, ts, yes]                 (Voted)
    ["D", t, node, client, ts, commit]              (Decided)

Writes are buffered and flushed every ``flush_s``: a SIGKILLed process loses at
most that much of its tail, which only makes the check see less, never wrong.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from bftlab.api import (
    Accepted,
    Decided,
    Executed,
    ExecutedEntry,
    Issued,
    ReadServed,
    Recovered,
    StateTransferred,
    Submitted,
    TxnBegan,
    ViewChanged,
    Voted,
)


class EventLog:
    """Buffered writer of one process's history events."""

    def __init__(self, path: str | Path | None) -> None:
        self._file: BinaryIO | None = open(path, "ab") if path else None
        self._buf: list[bytes] = []
        self._pack = msgpack.Packer(use_bin_type=True).pack
        self.records = 0

    def write(self, event: Any, submitted_ns: int | None = None) -> None:
        t = time.monotonic_ns()
        kind = type(event)
        if kind is Executed:
            rec = ["X", t, event.node, event.seq, event.view,
                   [[e.client, e.ts, e.op_digest, e.result_digest] for e in event.entries]]
        elif kind is Issued:
            rec = ["I", t, event.client, event.ts, event.op_digest, submitted_ns if submitted_ns is not None else t]
        elif kind is Accepted:
            rec = ["A", t, event.client, event.ts, event.result_digest]
        elif kind is ViewChanged:
            rec = ["V", t, event.node, event.view]
        elif kind is StateTransferred:
            rec = ["S", t, event.node, event.seq]
        elif kind is Recovered:
            rec = ["R", t, event.node]
        elif kind is ReadServed:
            rec = ["Q", t, event.node, event.client, event.ts, event.op_digest, event.result_digest]
        elif kind is Submitted:
            rec = ["U", t, event.client, event.op]
        elif kind is TxnBegan:
            rec = ["T", t, event.client, event.ts, list(event.participants)]
        elif kind is Voted:
            rec = ["O", t, event.node, event.client, event.ts, event.yes]
        elif kind is Decided:
            rec = ["D", t, event.node, event.client, event.ts, event.commit]
        else:
            return
        self.records += 1
        if self._file is not None:
            self._buf.append(self._pack(rec))

    def flush(self) -> None:
        if self._file is not None and self._buf:
            self._file.write(b"".join(self._buf))
            self._buf.clear()
            self._file.flush()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


def read_log(path: str | Path) -> Iterator[tuple[str, int, Any, int | None]]:
    """``(kind, t_ns, event, submitted_ns)`` for each record; a torn last record (SIGKILL) is ignored."""
    with open(path, "rb") as fh:
        unpacker = msgpack.Unpacker(fh, raw=False, use_list=True, max_buffer_size=64 << 20)
        try:
            for rec in unpacker:
                yield _event(rec)
        except (msgpack.OutOfData, ValueError):
            return


def _event(rec: list) -> tuple[str, int, Any, int | None]:
    kind, t = rec[0], rec[1]
    if kind == "X":
        entries = tuple(ExecutedEntry(c, ts, op, res) for c, ts, op, res in rec[5])
        return kind, t, Executed(rec[2], rec[3], rec[4], entries), None
    if kind == "I":
        return kind, t, Issued(rec[2], rec[3], rec[4]), rec[5]
    if kind == "A":
        return kind, t, Accepted(rec[2], rec[3], rec[4]), None
    if kind == "V":
        return kind, t, ViewChanged(rec[2], rec[3]), None
    if kind == "S":
        return kind, t, StateTransferred(rec[2], rec[3]), None
    if kind == "R":
        return kind, t, Recovered(rec[2]), None
    if kind == "Q":
        return kind, t, ReadServed(rec[2], rec[3], rec[4], rec[5], rec[6]), None
    if kind == "U":
        return kind, t, Submitted(rec[2], rec[3]), None
    if kind == "T":
        return kind, t, TxnBegan(rec[2], rec[3], tuple(rec[4])), None
    if kind == "O":
        return kind, t, Voted(rec[2], rec[3], rec[4], rec[5]), None
    if kind == "D":
        return kind, t, Decided(rec[2], rec[3], rec[4], rec[5]), None
    raise ValueError(f"unknown event record kind {kind!r}")
