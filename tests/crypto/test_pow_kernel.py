import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.crypto import pow_kernel as pk
from bftlab.crypto.pow_kernel import NONCE_SPACE, best, bits_to_target, header_hash, search, with_nonce
from bftlab.errors import UsageError

from .vectors import BLOCK_100000_BITS, BLOCK_100000_HASH, GENESIS_HASH, GENESIS_HEADER, block_100000_header


def as_int(digest: bytes) -> int:
    return int.from_bytes(digest, "little")


def brute_first(header: bytes, target: int, start: int, count: int) -> tuple[int | None, int]:
    for i in range(count):
        n = (start + i) % NONCE_SPACE
        if as_int(header_hash(with_nonce(header, n))) <= target:
            return n, i + 1
    return None, count


@pytest.mark.parametrize(
    "header, bits, expected",
    [(GENESIS_HEADER, 0x1D00FFFF, GENESIS_HASH), (block_100000_header(), BLOCK_100000_BITS, BLOCK_100000_HASH)],
)
def test_finds_real_block_nonce(header: bytes, bits: int, expected: str) -> None:
    nonce = struct.unpack("<I", header[76:])[0]
    assert header_hash(header)[::-1].hex() == expected
    r = search(header, bits_to_target(bits), nonce - 5000, 20000)
    assert (r.nonce, r.hashes) == (nonce, 5001)
    assert r.digest is not None and r.digest[::-1].hex() == expected


@settings(max_examples=25, deadline=None)
@given(
    st.binary(min_size=80, max_size=80),
    st.integers(0, NONCE_SPACE - 1),
    st.integers(1, 600),
    st.integers(246, 252),
)
def test_first_hit_matches_hashlib(header: bytes, start: int, count: int, target_bits: int) -> None:
    target = (1 << target_bits) - 1
    r = search(header, target, start, count, threads=1)
    assert (r.nonce, r.hashes) == brute_first(header, target, start, count)
    if r.nonce is not None:
        assert r.digest == header_hash(with_nonce(header, r.nonce))


@settings(max_examples=10, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.integers(1, 40))
def test_nonce_wraps_around(header: bytes, back: int) -> None:
    start = NONCE_SPACE - back
    r = best(header, start, 2 * back)
    nonces = [(start + i) % NONCE_SPACE for i in range(2 * back)]
    want = min(nonces, key=lambda n: (as_int(header_hash(with_nonce(header, n))), nonces.index(n)))
    assert r.nonce == want
    assert r.digest == header_hash(with_nonce(header, want))


def test_result_independent_of_threads() -> None:
    header = hashlib.sha256(b"threads").digest() * 3
    header = header[:80]
    target = (1 << 240) - 1
    count = 5 * pk.CHUNK
    one, two = search(header, target, 0, count, threads=1), search(header, target, 0, count, threads=2)
    assert one == two
    assert best(header, 0, count, threads=1) == best(header, 0, count, threads=2)


def test_no_hit_counts_whole_range_and_rejects_bad_input() -> None:
    assert search(bytes(80), 0, 7, 100) == pk.PowResult(None, 100)
    with pytest.raises(UsageError, match="header"):
        search(bytes(79), 1)
    with pytest.raises(UsageError, match="target"):
        search(bytes(80), 1 << 256)
    with pytest.raises(UsageError, match="count"):
        search(bytes(80), 1, 0, NONCE_SPACE + 1)


def test_bits_to_target() -> None:
    assert bits_to_target(0x1D00FFFF) == 0xFFFF << 208
    assert bits_to_target(0x03123456) == 0x123456
