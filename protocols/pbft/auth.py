"""Sealing and checking message bodies in the two PBFT authentication modes.

In ``mac`` mode, normal-case messages carry an authenticator: a vector of MACs,
one per receiver (TOCS §5). Messages between replicas are always sealed for
*all* replicas (the sender included), so that a PRE-PREPARE or PREPARE quoted in
a view-change certificate can still be checked by whichever replica reads it,
each with its own entry. In ``sig`` mode every message carries a 1-tuple holding
the sender's signature. CHECKPOINT, VIEW-CHANGE and NEW-VIEW are signed in both.
"""

from __future__ import annotations

from collections.abc import Sequence

from bftlab.api import NodeCrypto, NodeId


class Auth:
    __slots__ = ("crypto", "use_sig", "replicas", "n")

    def __init__(self, crypto: NodeCrypto, mode: str, replicas: tuple[NodeId, ...]) -> None:
        self.crypto = crypto
        self.use_sig = mode == "sig"
        self.replicas = replicas
        self.n = len(replicas)

    def seal(self, body: bytes, receivers: Sequence[NodeId] | None = None) -> tuple[bytes, ...]:
        """Authenticate ``body`` for ``receivers`` (default: all replicas)."""
        if self.use_sig:
            return (self.crypto.sign(body),)
        return self.crypto.authenticate(body, self.replicas if receivers is None else receivers)

    def check(self, sender: NodeId, body: bytes, auth: tuple[bytes, ...],
              receivers: Sequence[NodeId] | None = None) -> bool:
        """Check a sealed body in this run's mode (the entry meant for us, or the signature)."""
        if self.use_sig:
            return len(auth) == 1 and type(auth[0]) is bytes and self.crypto.verify(sender, body, auth[0])
        rcv = self.replicas if receivers is None else receivers
        return len(auth) == len(rcv) and self.crypto.check_mac(sender, body, auth, rcv)

    def check_any(self, sender: NodeId, body: bytes, auth: tuple[bytes, ...]) -> bool:
        """Accept either a signature or a replica authenticator (PRE-PREPAREs in a NEW-VIEW are signed)."""
        if len(auth) == 1 and self.crypto.verify(sender, body, auth[0]):
            return True
        return not self.use_sig and len(auth) == self.n and self.crypto.check_mac(sender, body, auth, self.replicas)

    def sign(self, body: bytes) -> bytes:
        return self.crypto.sign(body)

    def verify(self, signer: NodeId, body: bytes, sig: bytes) -> bool:
        return self.crypto.verify(signer, body, sig)
