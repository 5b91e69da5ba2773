"""The client-visible key-value history as calls and returns, for oracles that judge values and times.

A client's :class:`~bftlab.api.Issued` request is paired with the operation the
workload handed it (its next :class:`~bftlab.api.Submitted`, whose digest must
match); its first :class:`~bftlab.api.Accepted` result is the return. Requests
that cannot be paired (a client that issues what it was not handed) or whose
operation is not a :mod:`bftlab.core.kv` one are counted and left out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from bftlab.api import Accepted, Issued, Submitted, observed_digest
from bftlab.core.kernel import NS
from bftlab.core.kv import decode_op


@dataclass(frozen=True, slots=True)
class Call:
    """Request ``(client, ts)``: issued at ``start_s``, operation ``name`` on ``key`` (``value`` for put)."""

    client: int
    ts: int
    start_s: float
    name: str
    key: bytes
    value: bytes


class CallLog:
    """Collects calls and returns from history events (feed it with :meth:`observe`)."""

    def __init__(self) -> None:
        self._queued: dict[int, deque[bytes]] = {}
        self.calls: dict[tuple[int, int], Call] = {}
        self.returns: dict[tuple[int, int], tuple[float, bytes]] = {}  # (client, ts) -> (time s, result digest)
        self.unpaired = 0

    def observe(self, t_ns: int, event: Any) -> None:
        kind = type(event)
        if kind is Submitted:
            self._queued.setdefault(event.client, deque()).append(event.op)
        elif kind is Issued:
            queue = self._queued.get(event.client)
            op = queue.popleft() if queue else None
            if op is None or observed_digest(op) != event.op_digest:
                self.unpaired += 1
                return
            try:
                name, key, value = decode_op(op)
            except ValueError:
                self.unpaired += 1
                return
            if (event.client, event.ts) not in self.calls:
                self.calls[(event.client, event.ts)] = Call(event.client, event.ts, t_ns / NS, name, key, value)
        elif kind is Accepted:
            self.returns.setdefault((event.client, event.ts), (t_ns / NS, event.result_digest))

    def returned_at(self, call: Call) -> float | None:
        """When ``call`` got its result, or None if it never did."""
        ret = self.returns.get((call.client, call.ts))
        return None if ret is None else ret[0]
