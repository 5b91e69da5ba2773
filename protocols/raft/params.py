"""Raft protocol parameters (the ``params:`` block of an experiment spec)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError


@dataclass(frozen=True)
class RaftParams:
    election_timeout_s: float = 0.15
    """A follower that hears from no leader for a random time in [T, 2T) starts an election (§5.2)."""
    election_timeout_max_s: float = 0.0
    """If set, election timeouts are drawn in [T, max) instead of [T, 2T); max = T draws no randomness at all
    (the paper's §9.3 measures ranges such as 150-155 ms). 0 = 2T."""
    heartbeat_s: float = 0.03
    """The leader sends AppendEntries (possibly empty) to each follower at least this often; well under T."""
    max_batch: int = 64
    """At most this many log entries per AppendEntries message."""
    max_inflight: int = 4
    """Pipelining: at most this many AppendEntries with entries outstanding per follower (thesis §10.2.2)."""
    pre_vote: bool = True
    """Ask for pre-votes before bumping the term, so a rejoining partitioned server does not depose a leader (§9.6)."""
    check_quorum: bool = True
    """A leader that heard from no majority within an election timeout steps down; followers that heard from
    a leader within the minimum timeout refuse to vote (thesis §9.6, the 'leader stickiness' half)."""
    snapshot_every: int = 0
    """Take a snapshot (and compact the log) every this many applied entries; 0 = never."""
    read_index: bool = False
    """Serve get operations by ReadIndex (thesis §6.4) instead of through the log."""
    initial_voters: int = 0
    """The first configuration: replicas 0 .. initial_voters-1 vote; 0 means all n replicas."""
    client_retry_timeout_s: float = 0.5
    """A client asks every replica again after this long."""
    first_candidate: int = -1
    """At the cluster's first boot (term 0) this replica's first election timeout is T/2, below every other
    replica's draw in [T, 2T), so it stands first and normally leads term 1; -1 = none (all draw alike). For
    runs that must know their first leader, e.g. to crash it on the real transport."""

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"raft params: {name}={getattr(self, name)!r}: {what}")

        for name in ("election_timeout_s", "heartbeat_s", "client_retry_timeout_s"):
            v = getattr(self, name)
            need(type(v) in (int, float) and v > 0, name, "expected a number > 0")
        need(self.heartbeat_s < self.election_timeout_s, "heartbeat_s", "must be below election_timeout_s")
        m = self.election_timeout_max_s
        need(type(m) in (int, float) and (m == 0 or m >= self.election_timeout_s), "election_timeout_max_s",
             "expected 0 (meaning 2 x election_timeout_s) or a number >= election_timeout_s")
        for name in ("max_batch", "max_inflight"):
            v = getattr(self, name)
            need(type(v) is int and v >= 1, name, "expected an int >= 1")
        for name in ("snapshot_every", "initial_voters"):
            v = getattr(self, name)
            need(type(v) is int and v >= 0, name, "expected an int >= 0")
        need(type(self.first_candidate) is int and self.first_candidate >= -1, "first_candidate",
             "expected a replica id or -1")
        for name in ("pre_vote", "check_quorum", "read_index"):
            need(type(getattr(self, name)) is bool, name, "expected true or false")
