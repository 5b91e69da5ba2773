"""SHA-256 compression as straight-line numba code (FIPS 180-4, section 6.2).

The 64 rounds and the message schedule are written out without loops, over
scalar ``uint32`` values held in tuples. A kernel that calls :func:`compress`
inside an innermost loop over independent lanes therefore gives LLVM a
loop body with no inner control flow, which its loop vectoriser turns into
SIMD code that runs one lane per vector element (16 lanes with AVX-512).

Numba promotes ``uint32`` arithmetic to 64 bits; every result is truncated
back with ``np.uint32`` so that LLVM narrows the operations to 32-bit ones.

The tiny helpers (rotation, one round, one schedule word) are left to LLVM's
inliner while the unrolled bodies are inlined by numba: measured, this both
compiles several times faster and runs faster than inlining everything in
numba IR, and inlining nothing in numba IR leaves the lane loop unvectorised.
"""

from __future__ import annotations

import numpy as np
from numba import njit

K = tuple(
    np.uint32(k)
    for k in (
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    )
)  # fmt: skip

IV = tuple(
    np.uint32(v)
    for v in (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
)


@njit
def rotr(x, n):
    return np.uint32((x >> n) | (x << (32 - n)))


@njit
def _round(a, b, c, d, e, f, g, h, kw):
    """One round; returns the new ``d`` and ``h`` (the other six only rename)."""
    s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
    ch = (e & f) ^ (~e & g)
    t1 = np.uint32(h + s1 + np.uint32(ch) + kw)
    s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
    maj = (a & b) ^ (a & c) ^ (b & c)
    return np.uint32(d + t1), np.uint32(t1 + s0 + maj)


@njit(inline="always")
def _rounds8(s, w, k):
    """Eight rounds over state tuple ``s`` with words ``w`` and constants ``k`` (8 each)."""
    a, b, c, d, e, f, g, h = s
    d, h = _round(a, b, c, d, e, f, g, h, np.uint32(k[0] + w[0]))
    c, g = _round(h, a, b, c, d, e, f, g, np.uint32(k[1] + w[1]))
    b, f = _round(g, h, a, b, c, d, e, f, np.uint32(k[2] + w[2]))
    a, e = _round(f, g, h, a, b, c, d, e, np.uint32(k[3] + w[3]))
    h, d = _round(e, f, g, h, a, b, c, d, np.uint32(k[4] + w[4]))
    g, c = _round(d, e, f, g, h, a, b, c, np.uint32(k[5] + w[5]))
    f, b = _round(c, d, e, f, g, h, a, b, np.uint32(k[6] + w[6]))
    e, a = _round(b, c, d, e, f, g, h, a, np.uint32(k[7] + w[7]))
    return (a, b, c, d, e, f, g, h)


@njit
def _sched(w2, w7, w15, w16):
    s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ np.uint32(w15 >> 3)
    s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ np.uint32(w2 >> 10)
    return np.uint32(s1 + w7 + s0 + w16)


@njit(inline="always")
def _next16(w):
    """The next 16 schedule words after the window ``w`` (W[t-16] .. W[t-1])."""
    x0 = _sched(w[14], w[9], w[1], w[0])
    x1 = _sched(w[15], w[10], w[2], w[1])
    x2 = _sched(x0, w[11], w[3], w[2])
    x3 = _sched(x1, w[12], w[4], w[3])
    x4 = _sched(x2, w[13], w[5], w[4])
    x5 = _sched(x3, w[14], w[6], w[5])
    x6 = _sched(x4, w[15], w[7], w[6])
    x7 = _sched(x5, x0, w[8], w[7])
    x8 = _sched(x6, x1, w[9], w[8])
    x9 = _sched(x7, x2, w[10], w[9])
    x10 = _sched(x8, x3, w[11], w[10])
    x11 = _sched(x9, x4, w[12], w[11])
    x12 = _sched(x10, x5, w[13], w[12])
    x13 = _sched(x11, x6, w[14], w[13])
    x14 = _sched(x12, x7, w[15], w[14])
    x15 = _sched(x13, x8, x0, w[15])
    return (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15)


@njit(inline="always")
def compress(s, w):
    """SHA-256 compression: state tuple ``s`` (8 words) and block ``w`` (16 words) -> new state."""
    t = _rounds8(s, w[:8], K[0:8])
    t = _rounds8(t, w[8:], K[8:16])
    w = _next16(w)
    t = _rounds8(t, w[:8], K[16:24])
    t = _rounds8(t, w[8:], K[24:32])
    w = _next16(w)
    t = _rounds8(t, w[:8], K[32:40])
    t = _rounds8(t, w[8:], K[40:48])
    w = _next16(w)
    t = _rounds8(t, w[:8], K[48:56])
    t = _rounds8(t, w[8:], K[56:64])
    return (
        np.uint32(s[0] + t[0]),
        np.uint32(s[1] + t[1]),
        np.uint32(s[2] + t[2]),
        np.uint32(s[3] + t[3]),
        np.uint32(s[4] + t[4]),
        np.uint32(s[5] + t[5]),
        np.uint32(s[6] + t[6]),
        np.uint32(s[7] + t[7]),
    )


@njit
def bswap32(x):
    return np.uint32(((x & 0xFF) << 24) | ((x & 0xFF00) << 8) | ((x >> 8) & 0xFF00) | (x >> 24))
