"""CPU cost model: simulated seconds a node spends per input and per crypto operation.

Defaults are per-operation medians measured on the reference machine by
``python -m benchmarks.bench_costs`` (see README, "CPU cost model"); regenerate
them there and paste the printed block here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CpuCosts:
    """Per-operation costs in microseconds. All zero = infinitely fast nodes."""

    base_us: float = 4.0
    """Fixed cost of handling one input (decode, dispatch, bookkeeping)."""
    per_byte_ns: float = 1.0
    """Cost per received byte (copy, decode), on top of ``base_us``."""
    sign_us: float = 18.0
    verify_us: float = 45.0
    mac_us: float = 0.8
    hash_base_us: float = 0.3
    hash_per_byte_ns: float = 1.5

    def hash_s(self, nbytes: int) -> float:
        return (self.hash_base_us + self.hash_per_byte_ns * nbytes * 1e-3) * 1e-6


ZERO_COSTS = CpuCosts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
