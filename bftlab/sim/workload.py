"""Client workload: which operations clients submit, and when.

Operations are key-value commands encoded with msgpack, the format the
replicated key-value services understand: ``["put", key, value]`` or
``["get", key]`` (see :mod:`bftlab.core.kv`), where a put's value pads the operation to
``request_size_bytes``.

Two modes: *closed* loop (each client has one request outstanding and submits
the next when the previous is accepted) and *open* loop (Poisson arrivals at
``rate_rps`` spread round-robin over clients, which queue them; latency then
includes the queueing, as a user would see it).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from bftlab.core.kernel import NS
from bftlab.core.kv import encode_op


class OpGenerator:
    """Deterministic stream of operations from its own random stream."""

    def __init__(self, rng: random.Random, size_bytes: int, keys: int, read_fraction: float,
                 key_skew: float = 0.0) -> None:
        self._rng = rng
        self._keys = max(1, keys)
        self._read = read_fraction
        self._size = size_bytes
        self._skew = key_skew
        self._count = 0

    def _key(self) -> int:
        """A key index: uniform, or Zipf-like with exponent ``key_skew`` (key 0 the hottest).

        Inverse transform of the continuous density ~ x^-s on [1, keys+1): constant
        memory for any key space, where a table of the discrete Zipf CDF would not be.
        """
        if not self._skew:
            return self._rng.randrange(self._keys)
        u, s, top = self._rng.random(), self._skew, self._keys + 1.0
        x = top ** u if abs(s - 1.0) < 1e-9 else ((top ** (1.0 - s) - 1.0) * u + 1.0) ** (1.0 / (1.0 - s))
        return min(self._keys - 1, int(x) - 1)

    def next(self) -> bytes:
        self._count += 1
        key = b"k%d" % self._key()
        if self._read and self._rng.random() < self._read:
            return encode_op("get", key)
        head = len(encode_op("put", key, b""))
        pad = self._size - head
        pad = max(0, pad - (1 if pad > 255 else 0) - (2 if pad > 65535 else 0))  # longer bin headers
        value = self._count.to_bytes(8, "big")[-min(8, pad):] if pad else b""
        return encode_op("put", key, value + b"\0" * (pad - len(value)))


class Workload:
    """Feeds ``Submit`` inputs to clients and tracks submit times for latency."""

    def __init__(
        self,
        clients: tuple[int, ...],
        gen: OpGenerator,
        submit: Callable[[int, bytes], None],
        schedule: Callable[[int, Callable], None],
        mode: str,
        total: int,
        duration_s: float,
        rate_rps: float,
        rng: random.Random,
    ) -> None:
        self.clients = clients
        self._gen = gen
        self._submit = submit
        self._schedule = schedule
        self.mode = mode
        self.total = total if total > 0 else 1 << 62
        self.deadline_ns = int(duration_s * NS) if duration_s > 0 else 1 << 62
        self._rate = rate_rps
        self._rng = rng
        self.submitted = 0
        self._next_client = 0
        self.submit_times: dict[int, deque[int]] = {c: deque() for c in clients}
        self.finished_issuing = False

    def start(self) -> None:
        if self.mode == "closed":
            for c in self.clients:
                self._one(c, 0)
        else:
            self._schedule(0, self._arrival)

    def _one(self, client: int, now: int) -> bool:
        if self.submitted >= self.total or now >= self.deadline_ns:
            self.finished_issuing = True
            return False
        self.submitted += 1
        self.submit_times[client].append(now)
        # Known as soon as the last request goes out, so the run can stop when it completes.
        self.finished_issuing = self.submitted >= self.total
        self._submit(client, self._gen.next())
        return True

    def _arrival(self, now: int) -> None:
        client = self.clients[self._next_client % len(self.clients)]
        self._next_client += 1
        if self._one(client, now) and not self.finished_issuing:
            at = now + max(1, int(self._rng.expovariate(self._rate) * NS))
            if at >= self.deadline_ns:
                self.finished_issuing = True
            else:
                self._schedule(at, self._arrival)

    def on_accepted(self, client: int, now: int) -> None:
        if self.mode == "closed":
            self._one(client, now)
