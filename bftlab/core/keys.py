"""Node identity keys: Ed25519 key rings derived from a run seed (or loaded from key files).

The real transport identifies processes by these keys and the ``ed25519`` crypto
scheme (:mod:`bftlab.crypto.ed25519`) signs with them, so both derive them here:
node ``i``'s secret seed is a BLAKE2b of ``bftlab.core.seeds.derive(seed,
"ed25519/<i>")``, reproducible and only as secret as the run seed. A
deployment generates its rings once and hands each node only its own
(:meth:`KeyRing.to_dict`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import nacl.bindings as sodium

from bftlab.api import NodeId
from bftlab.core.seeds import derive
from bftlab.errors import UsageError

__all__ = ["KeyRing", "PUBLIC_KEY_BYTES", "SEED_BYTES", "experiment_secret", "generate", "public_key"]

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32


def experiment_secret(seed: int, node: NodeId) -> bytes:
    """Node ``node``'s Ed25519 secret seed in a run with master ``seed``."""
    material = derive(seed, f"ed25519/{node}").to_bytes(8, "big")
    return hashlib.blake2b(material, digest_size=SEED_BYTES, person=b"bftlab-ed25519").digest()


def public_key(secret: bytes) -> bytes:
    return sodium.crypto_sign_seed_keypair(secret)[0]


@dataclass(frozen=True)
class KeyRing:
    """One node's key material: its own secret and the public keys of all nodes."""

    node_id: NodeId
    secret: bytes = field(repr=False)
    public_keys: Mapping[NodeId, bytes]

    def __post_init__(self) -> None:
        if len(self.secret) != SEED_BYTES:
            raise UsageError(f"secret must be {SEED_BYTES} bytes, got {len(self.secret)}")
        if self.public_keys.get(self.node_id) != public_key(self.secret):
            raise UsageError(f"public_keys[{self.node_id}] does not match node {self.node_id}'s secret")

    def to_dict(self) -> dict:
        """Plain (hex) form, e.g. for one node's key file."""
        return {
            "node_id": self.node_id,
            "secret": self.secret.hex(),
            "public_keys": {str(i): pk.hex() for i, pk in sorted(self.public_keys.items())},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> KeyRing:
        pks = {int(i): bytes.fromhex(pk) for i, pk in d["public_keys"].items()}
        return cls(int(d["node_id"]), bytes.fromhex(d["secret"]), pks)


def generate(node_ids: Sequence[NodeId], seed: int) -> dict[NodeId, KeyRing]:
    """Key rings for all nodes of a run (or a deployment) with master ``seed``."""
    secrets = {i: experiment_secret(seed, i) for i in node_ids}
    publics = {i: public_key(s) for i, s in secrets.items()}
    return {i: KeyRing(i, secrets[i], publics) for i in node_ids}
