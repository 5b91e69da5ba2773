"""CPU cost model: simulated seconds a node spends per input and per crypto operation.

Defaults are per-operation medians measured by ``python -m benchmarks.bench_costs``
(see README, "CPU cost model"), which prints this field block ready to paste.
The reference machine is a 2-core AMD EPYC (Zen 4) virtual machine, Python 3.11:
``sign_us``/``verify_us`` are Ed25519 (libsodium via PyNaCl) on 200 bytes;
``mac_us`` is one keyed-BLAKE2b tag over a 32-byte digest; the hash costs are
a line fitted through SHA-256 (hashlib) of 64 bytes and 16 KiB; ``base_us`` is
the wire-codec decode of a 196-byte PBFT-like message and ``per_byte_ns`` the
decode slope up to a 64 KiB payload. Each is the median of repeated loops.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CpuCosts:
    """Per-operation costs in microseconds. All zero = infinitely fast nodes."""

    base_us: float = 2.3
    """Fixed cost of handling one input (decode, dispatch, bookkeeping)."""
    per_byte_ns: float = 0.0417
    """Cost per received byte (copy, decode), on top of ``base_us``."""
    sign_us: float = 20.1
    verify_us: float = 56.5
    mac_us: float = 0.662
    hash_base_us: float = 0.335
    hash_per_byte_ns: float = 0.563

    def hash_s(self, nbytes: int) -> float:
        return (self.hash_base_us + self.hash_per_byte_ns * nbytes * 1e-3) * 1e-6


ZERO_COSTS = CpuCosts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
