"""What every part of a PBFT replica knows and never changes: who it is, who the others are,
its keys, its parameters and its quorum sizes.

The replica builds one :class:`ReplicaConfig` and hands it to its parts (the
message log, the checkpoint manager, the view changer). The quorum sizes come
from the replica's overridable ``*_quorum`` methods, so a deliberately broken
variant changes them in one place for every part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bftlab.api import NodeCrypto

from .auth import Auth
from .params import PbftParams


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    node_id: int
    n: int
    f: int
    replicas: tuple[int, ...]
    others: tuple[int, ...]
    replica_set: frozenset[int]
    client_set: frozenset[int]
    crypto: NodeCrypto
    auth: Auth
    params: PbftParams
    q_prepare: int
    """Matching PREPAREs (with the PRE-PREPARE) to be prepared."""
    q_commit: int
    """Matching COMMITs to be committed-local."""
    q_ckpt: int
    """Matching CHECKPOINTs that make a checkpoint stable."""
    q_vc: int
    """VIEW-CHANGEs the new primary needs for its NEW-VIEW."""
    q_join: int
    """VIEW-CHANGEs (or votes) from higher views that make a replica move up."""

    @property
    def window(self) -> int:
        """``H - h``: the log window (L in §4.3)."""
        return self.params.log_window

    @property
    def interval(self) -> int:
        """Checkpoint interval (K in §4.3)."""
        return self.params.checkpoint_interval

    @property
    def batch_max(self) -> int:
        return self.params.batch_size_max

    def primary(self, view: int) -> int:
        return view % self.n


Drop = Callable[[str], None]
"""How a part counts a peer's message it rejects (``drop.*`` reasons), in the replica's counters."""
