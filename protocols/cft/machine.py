"""The replicated state machine of the crash-fault protocols: the shared KV store plus a session table.

The session table remembers, per client, the timestamp and result of the last
command it executed. A command whose timestamp is not above it was executed
already: it returns the remembered result (or nothing, when it is older still)
and changes nothing. Committing a retried request twice, which every one of
these protocols can do across a leader change, therefore executes it once
(Ongaro's thesis §6.3; the client table of VR Revisited §4).
"""

from __future__ import annotations

import msgpack

from bftlab.api import ExecutedEntry, observed_digest
from bftlab.core import kv


class KvMachine:
    """Key-value data and client sessions; deterministic, so replicas that apply one log agree."""

    __slots__ = ("data", "sessions")

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.sessions: dict[int, tuple[int, bytes]] = {}

    def apply(self, client: int, ts: int, op: bytes) -> tuple[bytes | None, ExecutedEntry | None]:
        """Execute ``(client, ts, op)`` once: ``(result, history entry)``; the entry is None for a duplicate,
        and the result None for a request older than the client's last one (its answer was already given)."""
        last = self.sessions.get(client)
        if last is not None and ts <= last[0]:
            return (last[1] if ts == last[0] else None), None
        result = kv.apply(self.data, op)
        self.sessions[client] = (ts, result)
        return result, ExecutedEntry(client, ts, observed_digest(op), observed_digest(result))

    def answered(self, client: int, ts: int) -> bytes | None:
        """The result of ``(client, ts)`` if it is the client's last executed request, else None."""
        last = self.sessions.get(client)
        return last[1] if last is not None and last[0] == ts else None

    def snapshot(self) -> bytes:
        """The whole state as bytes (for snapshots, state transfer and checkpoints)."""
        return msgpack.packb([sorted(self.data.items()), sorted((c, list(v)) for c, v in self.sessions.items())],
                             use_bin_type=True)

    @classmethod
    def restore(cls, blob: bytes) -> KvMachine:
        """The machine :meth:`snapshot` described; ValueError when ``blob`` is not one."""
        try:
            data, sessions = msgpack.unpackb(blob, raw=False, use_list=True, strict_map_key=False)
            m = cls()
            m.data = {bytes(k): bytes(v) for k, v in data}
            m.sessions = {int(c): (int(ts), bytes(r)) for c, (ts, r) in sessions}
        except Exception as exc:
            raise ValueError(f"not a KV machine snapshot: {exc}") from None
        return m
