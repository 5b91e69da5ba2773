"""Multi-Paxos spec parameters (``protocol.params`` in a spec)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError


@dataclass(frozen=True)
class MultiPaxosParams:
    """Timeouts in seconds of the node's clock; sizes in slots or commands."""

    heartbeat_s: float = 0.02
    """How often the leader sends a Heartbeat (and resends Accepts that are overdue)."""
    election_timeout_s: float = 0.1
    """A follower that heard nothing from the leader for this long (plus a random share up to the same again)
    runs phase 1 with a higher ballot; a candidate whose phase 1 has not completed by then tries a higher one."""
    accept_retry_s: float = 0.1
    """An Accept that has not gathered a majority after this long is sent again (lost messages)."""
    window: int = 8
    """Slots in flight at once (pipelining of phase 2)."""
    batch_max: int = 16
    """Client commands per slot at most (batching)."""
    catchup_max: int = 64
    """Decided slots per Decisions reply."""
    client_retry_s: float = 0.2
    """The client's retry timeout (shared crash-fault client)."""

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "election_timeout_s", "accept_retry_s", "client_retry_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"multipaxos: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("window", "batch_max", "catchup_max"):
            if getattr(self, name) < 1:
                raise ConfigError(f"multipaxos: {name} must be >= 1, got {getattr(self, name)!r}")
        if self.heartbeat_s >= self.election_timeout_s:
            raise ConfigError("multipaxos: heartbeat_s must be below election_timeout_s")
