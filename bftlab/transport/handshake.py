"""Connection set-up: mutual Ed25519 authentication and per-connection session keys.

A SIGMA-style exchange (three messages, each a length-prefixed msgpack list)::

    dialer   -> acceptor  HELLO  [magic, version, cluster, dialer_ids, eph_pk, nonce]
    acceptor -> dialer    REPLY  [magic, version, cluster, acceptor_ids, eph_pk, nonce, sigs]
    dialer   -> acceptor  AUTH   [sigs]

``sigs`` holds one Ed25519 signature per node the process hosts, over the
transcript hash (HELLO bytes, REPLY without its signatures, and a role tag, so
a signature cannot be reflected). The ephemeral X25519 keys give a fresh shared
secret per connection; two session keys (one per direction) are derived from
it and the transcript. Frames sealed under them (:mod:`bftlab.transport.framing`)
can be neither forged nor replayed into another connection.

``cluster`` (a digest of the resolved spec) keeps processes started from
different specs from talking. Every failure raises :class:`HandshakeError` with
a short ``reason`` that the runtime counts; the caller closes the connection.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.signing
import trio

from bftlab.transport.framing import PROTOCOL_VERSION, FrameDecoder, FrameError, Opener, Sealer, length_prefixed

MAGIC = "bftlab"
HANDSHAKE_MAX_BYTES = 64 << 10
NONCE_BYTES = 32


class HandshakeError(Exception):
    """The peer failed the handshake; ``reason`` is a short counter name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Keyring:
    """Ed25519 identity keys: every node's public key, signing keys for the ids this process hosts."""

    def __init__(self, public: dict[int, bytes], signing: dict[int, nacl.signing.SigningKey]) -> None:
        self._verify = {i: nacl.signing.VerifyKey(pk) for i, pk in public.items()}
        self._signing = signing

    @classmethod
    def from_rings(cls, rings: Mapping[int, Any], mine: Iterable[int]) -> Keyring:
        """From :class:`bftlab.core.keys.KeyRing` objects: the nodes' own Ed25519 keys identify their processes."""
        mine = set(mine)
        public = dict(next(iter(rings.values())).public_keys)
        return cls(public, {i: nacl.signing.SigningKey(r.secret) for i, r in rings.items() if i in mine})

    @classmethod
    def derived(cls, keys_seed: int, node_ids: Iterable[int], mine: Iterable[int]) -> Keyring:
        """The experiment keys of the ``ed25519`` crypto scheme for ``keys_seed``.

        Derived from the run seed: reproducible, and only as secret as the seed
        (fine on a lab network, not against an attacker who has the spec).
        """
        from bftlab.core.keys import generate

        return cls.from_rings(generate(list(node_ids), keys_seed), mine)

    def known(self, node_id: int) -> bool:
        return node_id in self._verify

    def sign(self, node_id: int, data: bytes) -> bytes:
        return self._signing[node_id].sign(data).signature

    def verify(self, node_id: int, data: bytes, sig: bytes) -> bool:
        key = self._verify.get(node_id)
        if key is None or type(sig) is not bytes or len(sig) != 64:
            return False
        try:
            key.verify(data, sig)
            return True
        except nacl.exceptions.BadSignatureError:
            return False


@dataclass
class Session:
    """An authenticated connection: who is on the other side and how to seal/open frames."""

    remote_ids: frozenset[int]
    sealer: Sealer
    opener: Opener
    decoder: FrameDecoder  # keeps any partial frame that arrived right after the handshake
    pending: list[bytes]  # complete frame bodies that arrived right after the handshake


# ------------------------------------------------------------------ helpers
async def _read_one(stream: trio.abc.Stream, decoder: FrameDecoder, pending: list[bytes]) -> bytes:
    while not pending:
        data = await stream.receive_some(16 << 10)
        if not data:
            raise HandshakeError("handshake_eof", "peer closed during the handshake")
        try:
            pending.extend(decoder.feed(data))
        except FrameError as exc:
            raise HandshakeError("handshake_oversized", str(exc)) from None
    return pending.pop(0)


def _unpack(body: bytes, length: int, what: str) -> list:
    try:
        items = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=True)
    except Exception:
        raise HandshakeError("handshake_malformed", f"{what} is not msgpack") from None
    if not isinstance(items, list) or len(items) != length:
        raise HandshakeError("handshake_malformed", f"{what} has the wrong shape")
    return items


def _check_header(items: list, cluster: bytes, what: str) -> list[int]:
    magic, version, their_cluster, ids, eph, nonce = items[:6]
    if magic != MAGIC:
        raise HandshakeError("handshake_malformed", f"{what}: bad magic")
    if version != PROTOCOL_VERSION:
        raise HandshakeError("handshake_version", f"{what}: protocol version {version!r}, ours is {PROTOCOL_VERSION}")
    if their_cluster != cluster:
        raise HandshakeError("handshake_cluster", f"{what}: peer runs another cluster spec")
    if not isinstance(ids, list) or not ids or len(ids) > 4096 or any(type(i) is not int for i in ids):
        raise HandshakeError("handshake_malformed", f"{what}: bad node id list")
    if type(eph) is not bytes or len(eph) != 32 or type(nonce) is not bytes or len(nonce) != NONCE_BYTES:
        raise HandshakeError("handshake_malformed", f"{what}: bad key or nonce")
    return ids


def _check_sigs(keyring: Keyring, ids: list[int], sigs: object, data: bytes) -> None:
    if not isinstance(sigs, list) or len(sigs) != len(ids):
        raise HandshakeError("handshake_malformed", "signature list does not match the id list")
    for node_id, sig in zip(ids, sigs):
        if not keyring.verify(node_id, data, sig):
            raise HandshakeError("handshake_auth", f"bad signature for node {node_id}")


def _keys(eph_sk: nacl.public.PrivateKey, peer_pk: bytes, transcript: bytes) -> tuple[bytes, bytes]:
    try:
        shared = nacl.bindings.crypto_scalarmult(bytes(eph_sk), peer_pk)
    except Exception:  # a low-order point gives an all-zero secret, which libsodium refuses
        raise HandshakeError("handshake_auth", "unusable ephemeral key") from None
    d2a = hashlib.blake2b(transcript, key=shared, person=b"bftlab-d2a", digest_size=32).digest()
    a2d = hashlib.blake2b(transcript, key=shared, person=b"bftlab-a2d", digest_size=32).digest()
    return d2a, a2d


def _transcript(hello: bytes, reply_unsigned: bytes) -> bytes:
    return hashlib.blake2b(b"bftlab-handshake" + hello + reply_unsigned, digest_size=32).digest()


# ------------------------------------------------------------------ the two roles
async def dial(
    stream: trio.abc.Stream,
    keyring: Keyring,
    cluster: bytes,
    local_ids: list[int],
    expect: Callable[[list[int]], bool],
    max_frame: int,
) -> Session:
    """Run the dialer's side; ``expect`` says whether the acceptor's ids are the ones we meant to reach."""
    eph = nacl.public.PrivateKey.generate()
    hello = msgpack.packb([MAGIC, PROTOCOL_VERSION, cluster, local_ids, bytes(eph.public_key), os.urandom(NONCE_BYTES)])
    await stream.send_all(length_prefixed(hello))
    decoder, pending = FrameDecoder(HANDSHAKE_MAX_BYTES), list[bytes]()
    reply = _unpack(await _read_one(stream, decoder, pending), 7, "REPLY")
    ids = _check_header(reply, cluster, "REPLY")
    if not expect(ids):
        raise HandshakeError("handshake_identity", f"reached nodes {ids}, not the ones dialed")
    th = _transcript(hello, msgpack.packb(reply[:6]))
    _check_sigs(keyring, ids, reply[6], b"acceptor" + th)
    await stream.send_all(length_prefixed(msgpack.packb([[keyring.sign(i, b"dialer" + th) for i in local_ids]])))
    d2a, a2d = _keys(eph, reply[4], th)
    if pending:  # the acceptor must not send frames before it has seen AUTH
        raise HandshakeError("handshake_malformed", "data before the handshake finished")
    decoder.max_frame = max_frame
    return Session(frozenset(ids), Sealer(d2a), Opener(a2d), decoder, pending)


async def accept(
    stream: trio.abc.Stream,
    keyring: Keyring,
    cluster: bytes,
    local_ids: list[int],
    allowed: Callable[[list[int]], bool],
    max_frame: int,
) -> Session:
    """Run the acceptor's side; ``allowed`` vets the dialer's claimed ids before any signing."""
    decoder, pending = FrameDecoder(HANDSHAKE_MAX_BYTES), list[bytes]()
    hello_body = await _read_one(stream, decoder, pending)
    hello = _unpack(hello_body, 6, "HELLO")
    ids = _check_header(hello, cluster, "HELLO")
    if len(set(ids)) != len(ids) or not all(keyring.known(i) for i in ids) or not allowed(ids):
        raise HandshakeError("handshake_identity", f"dialer claims nodes {ids}")
    eph = nacl.public.PrivateKey.generate()
    unsigned = [MAGIC, PROTOCOL_VERSION, cluster, local_ids, bytes(eph.public_key), os.urandom(NONCE_BYTES)]
    th = _transcript(hello_body, msgpack.packb(unsigned))
    sigs = [keyring.sign(i, b"acceptor" + th) for i in local_ids]
    await stream.send_all(length_prefixed(msgpack.packb([*unsigned, sigs])))
    decoder.max_frame = max_frame  # frames right behind AUTH may be large
    auth = _unpack(await _read_one(stream, decoder, pending), 1, "AUTH")
    _check_sigs(keyring, ids, auth[0], b"dialer" + th)
    d2a, a2d = _keys(eph, hello[4], th)
    return Session(frozenset(ids), Sealer(a2d), Opener(d2a), decoder, pending)
