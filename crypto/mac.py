"""MAC authenticators for PBFT's normal case (Castro and Liskov, OSDI '99, section 3.2).

A sender hashes a message once and MACs the digest once per receiver, each
under the key it shares with that receiver; a receiver checks only its own
entry. Keys are directional (sender -> receiver), derived from a shared pair
secret, so a tag can not be reflected back to its sender as if it were the
receiver's. Two MAC functions are offered: keyed BLAKE2b (the default, the
faster) and HMAC-SHA256.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from bftlab.errors import UsageError

BLAKE2B = "blake2b"
HMAC_SHA256 = "hmac-sha256"
ALGORITHMS = (BLAKE2B, HMAC_SHA256)

MAC_BYTES = 32
KEY_BYTES = 32


def direction_key(pair_secret: bytes, sender: int, receiver: int) -> bytes:
    """The key ``sender`` uses to MAC for ``receiver``, from their shared pair secret."""
    label = sender.to_bytes(8, "big") + receiver.to_bytes(8, "big")
    return hashlib.blake2b(label, key=pair_secret, digest_size=KEY_BYTES, person=b"bftlab-mac-key").digest()


def mac(key: bytes, digest: bytes, algorithm: str = BLAKE2B) -> bytes:
    """One MAC tag over a message digest."""
    if algorithm == BLAKE2B:
        return hashlib.blake2b(digest, key=key, digest_size=MAC_BYTES).digest()
    if algorithm == HMAC_SHA256:
        return hmac.digest(key, digest, "sha256")
    raise UsageError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")


def authenticator(digest: bytes, keys: Sequence[bytes], algorithm: str = BLAKE2B) -> tuple[bytes, ...]:
    """One tag per receiver key, in the receivers' order."""
    return tuple(mac(k, digest, algorithm) for k in keys)


def check(key: bytes, digest: bytes, tag: bytes, algorithm: str = BLAKE2B) -> bool:
    """Constant-time check of one tag."""
    return hmac.compare_digest(mac(key, digest, algorithm), tag)
