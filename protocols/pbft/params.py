"""PBFT protocol parameters (the ``params:`` block of an experiment spec)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError

AUTH_MODES = ("mac", "sig")


@dataclass(frozen=True)
class PbftParams:
    batch_window: int = 1
    """The primary proposes a request at once while fewer than this many of its batches are
    pre-prepared but not yet executed (the window w of TOCS'02 §5.1.4); requests arriving behind
    a full window queue up and go out together as one batch. 0 = always wait for the batch timer."""
    batch_size_max: int = 16
    """At most this many requests per batch; a full batch of queued requests goes out at once."""
    batch_timeout_s: float = 0.002
    """A request queued behind a full window waits at most this long for its batch."""
    checkpoint_interval: int = 64
    """A checkpoint is taken every this many sequence numbers (K in §4.3)."""
    log_window: int = 256
    """High watermark H = h + log_window (L in §4.3)."""
    view_change_timeout_s: float = 0.5
    """Timer T of §4.5.2; doubled for each consecutive view change that does not complete."""
    view_change_backoff_max: int = 10
    """Cap on the doublings of the view-change timer."""
    client_retry_timeout_s: float = 1.0
    """A client retransmits its request to all replicas after this long."""
    state_fetch_timeout_s: float = 0.25
    """A replica asks another replica for checkpoint state after this long without an answer."""
    recovery_retry_s: float = 0.05
    """A restarted replica asks again (STATUS, FETCH-LOG) after this long without getting what it needs; a
    replica holding a committed batch it cannot execute (it misses the ones before) fetches them after it."""
    auth: str = "mac"
    """'mac': MAC authenticators in the normal case, signatures for checkpoints and view
    changes; 'sig': signatures everywhere."""

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"pbft params: {name}={getattr(self, name)!r}: {what}")

        def is_int(name: str) -> bool:
            return type(getattr(self, name)) is int

        def is_num(name: str) -> bool:
            return type(getattr(self, name)) in (int, float)

        need(is_int("batch_window") and self.batch_window >= 0, "batch_window", "expected an int >= 0")
        need(is_int("batch_size_max") and self.batch_size_max >= 1, "batch_size_max", "expected an int >= 1")
        need(is_num("batch_timeout_s") and self.batch_timeout_s >= 0, "batch_timeout_s", "expected a number >= 0")
        need(is_int("checkpoint_interval") and self.checkpoint_interval >= 1, "checkpoint_interval",
             "expected an int >= 1")
        need(
            is_int("log_window") and self.log_window >= self.checkpoint_interval,
            "log_window",
            "expected an int >= checkpoint_interval",
        )
        for name in ("view_change_timeout_s", "client_retry_timeout_s", "state_fetch_timeout_s", "recovery_retry_s"):
            need(is_num(name) and getattr(self, name) > 0, name, "expected a number > 0")
        need(
            is_int("view_change_backoff_max") and 0 <= self.view_change_backoff_max <= 30,
            "view_change_backoff_max",
            "expected an int in 0..30",
        )
        need(self.auth in AUTH_MODES, "auth", f"expected one of {AUTH_MODES}")
