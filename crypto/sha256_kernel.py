"""Batch SHA-256 of many short messages with numba (lane-parallel SIMD, multi-core).

Messages of one length are hashed side by side, ``LANES`` at a time: for each
64-byte block the words of all lanes are gathered into a small lane-major buffer
and one straight-line compression runs in an innermost loop over the lanes, which
LLVM vectorises. Groups of lanes are spread over cores with ``prange``. Messages
of mixed lengths are grouped by length (:func:`sha256_many`).

Importing this module imports numba; the first call compiles (or loads from the
on-disk cache) the kernel, so call :func:`warm_up` before timing anything.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numba
import numpy as np
from numba import njit, prange

from bftlab.crypto._sha256_core import IV, bswap32, compress
from bftlab.errors import UsageError

LANES = 16
"""Messages hashed side by side; 16 x 32-bit fills one AVX-512 register."""

_GROUPS_PER_TASK = 64


@njit(inline="always")
def _block_word(raw, n, m, b, j, nb):
    """Word ``j`` of padded block ``b`` of message ``n`` (``m`` bytes, ``nb`` blocks)."""
    p = b * 64 + 4 * j
    if p + 4 <= m:
        return bswap32(raw[n, p >> 2])
    if p < m:
        keep = m - p  # 1..3 message bytes, then the 0x80 marker
        x = bswap32(raw[n, p >> 2])
        mask = np.uint32(0xFFFFFFFF) << np.uint32(32 - 8 * keep)
        return np.uint32((x & mask) | (np.uint32(0x80) << np.uint32(24 - 8 * keep)))
    if p == m:
        return np.uint32(0x80000000)
    if b == nb - 1 and j == 14:
        return np.uint32((m * 8) >> 32)
    if b == nb - 1 and j == 15:
        return np.uint32((m * 8) & 0xFFFFFFFF)
    return np.uint32(0)


@njit(cache=True, parallel=True)
def _sha256_fixed(raw, n_msgs, m, double, out):
    """Hash ``n_msgs`` messages of ``m`` bytes (rows of ``raw``, native uint32 words).

    ``out`` gets the digests as big-endian words stored natively (so that its
    bytes are the digests). With ``double`` a second pass hashes each digest.
    """
    nb = (m + 8) // 64 + 1
    passes = nb + 1 if double else nb
    n_groups = (n_msgs + LANES - 1) // LANES
    n_tasks = (n_groups + _GROUPS_PER_TASK - 1) // _GROUPS_PER_TASK
    for task in prange(n_tasks):
        buf = np.empty((16, LANES), np.uint32)
        st = np.empty((8, LANES), np.uint32)
        g_end = min(n_groups, (task + 1) * _GROUPS_PER_TASK)
        for g in range(task * _GROUPS_PER_TASK, g_end):
            n0 = g * LANES
            for b in range(passes):
                if b < nb:
                    for j in range(16):
                        for lane in range(LANES):
                            buf[j, lane] = _block_word(raw, min(n0 + lane, n_msgs - 1), m, b, j, nb)
                    if b == 0:
                        for j in range(8):
                            for lane in range(LANES):
                                st[j, lane] = IV[j]
                else:
                    # second pass of a double hash: the 32-byte digest, padded, from a fresh IV
                    for j in range(8):
                        for lane in range(LANES):
                            buf[j, lane] = st[j, lane]
                            st[j, lane] = IV[j]
                    for j in range(8, 16):
                        for lane in range(LANES):
                            buf[j, lane] = 0
                    for lane in range(LANES):
                        buf[8, lane] = 0x80000000
                        buf[15, lane] = 256
                for lane in range(LANES):
                    r = compress(
                        (st[0, lane], st[1, lane], st[2, lane], st[3, lane],
                         st[4, lane], st[5, lane], st[6, lane], st[7, lane]),
                        (buf[0, lane], buf[1, lane], buf[2, lane], buf[3, lane],
                         buf[4, lane], buf[5, lane], buf[6, lane], buf[7, lane],
                         buf[8, lane], buf[9, lane], buf[10, lane], buf[11, lane],
                         buf[12, lane], buf[13, lane], buf[14, lane], buf[15, lane]),
                    )  # fmt: skip
                    for j in range(8):
                        st[j, lane] = r[j]
            for lane in range(min(LANES, n_msgs - n0)):
                for j in range(8):
                    out[n0 + lane, j] = bswap32(st[j, lane])


def sha256_batch(msgs: np.ndarray, *, double: bool = False, threads: int | None = None) -> np.ndarray:
    """SHA-256 (or double SHA-256) of each row of a ``(N, m)`` uint8 array -> ``(N, 32)`` uint8.

    ``threads`` caps the cores used (default: numba's thread count).
    """
    msgs = np.asarray(msgs, dtype=np.uint8)
    if msgs.ndim != 2:
        raise UsageError(f"msgs must be a 2-d (count, length) uint8 array, got shape {msgs.shape}")
    n, m = msgs.shape
    out = np.empty((n, 8), np.uint32)
    if n == 0:
        return out.view(np.uint8)
    if m % 4 or not msgs.flags.c_contiguous:
        padded = np.zeros((n, (m + 3) // 4 * 4), np.uint8)
        padded[:, :m] = msgs
        msgs = padded
    raw = msgs.view(np.uint32) if m else np.zeros((n, 1), np.uint32)
    _run(_sha256_fixed, threads, raw, n, m, double, out)
    return out.view(np.uint8)


def sha256_many(msgs: Sequence[bytes], *, double: bool = False, threads: int | None = None) -> list[bytes]:
    """Digests of messages of any lengths, in order (messages are grouped by length)."""
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, msg in enumerate(msgs):
        by_len[len(msg)].append(i)
    result: list[bytes] = [b""] * len(msgs)
    for m, idx in by_len.items():
        arr = np.frombuffer(b"".join(msgs[i] for i in idx), np.uint8).reshape(len(idx), m)
        digests = sha256_batch(arr, double=double, threads=threads)
        for i, d in zip(idx, digests):
            result[i] = d.tobytes()
    return result


def _run(kernel, threads: int | None, *args) -> None:
    if threads is None:
        kernel(*args)
        return
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(old)


def warm_up() -> None:
    """Compile or load the kernel now so that its compile time is not charged to a measurement."""
    probe = [b"", b"abc", bytes(range(64))]
    if sha256_many(probe, double=True) != [hashlib.sha256(hashlib.sha256(x).digest()).digest() for x in probe]:
        raise AssertionError("batch SHA-256 kernel disagrees with hashlib")
