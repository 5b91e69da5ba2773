"""ZAB protocol parameters (the ``params:`` block of an experiment spec)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from bftlab.errors import ConfigError


@dataclass(frozen=True)
class ZabParams:
    tick_s: float = 0.05
    """The leader's heartbeat (PING) period; followers answer with PONG."""
    leader_timeout_s: float = 0.25
    """A follower that hears nothing from its leader for this long goes back to election (LOOKING); a leader
    that hears from fewer than a quorum of followers for this long does too."""
    election_timeout_s: float = 0.15
    """A LOOKING replica that has not decided within this long (times 1..2, drawn from its rng) starts a new
    election round."""
    finalize_s: float = 0.01
    """FLE's finalize wait: a quorum agreeing on a vote still waits this long for a better one (a vote from
    every replica decides at once)."""
    sync_timeout_s: float = 0.3
    """Discovery and synchronisation must complete within this long, else back to election."""
    client_retry_timeout_s: float = 0.5
    """A client retransmits its request to every replica after this long."""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if type(v) not in (int, float) or not v > 0:
                raise ConfigError(f"zab params: {f.name}={v!r}: expected a number > 0")
