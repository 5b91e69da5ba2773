"""SWIM parameters (``protocol.params`` of a spec), validated with key paths.

Two engines share them. ``engine: messages`` runs every member as a sans-IO node
in the discrete-event simulator, so ``n`` is bounded by :data:`MAX_MEMBERS` (the
simulator's own cap on message-level runs); ``engine: periods`` is the fast path
of :mod:`~bftlab.protocols.swim.periods`, the paper's round model, ``trials``
independent failures per run, for n up to :data:`MAX_PERIOD_MEMBERS`.
Times are in seconds of simulated time; the protocol period ``period_s`` is the
paper's T' (Das, Gupta & Motivala, section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bftlab.specs.schema import FieldError

MAX_MEMBERS = 512
"""Most members: every member is a simulator node (the message-level simulator's MAX_SIM_REPLICAS)."""
MAX_PERIOD_MEMBERS = 100_000
"""Most members on ``engine: periods`` (a few arrays of n entries per period)."""
MAX_TRIALS = 100_000
"""Most trials per fast-path run."""
MAX_K = 64
"""Most indirect probers per failed ping."""


@dataclass(frozen=True, kw_only=True)
class SwimParams:
    """``protocol.params`` of SWIM (Das, Gupta & Motivala, DSN 2002)."""

    engine: Literal["messages", "periods"] = "messages"
    """messages: every member in the simulator (network, loss, crashes, partitions from the spec); periods: the
    fast synchronous-period model of the paper's analysis (first detection and dissemination only)."""
    period_s: float = 1.0
    """The protocol period T': each member probes one member per period and judges the probe at its end."""
    ping_timeout_s: float = 0.2
    """How long a member waits for a direct ack before it asks k others to ping-req the target (the paper's
    round-trip estimate; the period must be at least three times it, section 3.1)."""
    k: int = 3
    """Members asked to probe the target indirectly (ping-req) when the direct ping times out, 0 .. 64."""
    suspicion: bool = True
    """Section 4.2: a failed probe makes the target Suspect, and only a suspicion that is not refuted within the
    suspicion timeout becomes a Confirm (dead). Off: the basic protocol of section 3, a failed probe is a death."""
    suspicion_periods: float = 0.0
    """The suspicion timeout in protocol periods; 0 picks ``suspicion_mult * log10(max(n, 10))`` periods (the
    timeout grows like log n, as a suspicion needs about that long to reach every member)."""
    suspicion_mult: float = 5.0
    """Multiplier of the automatic suspicion timeout (used when suspicion_periods is 0)."""
    retransmit_mult: float = 3.0
    """lambda of section 4.1: each membership update is piggybacked at most ceil(lambda * log(n + 1)) times."""
    max_piggyback: int = 32
    """Most membership updates piggybacked on one message (the least-sent ones first). Each member re-spreads
    every update it accepts, so when many suspicions and refutations are in flight a small cap delays them
    past the suspicion timeout (at 8, a third of the false suspicions under 5% loss with k = 0 became deaths
    in 32 members; at 32, none): about what fits in one UDP datagram."""
    target_selection: Literal["round-robin", "random"] = "round-robin"
    """round-robin: probe targets in the order of a list shuffled at every traversal, new members inserted at a
    random place (section 4.3, a bounded detection time); random: a uniform choice each period (section 3, the
    model of the analysis)."""
    phase: Literal["random", "aligned"] = "random"
    """random: each member starts its periods at a random offset; aligned: every member's periods start at
    multiples of period_s, the synchronous rounds of the paper's analysis."""
    sync_periods: int = 20
    """Every this many periods a member exchanges its whole view with one member picked from all it knows, dead
    ones included (0: never). Not in the paper (it is memberlist's push-pull): after a partition heals, this is
    how members that declared each other dead find each other again."""
    introducer: int = 0
    """The member joiners contact first (the paper's well-known server or multicast group, section 4)."""
    joiners: tuple[int, ...] = ()
    """Members outside the group at the start: nobody knows them until they join at join_at_s."""
    join_at_s: float = 1.0
    """When the joiners send their Join to the introducer."""
    leavers: tuple[int, ...] = ()
    """Members that leave voluntarily at leave_at_s: they disseminate a Leave and go quiet."""
    leave_at_s: float = 30.0
    """When the leavers leave."""
    # ---- engine: periods ----
    trials: int = 200
    """periods: independent failures per run (each: a first detection, then the dissemination of its news)."""
    failed: int = 1
    """periods: members crashed at the start of each trial (q_f = (n - failed) / n); one of them is tracked."""
    max_periods: int = 10_000
    """periods: a trial's detection or dissemination that has not ended after this many periods stops there."""

    def __post_init__(self) -> None:
        for name in ("period_s", "ping_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise FieldError(name, f"must be > 0 seconds, got {value!r}.")
        if self.ping_timeout_s >= self.period_s:
            raise FieldError("ping_timeout_s", f"must be shorter than period_s ({self.period_s!r}): the indirect "
                                               f"probes need the rest of the period, got {self.ping_timeout_s!r}.")
        if not 0 <= self.k <= MAX_K:
            raise FieldError("k", f"must be 0 .. {MAX_K}, got {self.k!r}.")
        for name in ("suspicion_periods", "join_at_s", "leave_at_s"):
            if not getattr(self, name) >= 0:
                raise FieldError(name, f"must be >= 0, got {getattr(self, name)!r}.")
        for name in ("suspicion_mult", "retransmit_mult"):
            if not getattr(self, name) > 0:
                raise FieldError(name, f"must be > 0, got {getattr(self, name)!r}.")
        if not 1 <= self.max_piggyback <= 1000:
            raise FieldError("max_piggyback", f"must be 1 .. 1000, got {self.max_piggyback!r}.")
        if not 0 <= self.sync_periods <= 1_000_000:
            raise FieldError("sync_periods", f"must be 0 .. 1000000 (0: never), got {self.sync_periods!r}.")
        if self.introducer in self.joiners:
            raise FieldError("joiners", f"the introducer ({self.introducer}) is in the group from the start.")
        if not 1 <= self.trials <= MAX_TRIALS:
            raise FieldError("trials", f"must be 1 .. {MAX_TRIALS}, got {self.trials!r}.")
        if not 1 <= self.max_periods <= 1_000_000:
            raise FieldError("max_periods", f"must be 1 .. 1000000, got {self.max_periods!r}.")
        if self.failed < 1:
            raise FieldError("failed", f"must be >= 1, got {self.failed!r}.")
        if set(self.joiners) & set(self.leavers):
            raise FieldError("leavers", "a member cannot both join and leave in one run.")


def check_against_n(params: SwimParams, n: int) -> None:
    """The size limit and member ids against ``n`` (FieldError naming the field)."""
    if params.engine == "periods":
        if not params.failed + 2 <= n <= MAX_PERIOD_MEMBERS:
            raise FieldError("n", f"engine: periods runs {params.failed + 2} .. {MAX_PERIOD_MEMBERS} members "
                                  f"(failed + 2 at least), got {n}.")
        return
    if not 2 <= n <= MAX_MEMBERS:
        raise FieldError("n", f"SWIM runs 2 .. {MAX_MEMBERS} members on the message-level simulator, got {n}.")
    for name in ("joiners", "leavers"):
        bad = [m for m in getattr(params, name) if not 0 <= m < n]
        if bad:
            raise FieldError(f"protocol.params.{name}", f"member ids are 0 .. {n - 1}, got {bad[0]}.")
    if not 0 <= params.introducer < n:
        raise FieldError("protocol.params.introducer", f"must be a member id 0 .. {n - 1}, got {params.introducer}.")
