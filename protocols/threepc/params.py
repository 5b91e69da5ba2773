"""Three-phase commit parameters: the shared transaction ones plus the timeouts of the synchronous model."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError
from bftlab.protocols.txn import TxnConfig


@dataclass(frozen=True)
class ThreePcParams(TxnConfig):
    """Timeouts in seconds. 3PC assumes they detect failures exactly: each must exceed the delays it waits out."""

    vote_timeout_s: float = 0.1
    """The coordinator aborts when the votes are not all in after this long."""
    ack_timeout_s: float = 0.1
    """The coordinator commits when PreCommit ACKs are missing after this long (the silent ones failed)."""
    timeout_s: float = 0.3
    """A participant that voted yes and hears nothing from the coordinator for this long deems it failed and
    starts the termination protocol; a restarted one in doubt asks for the outcome this often."""
    term_timeout_s: float = 0.3
    """A participant waits this long for the backup coordinator of a termination epoch before trying the next."""
    collect_timeout_s: float = 0.1
    """A backup coordinator decides on the states it has after this long (the silent participants failed)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("vote_timeout_s", "ack_timeout_s", "timeout_s", "term_timeout_s", "collect_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"threepc: {name} must be > 0, got {getattr(self, name)!r}")
        if self.timeout_s <= max(self.vote_timeout_s, self.ack_timeout_s):
            raise ConfigError("threepc: timeout_s must exceed vote_timeout_s and ack_timeout_s (a participant must "
                              "not deem a live coordinator failed)")
        if self.term_timeout_s <= self.collect_timeout_s:
            raise ConfigError("threepc: term_timeout_s must exceed collect_timeout_s")
