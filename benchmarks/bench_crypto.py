"""Crypto hot paths against their baselines, measured in the same run.

    python -m benchmarks.bench_crypto [--quick]

Prints a table and writes ``benchmarks/results/bench_crypto.json``. Every
figure is the median of repeated timings; every ratio divides by a baseline
timed in the same process. The SHA-256 hardware limit is estimated from
``hashlib.sha256`` on a large buffer (64 bytes per compression; a PoW hash
with a precomputed midstate costs two compressions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import struct
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``fn`` (after one untimed call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        flags = []
    import numba

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "sha_ni": "sha_ni" in flags,
        "avx512f": "avx512f" in flags,
        "loadavg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "numba": numba.__version__,
    }


def row(name: str, value: float, unit: str, baseline: float | None = None, baseline_name: str = "") -> dict:
    r = {"name": name, "value": value, "unit": unit}
    if baseline:
        r.update(baseline=baseline, baseline_name=baseline_name, ratio=value / baseline)
    return r


def bench_hw_limit(repeat: int) -> dict:
    buf = bytes(16 << 20)
    dt = median_seconds(lambda: hashlib.sha256(buf).digest(), repeat)
    comps = len(buf) / 64 / dt
    return row("sha256 compressions/s (hashlib, 16 MiB buffer)", comps, "1/s")


def bench_pow(quick: bool, repeat: int, limit_comps: float) -> list[dict]:
    import numba

    from bftlab.crypto import pow_kernel

    pow_kernel.warm_up()
    header = hashlib.sha256(b"bench").digest() * 3
    prefix = header[:76]
    target = 0  # never met: every nonce is tried
    n_py = 50_000 if quick else 200_000

    def py_loop() -> None:
        sha, pack = hashlib.sha256, struct.pack
        for n in range(n_py):
            if int.from_bytes(sha(sha(prefix + pack("<I", n)).digest()).digest(), "little") <= target:
                break

    py_rate = n_py / median_seconds(py_loop, repeat)
    limit = limit_comps / 2
    rows = [row("PoW hashlib loop", py_rate, "H/s"),
            row("PoW hardware limit per core (2 compressions/hash)", limit, "H/s")]
    cores = numba.config.NUMBA_NUM_THREADS
    for threads in sorted({1, cores}):
        count = (1 << 22 if quick else 1 << 24) * threads
        dt = median_seconds(partial(pow_kernel.search, prefix, target, 0, count, threads=threads), repeat)
        rate = count / dt
        rows.append(row(f"PoW numba, {threads} core(s)", rate, "H/s", py_rate * threads, "hashlib loop x cores"))
        rows.append(row(f"PoW numba, {threads} core(s) vs hw limit", rate, "H/s", limit * threads, "hw limit x cores"))
    return rows


def bench_batch_sha(quick: bool, repeat: int) -> list[dict]:
    import numba
    import numpy as np

    from bftlab.crypto import sha256_kernel

    sha256_kernel.warm_up()
    n = 200_000 if quick else 1_000_000
    msgs = np.random.default_rng(1).integers(0, 256, (n, 64), dtype=np.uint8)
    as_bytes = [r.tobytes() for r in msgs]
    sha = hashlib.sha256
    base = n / median_seconds(lambda: [sha(x).digest() for x in as_bytes], repeat)
    rows = [row(f"SHA-256 of {n} x 64 B, hashlib loop", base, "msg/s")]
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        rate = n / median_seconds(partial(sha256_kernel.sha256_batch, msgs, threads=threads), repeat)
        rows.append(row(f"SHA-256 of {n} x 64 B, numba {threads} core(s)", rate, "msg/s", base, "hashlib loop"))
    return rows


def bench_signatures(quick: bool, repeat: int) -> list[dict]:
    import nacl.signing

    from bftlab.crypto import batch
    from bftlab.crypto.ed25519 import sign_raw, verify_raw

    key = nacl.signing.SigningKey(bytes(range(32)))
    pk, sk = bytes(key.verify_key), key._signing_key
    total = 1024 if quick else 4096
    msgs = [i.to_bytes(4, "big") * 50 for i in range(total)]  # 200-byte messages
    plain = [key.sign(m).signature for m in msgs]
    vk = key.verify_key

    def one_each() -> None:
        for m, s in zip(msgs, plain):
            vk.verify(m, s)

    base = total / median_seconds(one_each, repeat)
    rows = [row("verify, one pynacl verify per message", base, "msg/s")]
    for b in (1, 16, 256, 4096):
        if b > total:
            continue
        sigs = []
        for lo in range(0, total, b):
            sigs += batch.sign_batch(lambda m: sign_raw(sk, m), msgs[lo : lo + b])

        def verify_all(sigs: list[bytes] = sigs) -> None:
            v = batch.BatchVerifier(lambda _s, d, s: verify_raw(pk, d, s))
            for m, s in zip(msgs, sigs):
                if not v.verify(0, m, s):
                    raise AssertionError("batched signature rejected")

        rate = total / median_seconds(verify_all, repeat)
        rows.append(row(f"verify, batched signatures, batch {b}", rate, "msg/s", base, "one verify per message"))
        def sign_all(b: int = b) -> None:
            for lo in range(0, total, b):
                batch.sign_batch(lambda m: sign_raw(sk, m), msgs[lo : lo + b])

        sign_rate = total / median_seconds(sign_all, repeat)
        rows.append(row(f"sign, batched, batch {b}", sign_rate, "msg/s"))
    items = [(pk, m, s) for m, s in zip(msgs, plain)]
    serial = total / median_seconds(lambda: batch.verify_parallel(verify_raw, items, threads=1), repeat)
    cores = os.cpu_count() or 1
    par = total / median_seconds(lambda: batch.verify_parallel(verify_raw, items, threads=cores), repeat)
    rows.append(row("verify independent signatures, 1 thread", serial, "msg/s"))
    rows.append(row(f"verify independent signatures, {cores} threads", par, "msg/s", serial, "1 thread"))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'benchmark':58s} {'median':>14s} {'unit':>6s} {'ratio':>8s}  baseline"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        lines.append(f"{r['name']:58s} {r['value']:14,.0f} {r['unit']:>6s} {ratio:>8s}  {r.get('baseline_name', '')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else 7
    info = machine()
    hw = bench_hw_limit(repeat)
    rows = [hw]
    rows += bench_pow(args.quick, repeat, hw["value"])
    rows += bench_batch_sha(args.quick, repeat)
    rows += bench_signatures(args.quick, repeat)
    info["loadavg_1m_after"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_crypto.json"
    out.write_text(json.dumps({"machine": info, "quick": args.quick, "repeat": repeat, "results": rows}, indent=2))
    print(json.dumps(info))
    print(format_table(rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
