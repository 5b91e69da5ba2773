import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.crypto.sha256_kernel import LANES, sha256_batch, sha256_many
from bftlab.errors import UsageError

EDGE_LENGTHS = [0, 1, 3, 4, 31, 32, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128]


def ref(x: bytes, double: bool) -> bytes:
    d = hashlib.sha256(x).digest()
    return hashlib.sha256(d).digest() if double else d


@pytest.mark.parametrize("m", EDGE_LENGTHS)
@pytest.mark.parametrize("double", [False, True])
def test_padding_edges(m: int, double: bool) -> None:
    rng = np.random.default_rng(m)
    msgs = rng.integers(0, 256, (LANES + 3, m), dtype=np.uint8)
    out = sha256_batch(msgs, double=double)
    assert [row.tobytes() for row in out] == [ref(row.tobytes(), double) for row in msgs]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=40), st.booleans())
def test_many_matches_hashlib(msgs: list[bytes], double: bool) -> None:
    assert sha256_many(msgs, double=double) == [ref(x, double) for x in msgs]


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(EDGE_LENGTHS), st.integers(1, 3 * LANES + 1), st.integers(0, 2**32 - 1))
def test_batch_any_count(m: int, n: int, seed: int) -> None:
    msgs = np.random.default_rng(seed).integers(0, 256, (n, m), dtype=np.uint8)
    assert [r.tobytes() for r in sha256_batch(msgs, threads=1)] == [ref(r.tobytes(), False) for r in msgs]


def test_non_contiguous_input() -> None:
    base = np.arange(40 * 80, dtype=np.uint32).astype(np.uint8).reshape(40, 80)
    view = base[::2, 3:67]
    assert [r.tobytes() for r in sha256_batch(view)] == [ref(r.tobytes(), False) for r in view]


def test_empty_batch_and_bad_shape() -> None:
    assert sha256_batch(np.zeros((0, 64), np.uint8)).shape == (0, 32)
    with pytest.raises(UsageError, match="2-d"):
        sha256_batch(np.zeros(64, np.uint8))
