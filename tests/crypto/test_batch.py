import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.core.costs import CpuCosts
from bftlab.crypto import batch, ideal
from bftlab.crypto.batch import HEADER_BYTES, BatchVerifier, sign_all, sign_batch, verify_parallel
from bftlab.crypto.ed25519 import generate, make, public_key, sign_raw, verify_raw

SEED = bytes(range(32))


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    import nacl.bindings

    return nacl.bindings.crypto_sign_seed_keypair(SEED)


def verifier(pk: bytes) -> BatchVerifier:
    return BatchVerifier(lambda signer, data, sig: signer == "s" and verify_raw(pk, data, sig))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=50), min_size=1, max_size=70, unique=True), st.randoms(use_true_random=False))
def test_every_message_verifies_in_any_order(keys, datas: list[bytes], rnd) -> None:
    pk, sk = keys
    sigs = sign_batch(lambda m: sign_raw(sk, m), datas)
    v = verifier(pk)
    order = list(range(len(datas)))
    rnd.shuffle(order)
    assert all(v.verify("s", datas[i], sigs[i]) for i in order)
    assert v.sig_checks == 1
    assert v.hashes <= 3 * len(datas) + 8


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=30), min_size=2, max_size=40, unique=True), st.data())
def test_tampered_batched_signatures_are_rejected(keys, datas: list[bytes], data: st.DataObject) -> None:
    pk, sk = keys
    sigs = sign_batch(lambda m: sign_raw(sk, m), datas)
    i = data.draw(st.integers(0, len(datas) - 1))
    sig = sigs[i]
    pos = data.draw(st.integers(0, len(sig) - 1))
    flipped = sig[:pos] + bytes([sig[pos] ^ 1 << data.draw(st.integers(0, 7))]) + sig[pos + 1 :]
    v = verifier(pk)
    assert not v.verify("s", datas[i], flipped) or _same_leaf_elsewhere(flipped, sig)
    assert not v.verify("s", datas[i] + b"?", sig)
    assert not v.verify("t", datas[i], sig)
    assert not v.verify("s", datas[i], sig + bytes(32))
    assert not v.verify("s", datas[i], sig[:-32]) or len(datas) == 1


def _same_leaf_elsewhere(flipped: bytes, sig: bytes) -> bool:
    """A flipped index/count bit can still name a valid position only if the tree shape allows it."""
    index, count = struct.unpack_from(">II", flipped, 65)
    return flipped[:65] == sig[:65] and flipped[HEADER_BYTES:] == sig[HEADER_BYTES:] and index < count


def test_cache_is_per_signer(keys) -> None:
    pk, sk = keys
    datas = [b"a", b"b", b"c"]
    sigs = sign_batch(lambda m: sign_raw(sk, m), datas)
    other_pk = public_key(bytes(32))
    v = BatchVerifier(lambda signer, data, sig: verify_raw(pk if signer == "s" else other_pk, data, sig))
    assert v.verify("s", b"a", sigs[0])
    assert not v.verify("t", b"b", sigs[1])


def test_root_signature_is_not_a_plain_signature(keys) -> None:
    c = make([0, 1], seed=2, costs=CpuCosts())
    sigs = c[0].sign_all([b"a", b"b"])
    root_sig = sigs[0][1:65]
    assert not c[1].verify(0, b"a", root_sig)
    assert len(c[0].sign_all([b"only"])[0]) == 64


def test_sign_all_falls_back_to_plain_signatures() -> None:
    c = ideal.make([0, 1], 3, CpuCosts())
    sigs = sign_all(c[0], [b"x", b"y"])
    assert [len(s) for s in sigs] == [ideal.SIG_BYTES] * 2 and c[1].verify(0, b"y", sigs[1])


def test_verify_parallel_matches_serial() -> None:
    rings = generate([0, 1, 2], seed=9)
    items = []
    for i in range(150):
        ring = rings[i % 3]
        import nacl.bindings

        sk = nacl.bindings.crypto_sign_seed_keypair(ring.secret)[1]
        msg = i.to_bytes(4, "big")
        sig = sign_raw(sk, msg)
        items.append((ring.public_keys[i % 3], msg if i % 7 else msg + b"x", sig))
    expected = [verify_raw(*it) for it in items]
    assert verify_parallel(verify_raw, items, threads=2, chunk=16) == expected
    assert verify_parallel(verify_raw, items, threads=1) == expected
    assert expected.count(False) == len(range(0, 150, 7))


def test_malformed_blobs(keys) -> None:
    v = verifier(keys[0])
    tag = bytes([batch.TAG])
    for blob in (b"", b"\xb7" * 10, tag + bytes(72), tag + bytes(64) + struct.pack(">II", 3, 2)):
        assert not v.verify("s", b"m", blob)


def test_a_proven_leaf_does_not_make_an_extended_signature_valid(keys) -> None:
    """Regression (found by hypothesis): bytes appended to a batched signature were
    accepted once its leaf had been proven by an earlier verification."""
    pk, sk = keys
    datas = [b"", b"\x00", b"\x01", b"\x00\x00", b"\x00\x00\x00", b"\x00\x00\x00\x00"]
    sigs = sign_batch(lambda m: sign_raw(sk, m), datas)
    v = verifier(pk)
    assert v.verify("s", datas[0], sigs[0])
    assert not v.verify("s", datas[0], sigs[0] + bytes(32))
    assert not v.verify("s", datas[1], sigs[1][:-32])
