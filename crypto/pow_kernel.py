"""Proof-of-work search: double SHA-256 of 80-byte block headers over a nonce range.

The header is Bitcoin's: 76 fixed bytes, then the nonce as little-endian
``uint32``. A hash meets ``target`` when the double-SHA-256 digest, read as a
little-endian 256-bit integer, is ``<= target`` (Bitcoin's rule).

Speed comes from three things. The first 64 header bytes do not depend on the
nonce, so their compression (the *midstate*) is computed once per header; each
nonce then costs two compressions. ``LANES`` nonces are hashed side by side in
an innermost loop over straight-line code, which LLVM vectorises (and hoists
the first rounds, which do not depend on the nonce, out of it). Chunks of the
range run on all cores with ``prange``; a search stops after the first round of
chunks that contains a hit, and the winner is the earliest hit in range order,
so the result does not depend on the number of threads.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from bftlab.crypto._sha256_core import IV, bswap32, compress
from bftlab.errors import UsageError

LANES = 16
CHUNK = 1 << 16
"""Nonces per parallel task; a search overshoots its first hit by at most one round of chunks."""

NONCE_SPACE = 1 << 32


@dataclass(frozen=True, slots=True)
class PowResult:
    """Outcome of a search: the winning nonce (``None`` if none) and the hashes tried.

    ``hashes`` counts nonces in range order up to and including the winner (or
    the whole range), as a sequential miner would; parallel search may compute
    up to one round of chunks more.
    """

    nonce: int | None
    hashes: int
    digest: bytes | None = None


@njit(cache=True)
def _midstate(words):
    return compress(IV, (words[0], words[1], words[2], words[3], words[4], words[5],
                         words[6], words[7], words[8], words[9], words[10], words[11],
                         words[12], words[13], words[14], words[15]))  # fmt: skip


@njit
def _less_equal(h, target):
    """``h`` (digest words) as a little-endian integer ``<= target`` (8 words, most significant first)."""
    for i in range(8):
        x = bswap32(h[7 - i])
        if x != target[i]:
            return x < target[i]
    return True


@njit
def _scan(mid, tail, target, start, count, best_mode, best):
    """Scan ``count`` nonces from ``start`` (mod 2**32).

    First mode: returns the offset of the first hit or -1. Best mode: returns the
    offset of the smallest hash (earliest on ties) and leaves its words in ``best``.
    """
    m0, m1, m2, m3, m4, m5, m6, m7 = mid[0], mid[1], mid[2], mid[3], mid[4], mid[5], mid[6], mid[7]
    t0, t1, t2 = tail[0], tail[1], tail[2]
    out = np.empty((8, LANES), np.uint32)
    lane_hash = np.empty(8, np.uint32)
    top = target[0]
    found = -1
    for base in range(0, count, LANES):
        for lane in range(LANES):
            nonce = np.uint32((start + base + lane) & 0xFFFFFFFF)
            s = compress(
                (m0, m1, m2, m3, m4, m5, m6, m7),
                (t0, t1, t2, bswap32(nonce), np.uint32(0x80000000), np.uint32(0), np.uint32(0), np.uint32(0),
                 np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0),
                 np.uint32(640)),
            )  # fmt: skip
            d = compress(
                IV,
                (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], np.uint32(0x80000000), np.uint32(0),
                 np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(256)),
            )  # fmt: skip
            for j in range(8):
                out[j, lane] = d[j]
        for lane in range(min(LANES, count - base)):
            if bswap32(out[7, lane]) > top:
                continue
            for j in range(8):
                lane_hash[j] = out[j, lane]
            if best_mode:
                if found < 0 or not _less_equal(best, _be_words(lane_hash)):
                    found = base + lane
                    best[:] = lane_hash
            elif _less_equal(lane_hash, target):
                best[:] = lane_hash
                return base + lane
        if best_mode and found >= 0:
            top = bswap32(best[7])
    return found


@njit
def _be_words(h):
    """Digest words -> the 8 target-order words (most significant first) of the same number."""
    r = np.empty(8, np.uint32)
    for i in range(8):
        r[i] = bswap32(h[7 - i])
    return r


@njit(cache=True, parallel=True)
def _search(mid, tail, target, start, count, best_mode, n_chunks_per_round):
    """Returns (offset or -1, digest words) over ``count`` nonces from ``start``."""
    n_chunks = (count + CHUNK - 1) // CHUNK
    result = np.empty(8, np.uint32)
    offsets = np.full(n_chunks_per_round, -1, np.int64)
    hashes = np.zeros((n_chunks_per_round, 8), np.uint32)
    winner = -1
    for first in range(0, n_chunks, n_chunks_per_round):
        k = min(n_chunks_per_round, n_chunks - first)
        for i in prange(k):
            c0 = (first + i) * CHUNK
            off = _scan(mid, tail, target, start + c0, min(CHUNK, count - c0), best_mode, hashes[i])
            offsets[i] = c0 + off if off >= 0 else -1
        for i in range(k):
            if offsets[i] < 0:
                continue
            if best_mode:
                if winner < 0 or not _less_equal(result, _be_words(hashes[i])):
                    winner = offsets[i]
                    result[:] = hashes[i]
            else:
                result[:] = hashes[i]
                return offsets[i], result
    return winner, result


def _prepare(header: bytes) -> tuple[np.ndarray, np.ndarray]:
    if len(header) not in (76, 80):
        raise UsageError(f"header must be 76 or 80 bytes (nonce last), got {len(header)}")
    words = np.frombuffer(header[:76], ">u4").astype(np.uint32)
    mid = np.array(_midstate(words[:16]), np.uint32)
    return mid, words[16:19].copy()


def _target_words(target: int) -> np.ndarray:
    if not 0 <= target < 1 << 256:
        raise UsageError(f"target must be in [0, 2**256), got {target}")
    return np.frombuffer(target.to_bytes(32, "big"), ">u4").astype(np.uint32)


def _run(header: bytes, target: int, start: int, count: int, best: bool, threads: int | None) -> PowResult:
    if not 0 <= count <= NONCE_SPACE:
        raise UsageError(f"count must be in [0, 2**32], got {count}")
    mid, tail = _prepare(header)
    old = numba.get_num_threads()
    n = old if threads is None else max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    try:
        off, words = _search(mid, tail, _target_words(target), start % NONCE_SPACE, count, best, 2 * n)
    finally:
        numba.set_num_threads(old)
    if off < 0:
        return PowResult(None, count)
    digest = words.astype(">u4").tobytes()
    return PowResult((start + int(off)) % NONCE_SPACE, int(off) + 1 if not best else count, digest)


def search(header: bytes, target: int, start: int = 0, count: int = NONCE_SPACE, *,
           threads: int | None = None) -> PowResult:
    """First nonce in ``start, start+1, ...`` (``count`` of them, mod 2**32) whose hash is ``<= target``.

    ``header`` is the 80-byte header (its nonce field is ignored) or its first
    76 bytes. ``threads`` caps the cores used (default: all of numba's threads).
    """
    return _run(header, target, start, count, False, threads)


def best(header: bytes, start: int = 0, count: int = 1 << 20, *, threads: int | None = None) -> PowResult:
    """The nonce with the smallest hash among ``count`` nonces from ``start`` (earliest on ties)."""
    return _run(header, (1 << 256) - 1, start, count, True, threads)


def header_hash(header: bytes) -> bytes:
    """Double SHA-256 of an 80-byte header (reference implementation, via hashlib)."""
    return hashlib.sha256(hashlib.sha256(header).digest()).digest()


def with_nonce(header: bytes, nonce: int) -> bytes:
    """``header`` with its nonce field set to ``nonce``."""
    return header[:76] + struct.pack("<I", nonce)


def bits_to_target(bits: int) -> int:
    """Bitcoin's compact ``nBits`` encoding -> the 256-bit target."""
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    return mantissa << (8 * (exponent - 3)) if exponent > 3 else mantissa >> (8 * (3 - exponent))


def warm_up() -> None:
    """Compile or load the kernels now so that compile time is not charged to a measurement."""
    header = bytes(80)
    r = search(header, (1 << 256) - 1, 0, 3)
    if r.nonce != 0 or r.digest != header_hash(header):
        raise AssertionError("PoW kernel disagrees with hashlib")
