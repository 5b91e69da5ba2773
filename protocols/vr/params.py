"""VR protocol parameters (the ``params:`` block of an experiment spec)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError


@dataclass(frozen=True)
class VrParams:
    commit_interval_s: float = 0.05
    """The primary sends COMMIT after this long without a PREPARE to piggyback its commit-number on (§4.1 step 6);
    at the same ticks it retransmits the PREPAREs that are overdue (see ``resend_s``)."""
    resend_s: float = 0.1
    """A PREPARE a backup has not acknowledged this long after it went out is sent to it again (it must exceed the
    round trip, or every PREPARE goes twice)."""
    view_change_timeout_s: float = 0.25
    """A backup that hears nothing from the primary for this long starts a view change (§4.2); a view change that
    does not complete within it moves on to the next view."""
    client_retry_s: float = 0.5
    """A client retransmits its request to every replica after this long."""
    recovery_retry_s: float = 0.05
    """A recovering replica resends RECOVERY after this long without enough answers (§4.3); a replica that is
    behind resends GETSTATE after it (§5.2)."""
    max_resend: int = 64
    """At most this many PREPAREs are retransmitted to one backup per commit interval."""

    def __post_init__(self) -> None:
        for name in ("commit_interval_s", "resend_s", "view_change_timeout_s", "client_retry_s", "recovery_retry_s"):
            value = getattr(self, name)
            if type(value) not in (int, float) or not value > 0:
                raise ConfigError(f"vr params: {name}={value!r}: expected a number > 0")
        if type(self.max_resend) is not int or self.max_resend < 1:
            raise ConfigError(f"vr params: max_resend={self.max_resend!r}: expected an int >= 1")
        if self.commit_interval_s >= self.view_change_timeout_s:
            raise ConfigError("vr params: commit_interval_s must be below view_change_timeout_s, or backups start "
                              "view changes while the primary is idle")
