"""The replicated state machine of the crash-fault protocols: the shared KV store plus a session table.

The session table remembers, per client, the timestamp and result of the last
command it executed. A command whose timestamp is not above it was executed
already: it returns the remembered result (or nothing, when it is older still)
and changes nothing. Committing a retried request twice, which every one of
these protocols can do across a leader change, therefore executes it once
(Ongaro's thesis §6.3; the client table of VR Revisited §4).
"""

from __future__ import annotations

from typing import Any

import msgpack

from bftlab.api import ExecutedEntry, observed_digest
from bftlab.core import kv


class KvMachine:
    """Key-value data and client sessions; deterministic, so replicas that apply one log agree."""

    __slots__ = ("data", "sessions", "changed_at")

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.sessions: dict[int, tuple[int, bytes]] = {}
        # When each key's value last changed here (seconds): observation only, never persisted or compared,
        # so that a convergence check can tell when a lagging replica caught up.
        self.changed_at: dict[bytes, float] = {}

    def apply(self, client: int, ts: int, op: bytes, now: float = 0.0
              ) -> tuple[bytes | None, ExecutedEntry | None]:
        """Execute ``(client, ts, op)`` once: ``(result, history entry)``; the entry is None for a duplicate,
        and the result None for a request older than the client's last one (its answer was already given).
        ``now`` is the replica's clock, kept only as the key's change time."""
        last = self.sessions.get(client)
        if last is not None and ts <= last[0]:
            return (last[1] if ts == last[0] else None), None
        try:
            kind, key, value = kv.decode_op(op)
        except ValueError:
            result = kv.BAD_OP
        else:
            before = self.data.get(key)
            result = kv.apply_decoded(self.data, kind, key, value)
            if kind != "get" and self.data.get(key) != before:
                self.changed_at[key] = now
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
    def restore(cls, blob: bytes, now: float = 0.0) -> KvMachine:
        """The machine :meth:`snapshot` described, every key changed at ``now``; ValueError when ``blob`` is
        not one."""
        try:
            data, sessions = msgpack.unpackb(blob, raw=False, use_list=True, strict_map_key=False)
            m = cls()
            m.data = {bytes(k): bytes(v) for k, v in data}
            m.sessions = {int(c): (int(ts), bytes(r)) for c, (ts, r) in sessions}
        except Exception as exc:
            raise ValueError(f"not a KV machine snapshot: {exc}") from None
        m.changed_at = dict.fromkeys(m.data, now)
        return m

    def final_state(self, replicas: tuple[int, ...]) -> dict[str, Any]:
        """What this replica holds, in the layout of :mod:`bftlab.oracles.convergence`: every replica holds
        every key (full replication), a value is its SHA-256 hex."""
        return {
            "store": {k.hex(): [observed_digest(v).hex()] for k, v in sorted(self.data.items())},
            "replicas_of": {k.hex(): list(replicas) for k in sorted(self.data)},
            "changed_at_s": {k.hex(): round(t, 6) for k, t in sorted(self.changed_at.items())},
        }


def final_state(replica: Any) -> dict[str, Any]:
    """``ProtocolSpec.final_state`` of the crash-fault protocols: the replica's applied KV state."""
    return replica.machine.final_state(tuple(replica.replicas))
