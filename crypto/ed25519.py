"""Real signatures and MACs: Ed25519 (RFC 8032, via libsodium) and keyed-hash authenticators.

Registered as the ``ed25519`` scheme. Each node's key material is a
:class:`KeyRing`: its own Ed25519 secret seed and everyone's public keys, and
nothing else. MAC keys are agreed pairwise without a dealer: the Ed25519 keys
are mapped to X25519 keys and each pair's shared secret is their Diffie-Hellman
value, which either end computes from its own secret and the other's public key
(see :mod:`bftlab.crypto.mac` for the directional keys derived from it).

For experiments the secrets come from the run seed
(``bftlab.core.seeds.derive(seed, "ed25519/<node>")``): reproducible, and only as
secret as the seed. A deployment generates its key rings once and hands each
node only its own (:meth:`KeyRing.to_dict`).

Every operation charges its *modelled* cost (:class:`~bftlab.core.costs.CpuCosts`)
to the node's meter, as the ideal scheme does, so a simulation costs the same
whichever scheme computes the bytes; real runtimes ignore the meter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import nacl.bindings as sodium
from nacl.exceptions import BadSignatureError, CryptoError

from bftlab.api import CostMeter, NodeId
from bftlab.core.costs import CpuCosts

# Key rings live in the engine (the transport identifies processes by them); re-exported for this scheme's users.
from bftlab.core.keys import PUBLIC_KEY_BYTES, SEED_BYTES, KeyRing, experiment_secret, generate, public_key
from bftlab.crypto import batch, mac
from bftlab.crypto.batch import SIG_BYTES, BatchVerifier
from bftlab.errors import UsageError

__all__ = ["PUBLIC_KEY_BYTES", "SEED_BYTES", "Ed25519Crypto", "KeyRing", "experiment_secret", "generate", "make",
           "public_key", "sign_raw", "verify_raw"]

def sign_raw(secret_key: bytes, data: bytes) -> bytes:
    """Ed25519 signature of ``data`` under a 64-byte libsodium secret key."""
    return sodium.crypto_sign(data, secret_key)[:SIG_BYTES]


def verify_raw(public: bytes, data: bytes, sig: bytes) -> bool:
    """Ed25519 verification (libsodium's, which rejects non-canonical encodings)."""
    if len(sig) != SIG_BYTES or len(public) != PUBLIC_KEY_BYTES:
        return False
    try:
        sodium.crypto_sign_open(sig + data, public)
        return True
    except (BadSignatureError, CryptoError, ValueError):
        return False


class Ed25519Crypto:
    """One node's real crypto (implements :class:`bftlab.api.NodeCrypto`).

    ``batch_min``: :meth:`sign_all` batches when given at least this many
    messages. ``mac_algorithm``: see :mod:`bftlab.crypto.mac`.
    """

    def __init__(self, ring: KeyRing, costs: CpuCosts, *, batch_min: int = 2, mac_algorithm: str = mac.BLAKE2B) -> None:
        if mac_algorithm not in mac.ALGORITHMS:
            raise UsageError(f"mac_algorithm must be one of {mac.ALGORITHMS}, got {mac_algorithm!r}")
        self.node_id = ring.node_id
        self.meter = CostMeter()
        self._publics = dict(ring.public_keys)
        pk, self._sk = sodium.crypto_sign_seed_keypair(ring.secret)
        self._dh_secret = sodium.crypto_sign_ed25519_sk_to_curve25519(self._sk)
        self._costs = costs
        self._sign_s = costs.sign_us * 1e-6
        self._verify_s = costs.verify_us * 1e-6
        self._mac_s = costs.mac_us * 1e-6
        self._batch_min = batch_min
        self._mac_alg = mac_algorithm
        self._send_keys: dict[NodeId, bytes] = {}
        self._recv_keys: dict[NodeId, bytes] = {}
        self._verifier = BatchVerifier(self._verify_signer)

    # ------------------------------------------------------------- signatures
    def digest(self, data: bytes) -> bytes:
        self.meter.charge("hash", self._costs.hash_s(len(data)))
        return hashlib.sha256(data).digest()

    def sign(self, data: bytes) -> bytes:
        self.meter.charge("sign", self._sign_s)
        return sign_raw(self._sk, batch.PLAIN_CONTEXT + data)

    def sign_all(self, datas: Sequence[bytes]) -> list[bytes]:
        """Sign several messages; batched under one root signature when there are ``batch_min`` or more."""
        if len(datas) < max(2, self._batch_min):
            return [self.sign(d) for d in datas]
        self.meter.charge("sign", self._sign_s)
        hash_s = self._costs.hash_s(64)
        for _ in range(2 * len(datas) - 1):
            self.meter.charge("hash", hash_s)
        return batch.sign_batch(lambda m: sign_raw(self._sk, m), datas)

    def verify(self, signer: NodeId, data: bytes, sig: bytes) -> bool:
        v = self._verifier
        checks, hashes = v.sig_checks, v.hashes
        ok = v.verify(signer, data, sig)
        for _ in range(v.sig_checks - checks):
            self.meter.charge("verify", self._verify_s)
        if v.hashes > hashes:
            self.meter.charge("hash", (v.hashes - hashes) * self._costs.hash_s(64))
        return ok

    def _verify_signer(self, signer: NodeId, data: bytes, sig: bytes) -> bool:
        public = self._publics.get(signer)
        return public is not None and verify_raw(public, data, sig)

    # ------------------------------------------------------------------- MACs
    def _pair_secret(self, peer: NodeId) -> bytes:
        peer_dh = sodium.crypto_sign_ed25519_pk_to_curve25519(self._publics[peer])
        shared = sodium.crypto_scalarmult(self._dh_secret, peer_dh)
        lo, hi = sorted((self.node_id, peer))
        salt = lo.to_bytes(8, "big") + hi.to_bytes(8, "big")
        return hashlib.blake2b(shared, digest_size=32, person=b"bftlab-pair", salt=salt).digest()

    def _key_to(self, receiver: NodeId) -> bytes:
        key = self._send_keys.get(receiver)
        if key is None:
            key = self._send_keys[receiver] = mac.direction_key(self._pair_secret(receiver), self.node_id, receiver)
        return key

    def _key_from(self, sender: NodeId) -> bytes:
        key = self._recv_keys.get(sender)
        if key is None:
            key = self._recv_keys[sender] = mac.direction_key(self._pair_secret(sender), sender, self.node_id)
        return key

    def authenticate(self, data: bytes, receivers: Sequence[NodeId]) -> tuple[bytes, ...]:
        self.meter.charge("mac", self._mac_s * len(receivers))
        d = hashlib.sha256(data).digest()
        return tuple(mac.mac(self._key_to(r), d, self._mac_alg) for r in receivers)

    def check_mac(self, sender: NodeId, data: bytes, auth: Sequence[bytes], receivers: Sequence[NodeId]) -> bool:
        self.meter.charge("mac", self._mac_s)
        try:
            i = list(receivers).index(self.node_id)
            tag = auth[i]
            key = self._key_from(sender)
        except (ValueError, IndexError, KeyError, CryptoError):
            return False
        return mac.check(key, hashlib.sha256(data).digest(), tag, self._mac_alg)


def make(node_ids: Sequence[NodeId], seed: int, costs: CpuCosts) -> dict[NodeId, Ed25519Crypto]:
    """Factory registered as the ``ed25519`` scheme."""
    rings = generate(node_ids, seed)
    return {i: Ed25519Crypto(rings[i], costs) for i in node_ids}
