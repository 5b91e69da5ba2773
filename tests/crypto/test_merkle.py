import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.crypto import merkle
from bftlab.crypto.merkle import BITCOIN, SEPARATED, Proof, build, verify
from bftlab.errors import UsageError

from .vectors import BLOCK_100000_ROOT, BLOCK_100000_TXIDS, GENESIS_ROOT, GENESIS_TXIDS, txids


@pytest.mark.parametrize("hexes, root", [(GENESIS_TXIDS, GENESIS_ROOT), (BLOCK_100000_TXIDS, BLOCK_100000_ROOT)])
def test_bitcoin_block_roots(hexes: list[str], root: str) -> None:
    leaves = txids(hexes)
    tree = build(leaves, BITCOIN)
    assert tree.root[::-1].hex() == root
    for i, leaf in enumerate(leaves):
        assert verify(leaf, tree.proof(i), tree.root, BITCOIN)


def test_bitcoin_duplication_is_malleable_but_separated_is_not() -> None:
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    assert build([a, b, c], BITCOIN).root == build([a, b, c, c], BITCOIN).root
    assert build([a, b, c]).root != build([a, b, c, c]).root


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70), st.data())
def test_proofs_verify_and_tampering_fails(items: list[bytes], data: st.DataObject) -> None:
    tree = build(items)
    i = data.draw(st.integers(0, len(items) - 1))
    p = tree.proof(i)
    assert verify(items[i], p, tree.root)
    assert not verify(items[i] + b"x", p, tree.root)
    assert not verify(items[i], p, hashlib.sha256(tree.root).digest())
    if p.siblings:
        k = data.draw(st.integers(0, len(p.siblings) - 1))
        bad = bytes([p.siblings[k][0] ^ 1]) + p.siblings[k][1:]
        assert not verify(items[i], Proof(i, p.count, p.siblings[:k] + (bad,) + p.siblings[k + 1 :]), tree.root)
    if len(set(items)) == len(items) and len(items) > 1:
        j = (i + 1) % len(items)
        assert not verify(items[i], Proof(j, p.count, p.siblings), tree.root)
    if merkle.path_shape(i, p.count + 1) != merkle.path_shape(i, p.count):
        assert not verify(items[i], Proof(i, p.count + 1, p.siblings), tree.root)


@pytest.mark.parametrize("scheme", [SEPARATED, BITCOIN])
@pytest.mark.parametrize("n", [merkle.KERNEL_MIN * 2 - 1, merkle.KERNEL_MIN * 2 + 2])
def test_kernel_levels_match_hashlib_levels(scheme: str, n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    fast = build(items, scheme)
    monkeypatch.setattr(merkle, "KERNEL_MIN", 1 << 62)
    slow = build(items, scheme)
    assert [lv.tobytes() for lv in fast.levels] == [lv.tobytes() for lv in slow.levels]
    for i in (0, n // 2, n - 1):
        assert verify(items[i], fast.proof(i), fast.root, scheme)


def test_bad_input() -> None:
    with pytest.raises(UsageError, match="at least one"):
        build([])
    with pytest.raises(UsageError, match="scheme"):
        build([b"x"], "sha1")
    with pytest.raises(UsageError, match="32-byte"):
        build([b"x"], BITCOIN)
    with pytest.raises(IndexError):
        build([b"x"]).proof(1)
