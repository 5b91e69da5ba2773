"""Frames and the handshake, sans network: in-memory streams only."""

from __future__ import annotations

import hashlib

import msgpack
import pytest
import trio
import trio.testing

from bftlab.transport import handshake
from bftlab.transport.framing import (
    ITEM_OVERHEAD,
    MAC_BYTES,
    OVERHEAD,
    PROTOCOL_VERSION,
    FrameDecoder,
    FrameError,
    Opener,
    Sealer,
    length_prefixed,
)
from bftlab.transport.handshake import HandshakeError, Keyring

CLUSTER = b"c" * 16


def test_decoder_reassembles_frames_split_anywhere():
    frames = [b"a", b"", b"x" * 1000, b"yz"]
    stream = b"".join(length_prefixed(f) for f in frames)
    for cut in range(1, 12):
        dec, got = FrameDecoder(2000), []
        for i in range(0, len(stream), cut):
            got += dec.feed(stream[i : i + cut])
        assert got == frames and dec.buffered == 0


def test_decoder_refuses_an_oversized_frame_before_buffering_it():
    dec = FrameDecoder(100)
    with pytest.raises(FrameError):
        dec.feed((101).to_bytes(4, "big") + b"x")
    assert FrameDecoder(100).feed(length_prefixed(b"x" * 100)) == [b"x" * 100]


def test_sealed_frames_open_once_in_order_and_resist_tampering():
    key = b"k" * 32
    sealer, opener = Sealer(key), Opener(key)
    f1, f2 = sealer.seal(4, 0, b"hello"), sealer.seal(4, 0, b"world")
    b1, b2 = FrameDecoder().feed(f1 + f2)
    assert opener.open(b1) == [(4, 0, b"hello")]
    assert opener.open(b1) == "replayed"
    assert opener.open(b2) == [(4, 0, b"world")]
    tampered = bytearray(sealer.seal(4, 0, b"money"))[4:]
    tampered[-20] ^= 1
    assert opener.open(bytes(tampered)) == "bad_mac"
    assert opener.open(b"short") == "short_frame"
    other = Sealer(b"o" * 32).seal(4, 0, b"forged")[4:]
    assert opener.open(other) == "bad_mac"


def test_one_frame_carries_many_messages_under_one_mac():
    key = b"k" * 32
    sealer, opener = Sealer(key), Opener(key)
    items = [(4, 0, b"a"), (5, 1, b""), (4, 2, b"x" * 3000)]
    frame = sealer.seal_many(items)
    assert len(frame) == OVERHEAD + sum(ITEM_OVERHEAD + len(p) for _, _, p in items)
    (body,) = FrameDecoder().feed(frame)
    assert opener.open(body) == items
    assert sealer.counter == opener.counter == 1


def test_an_authenticated_frame_with_a_broken_item_layout_is_refused():
    key = b"k" * 32
    body = bytearray(Sealer(key).seal(4, 0, b"hello")[4:])
    body[8 + 11] += 1  # the item claims one byte more than the frame holds; re-MAC so only the layout is wrong
    body[-MAC_BYTES:] = hashlib.blake2b(bytes(body[:-MAC_BYTES]), key=key, digest_size=MAC_BYTES).digest()
    assert Opener(key).open(bytes(body)) == "malformed_frame"


# ------------------------------------------------------------------ handshake
def keyrings(ids=range(6)):
    return {i: Keyring.derived(7, ids, [i]) for i in ids}


async def _pair(dial_ring, dial_ids, acc_ring, acc_ids, cluster_d=CLUSTER, cluster_a=CLUSTER):
    a, b = trio.testing.memory_stream_pair()
    out = {}

    async def dialer():
        out["d"] = await handshake.dial(a, dial_ring, cluster_d, dial_ids, lambda ids: ids == acc_ids, 1 << 20)

    async def acceptor():
        out["a"] = await handshake.accept(b, acc_ring, cluster_a, acc_ids, lambda ids: True, 1 << 20)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(dialer)
            nursery.start_soon(acceptor)
    return out["d"], out["a"]


def test_handshake_authenticates_both_sides_and_agrees_on_keys():
    rings = keyrings()

    async def main():
        d, a = await _pair(rings[4], [4], rings[0], [0])
        assert d.remote_ids == {0} and a.remote_ids == {4}
        frame = FrameDecoder().feed(d.sealer.seal(4, 0, b"m"))[0]
        assert a.opener.open(frame) == [(4, 0, b"m")]
        back = FrameDecoder().feed(a.sealer.seal(0, 4, b"r"))[0]
        assert d.opener.open(back) == [(0, 4, b"r")]
        assert a.opener.open(back) == "bad_mac"  # directional keys: no reflection

    trio.run(main)


@pytest.mark.parametrize("case", ["impersonation", "other_cluster"])
def test_handshake_failures_are_reported_not_crashed(case):
    rings = keyrings()

    async def main():
        if case == "impersonation":  # node 5 claims to be node 4: it has no key for 4
            liar = Keyring.derived(7, range(6), [5])
            liar._signing[4] = liar._signing[5]
            await _pair(liar, [4], rings[0], [0])
        else:
            await _pair(rings[4], [4], rings[0], [0], cluster_d=b"x" * 16)

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    reasons = {e.reason for e in info.value.exceptions if isinstance(e, HandshakeError)}
    assert reasons & {"handshake_auth", "handshake_cluster"}


def test_handshake_refuses_another_protocol_version():
    rings = keyrings()

    async def main():
        a, b = trio.testing.memory_stream_pair()
        hello = msgpack.packb([handshake.MAGIC, PROTOCOL_VERSION + 1, CLUSTER, [4], b"e" * 32, b"n" * 32])
        await a.send_all(length_prefixed(hello))
        with pytest.raises(HandshakeError) as info:
            await handshake.accept(b, rings[0], CLUSTER, [0], lambda ids: True, 1 << 20)
        assert info.value.reason == "handshake_version"

    trio.run(main)
