"""Ideal signatures and MACs for simulation.

Unforgeable by construction: a signature is a keyed BLAKE2b tag under a secret
that only the signer's :class:`IdealCrypto` object holds, and verification is
answered by the key oracle shared by all nodes of one run. A node (honest or
Byzantine) can therefore sign only with its own key. Computing a tag costs real
time of well under a microsecond; the *modelled* Ed25519/HMAC cost is charged
to the node's :class:`~bftlab.api.CostMeter` instead. Tags have the real sizes
(64-byte signatures, 32-byte MACs) so message sizes stay realistic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bftlab.api import CostMeter, NodeId
from bftlab.core.costs import CpuCosts
from bftlab.core.seeds import derive

SIG_BYTES = 64
MAC_BYTES = 32


class _Oracle:
    """Holds every node's secret; only reachable through each node's crypto object."""

    __slots__ = ("_secrets", "_pair")

    def __init__(self, node_ids: Sequence[NodeId], seed: int) -> None:
        self._secrets = {i: derive(seed, f"ideal-key/{i}").to_bytes(8, "big") * 4 for i in node_ids}
        self._pair: dict[tuple[NodeId, NodeId], bytes] = {}

    def tag(self, signer: NodeId, data: bytes) -> bytes:
        return hashlib.blake2b(data, key=self._secrets[signer], digest_size=SIG_BYTES).digest()

    def session_key(self, a: NodeId, b: NodeId) -> bytes:
        k = (a, b) if a < b else (b, a)
        key = self._pair.get(k)
        if key is None:
            key = hashlib.blake2b(b"session", key=self._secrets[k[0]] + self._secrets[k[1]][:32]).digest()[:32]
            self._pair[k] = key
        return key


class IdealCrypto:
    """One node's view of the ideal scheme (implements :class:`bftlab.api.NodeCrypto`)."""

    __slots__ = ("node_id", "meter", "_oracle", "_costs", "_sign_s", "_verify_s", "_mac_s", "_keys")

    def __init__(self, node_id: NodeId, oracle: _Oracle, costs: CpuCosts) -> None:
        self.node_id = node_id
        self.meter = CostMeter()
        self._oracle = oracle
        self._costs = costs
        self._sign_s = costs.sign_us * 1e-6
        self._verify_s = costs.verify_us * 1e-6
        self._mac_s = costs.mac_us * 1e-6
        self._keys: dict[NodeId, bytes] = {}  # peer -> session key, filled on first use

    def digest(self, data: bytes) -> bytes:
        self.meter.charge("hash", self._costs.hash_s(len(data)))
        return hashlib.sha256(data).digest()

    def sign(self, data: bytes) -> bytes:
        self.meter.charge("sign", self._sign_s)
        return self._oracle.tag(self.node_id, data)

    def verify(self, signer: NodeId, data: bytes, sig: bytes) -> bool:
        self.meter.charge("verify", self._verify_s)
        try:
            return self._oracle.tag(signer, data) == sig
        except KeyError:
            return False

    def _key(self, peer: NodeId) -> bytes:
        key = self._keys.get(peer)
        if key is None:
            key = self._keys[peer] = self._oracle.session_key(self.node_id, peer)
        return key

    def authenticate(self, data: bytes, receivers: Sequence[NodeId]) -> tuple[bytes, ...]:
        self.meter.charge("mac", self._mac_s * len(receivers))
        keys = self._keys
        key = self._key
        b2 = hashlib.blake2b
        return tuple([b2(data, key=keys.get(r) or key(r), digest_size=MAC_BYTES).digest() for r in receivers])

    def check_mac(self, sender: NodeId, data: bytes, auth: Sequence[bytes], receivers: Sequence[NodeId]) -> bool:
        self.meter.charge("mac", self._mac_s)
        try:
            tag = auth[receivers.index(self.node_id)]
            key = self._keys.get(sender) or self._key(sender)
        except (ValueError, IndexError, KeyError):
            return False
        return tag == hashlib.blake2b(data, key=key, digest_size=MAC_BYTES).digest()


def make(node_ids: Sequence[NodeId], seed: int, costs: CpuCosts) -> dict[NodeId, IdealCrypto]:
    """Factory registered as the ``ideal`` scheme."""
    oracle = _Oracle(node_ids, seed)
    return {i: IdealCrypto(i, oracle, costs) for i in node_ids}
