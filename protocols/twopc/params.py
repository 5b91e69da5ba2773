"""Two-phase commit parameters (``protocol.params``): the shared transaction ones plus the protocol's timeouts."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError
from bftlab.protocols.txn import TxnConfig


@dataclass(frozen=True)
class TwoPcParams(TxnConfig):
    """Timeouts in seconds of the node's clock."""

    vote_timeout_s: float = 0.2
    """The coordinator aborts an attempt whose votes have not all arrived after this long."""
    inquire_s: float = 0.2
    """An uncertain participant asks for the outcome after this long, and again every as long."""
    resend_s: float = 0.2
    """The coordinator resends COMMIT to participants that have not acknowledged it after this long."""
    cooperative: bool = False
    """Cooperative termination: an uncertain participant asks the other participants too, not only the
    coordinator (one that voted no, or knows the outcome, answers)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("vote_timeout_s", "inquire_s", "resend_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"twopc: {name} must be > 0, got {getattr(self, name)!r}")
