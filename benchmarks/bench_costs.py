"""Measure the CPU cost model's per-operation defaults on this machine.

    python -m benchmarks.bench_costs [--quick]

Prints a ``CpuCosts`` field block ready to paste into ``bftlab/costs.py`` and
writes ``benchmarks/results/bench_costs.json``. Each cost is the median over
repeated timings of a loop of the operation, divided by the loop length:

* ``sign_us`` / ``verify_us``: Ed25519 (libsodium via pynacl) on 200 bytes;
* ``mac_us``: one keyed-BLAKE2b tag over a 32-byte digest (one receiver);
* ``hash_base_us`` / ``hash_per_byte_ns``: SHA-256, from a line through
  64-byte and 16 KiB inputs;
* ``base_us`` / ``per_byte_ns``: decoding (msgpack plus field type checks, by
  the wire codec) of a ~200-byte PBFT-like message, and the slope from a
  64 KiB payload.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass

from benchmarks.bench_crypto import RESULTS, machine, median_seconds
from bftlab.core import wire

BENCH_WIRE_CODE = 0x7FF0
"""Reserved for this benchmark's message; never sent by a protocol."""


@dataclass(frozen=True, slots=True)
class BenchMessage:
    """Shaped like a PBFT pre-prepare: view, seq, digest, replica, payload, signature."""

    view: int
    seq: int
    digest: bytes
    replica: int
    payload: bytes
    sig: bytes


wire.register_type(BenchMessage, BENCH_WIRE_CODE)


def per_op_us(fn, n: int, repeat: int) -> float:
    def loop() -> None:
        for _ in range(n):
            fn()

    return median_seconds(loop, repeat) / n * 1e6


def message(payload: bytes) -> bytes:
    return wire.encode(BenchMessage(7, 123456, hashlib.sha256(payload).digest(), 3, payload, bytes(64)))


def measure(quick: bool) -> dict[str, float]:
    import nacl.signing

    from bftlab.crypto import mac

    repeat = 5 if quick else 15
    n = 200 if quick else 1000
    key = nacl.signing.SigningKey(bytes(range(32)))
    vk = key.verify_key
    data = bytes(200)
    sig = key.sign(data).signature
    costs: dict[str, float] = {}
    costs["sign_us"] = per_op_us(lambda: key.sign(data), n, repeat)
    costs["verify_us"] = per_op_us(lambda: vk.verify(data, sig), n, repeat)
    mac_key, digest = bytes(32), bytes(32)
    costs["mac_us"] = per_op_us(lambda: mac.mac(mac_key, digest), 20 * n, repeat)
    small, large = bytes(64), bytes(16384)
    t_small = per_op_us(lambda: hashlib.sha256(small).digest(), 20 * n, repeat)
    t_large = per_op_us(lambda: hashlib.sha256(large).digest(), n, repeat)
    per_byte_us = (t_large - t_small) / (len(large) - len(small))
    costs["hash_per_byte_ns"] = per_byte_us * 1e3
    costs["hash_base_us"] = max(0.0, t_small - per_byte_us * len(small))
    msg_small, msg_large = message(bytes(80)), message(bytes(65536))
    t_msg = per_op_us(lambda: wire.decode(msg_small), 20 * n, repeat)
    t_big = per_op_us(lambda: wire.decode(msg_large), n, repeat)
    per_msg_byte_us = (t_big - t_msg) / (len(msg_large) - len(msg_small))
    costs["per_byte_ns"] = per_msg_byte_us * 1e3
    costs["base_us"] = max(0.0, t_msg - per_msg_byte_us * len(msg_small))
    costs["_message_bytes"] = float(len(msg_small))
    return costs


def paste_block(c: dict[str, float]) -> str:
    def fmt(x: float) -> str:
        return f"{x:.3g}" if x < 10 else f"{x:.1f}"

    order = ["base_us", "per_byte_ns", "sign_us", "verify_us", "mac_us", "hash_base_us", "hash_per_byte_ns"]
    return "\n".join(f"    {k}: float = {fmt(c[k])}" for k in order)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer and shorter repeats")
    args = ap.parse_args(argv)
    started = time.time()
    costs = measure(args.quick)
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_costs.json"
    out.write_text(json.dumps({"machine": info, "quick": args.quick, "started": started, "costs": costs}, indent=2))
    print(json.dumps(info))
    print("# CpuCosts defaults measured by `python -m benchmarks.bench_costs` (medians, microseconds/nanoseconds):")
    print(paste_block(costs))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
