"""Paxos Commit spec parameters (``protocol.params`` in a spec)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError
from bftlab.protocols.txn import TxnConfig


@dataclass(frozen=True)
class PaxosCommitParams(TxnConfig):
    """The shared transaction parameters plus the acceptors and the timeouts (seconds of the node's clock)."""

    acceptor_faults: int = 1
    """F: acceptor crashes tolerated at once. Replicas ``shards .. shards+2F`` are the 2F+1 acceptors."""
    thrifty: bool = False
    """The paper's normal-case saving: an RM sends its first ballot-0 Phase 2a to only F+1 acceptors (its
    coordinator and the F after it in acceptor order) instead of all 2F+1; its retries go to all. With one of those
    F+1 down, the instance is chosen only by the coordinator's higher ballot (which finds the vote accepted by the
    others)."""
    bundle_2b: bool = False
    """Gray & Lamport's normal-case layout: an acceptor holds its ballot-0 acceptances of a transaction (neither
    written nor reported) until it has accepted every instance's, then makes one forced write and sends one
    :class:`~.messages.Phase2bBundle` for them all (at once for an Aborted vote). After ``bundle_wait_s`` without
    them all it writes and reports what it has and handles that transaction one instance at a time, as without
    this option; so does any other message that touches the transaction (a retry, a higher ballot)."""
    bundle_wait_s: float = 0.02
    """How long an acceptor with ``bundle_2b`` waits for a transaction's missing ballot-0 Phase 2a messages. Below
    ``prepare_retry_s``, so that the coordinator hears the votes it has before it resends Prepare."""
    prepare_retry_s: float = 0.05
    """A coordinator resends Prepare to the participants whose instance is not chosen yet after this long."""
    abort_after_s: float = 0.2
    """A coordinator that has not decided this long after it started runs a higher ballot, proposing Aborted
    in every instance where no value was accepted (Gray & Lamport §4.2)."""
    rm_retry_s: float = 0.1
    """An uncertain participant resends its Phase 2a (flagged as a retry) to every acceptor after this long."""
    takeover_s: float = 0.1
    """An acceptor that sees a participant's retry and knows no outcome takes over after ``abort_after_s`` plus
    ``takeover_s`` times its distance from the coordinator in acceptor order (so that the coordinator has had its
    chance to abort, and at most one acceptor usually takes over)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.acceptor_faults <= 8:
            raise ConfigError(f"paxoscommit: acceptor_faults must be in 0 .. 8, got {self.acceptor_faults!r}")
        for name in ("prepare_retry_s", "abort_after_s", "rm_retry_s", "takeover_s", "bundle_wait_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"paxoscommit: {name} must be > 0, got {getattr(self, name)!r}")

    @property
    def acceptors(self) -> int:
        """2F+1."""
        return 2 * self.acceptor_faults + 1
