"""Gossip parameters (``protocol.params`` of a spec), validated with key paths.

Two engines share them. ``engine: messages`` runs every replica as a sans-IO
node in the discrete-event simulator (loss, crashes and partitions from the
spec's ``network`` and ``faults``); ``engine: rounds`` is the fast path of
:mod:`~bftlab.protocols.gossip.rounds`: synchronous rounds on a complete graph
with one update, ``trials`` independent epidemics per run, for the theory
experiments at n up to :data:`MAX_ROUNDS_NODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bftlab.specs.schema import FieldError

MAX_MESSAGE_NODES = 2_000
"""Most replicas on ``engine: messages`` (every replica a simulator node; anti-entropy summaries grow with n)."""
MAX_ROUNDS_NODES = 1_000_000
"""Most sites on ``engine: rounds`` (a few arrays of n entries per trial)."""
MAX_TRIALS = 100_000
"""Most independent epidemics per fast-path run."""
MAX_K = 1_000
"""Largest rumor-mongering parameter k."""

AE_STYLES = ("push", "pull", "push-pull")
MODES = ("anti-entropy", "rumor", "both")
ALGORITHMS = ("push", "pull", "push-pull", "rumor")


@dataclass(frozen=True, kw_only=True)
class GossipParams:
    """``protocol.params`` of the gossip protocol (Demers et al., PODC'87)."""

    engine: Literal["messages", "rounds"] = "messages"
    """messages: every replica in the simulator; rounds: the fast synchronous-round model (theory experiments)."""
    mode: Literal["anti-entropy", "rumor", "both"] = "both"
    """messages: how updates spread: anti-entropy only, rumor mongering only, or rumors backed by anti-entropy."""
    anti_entropy: Literal["push", "pull", "push-pull"] = "push-pull"
    """Direction of an anti-entropy exchange (Demers et al. section 1.3); also the algorithm of ``engine: rounds``
    when ``algorithm`` is not ``rumor``."""
    anti_entropy_period_s: float = 1.0
    """messages: each replica starts one exchange with a random peer per period (first one at a random phase)."""
    rumor_period_s: float = 0.2
    """messages: a replica with hot rumors pushes them to one random peer per period."""
    feedback: bool = True
    """Rumor mongering: lose interest only on unnecessary contacts (the recipient already knew), else blindly."""
    counter: bool = True
    """Rumor mongering: lose interest after k (unnecessary) contacts, else with probability 1/k on each."""
    k: int = 2
    """Rumor mongering's parameter k (1 .. 1000)."""
    client_retry_s: float = 1.0
    """messages: a client that has no answer after this long asks the next replica."""
    settle_check_s: float = 0.5
    """messages: once the workload is answered, the run goes on in steps of this length until every live replica
    holds the same store (and no crash or partition is still to end), or ``stop.time_limit_s``."""
    death_certificate_ttl_s: float = 0.0
    """messages: drop a death certificate this long after it was written (0: keep them forever).
    Short lifetimes let a deleted key come back from a replica that missed the delete (section 2)."""
    dormant_retention: int = 0
    """messages: with a certificate lifetime, this many replicas per key (chosen by the key's hash) keep an
    expired certificate dormant and reactivate it when an older value reaches them (section 2.2); 0: none."""
    dormant_ttl_s: float = 0.0
    """messages: how long a dormant certificate is kept (0: forever)."""
    # ---- engine: rounds ----
    algorithm: Literal["push", "pull", "push-pull", "rumor"] = "rumor"
    """rounds: anti-entropy push / pull / push-pull (every site calls one random site per round until all
    know), or push rumor mongering with ``feedback``/``counter``/``k`` until no site is infective."""
    schedule: Literal["synchronous", "sequential"] = "synchronous"
    """rounds, ``algorithm: rumor``: synchronous rounds, or one contact at a time (the continuous-time model of
    the paper's equations)."""
    counter_resets: bool = False
    """rounds, feedback with a counter: a necessary contact sets the counter back to 0 (k consecutive unnecessary
    contacts), the variant that reproduces Demers et al.'s Table 1."""
    trials: int = 100
    """rounds: independent epidemics (one update planted at a random site) per run."""
    max_rounds: int = 10_000
    """rounds: a trial that has not ended after this many rounds stops there."""

    def __post_init__(self) -> None:
        for name in ("anti_entropy_period_s", "rumor_period_s", "client_retry_s", "settle_check_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise FieldError(name, f"must be > 0 seconds, got {value!r}.")
        if not self.death_certificate_ttl_s >= 0:
            raise FieldError("death_certificate_ttl_s",
                             f"must be >= 0 (0: forever), got {self.death_certificate_ttl_s!r}.")
        if self.schedule == "sequential" and self.algorithm != "rumor":
            raise FieldError("schedule", f"sequential is a rumor-mongering schedule; {self.algorithm} runs in rounds.")
        if not self.dormant_retention >= 0:
            raise FieldError("dormant_retention", f"must be >= 0, got {self.dormant_retention!r}.")
        if not self.dormant_ttl_s >= 0:
            raise FieldError("dormant_ttl_s", f"must be >= 0 (0: forever), got {self.dormant_ttl_s!r}.")
        if not 1 <= self.k <= MAX_K:
            raise FieldError("k", f"must be 1 .. {MAX_K}, got {self.k!r}.")
        if not 1 <= self.trials <= MAX_TRIALS:
            raise FieldError("trials", f"must be 1 .. {MAX_TRIALS}, got {self.trials!r}.")
        if not 1 <= self.max_rounds <= 1_000_000:
            raise FieldError("max_rounds", f"must be 1 .. 1000000, got {self.max_rounds!r}.")


def check_against_n(params: GossipParams, n: int) -> None:
    """The engine's size limit on ``n`` (FieldError naming ``n``)."""
    if params.engine == "messages" and not 2 <= n <= MAX_MESSAGE_NODES:
        raise FieldError("n", f"engine: messages runs 2 .. {MAX_MESSAGE_NODES} replicas, got {n}.")
    if params.engine == "rounds" and not 2 <= n <= MAX_ROUNDS_NODES:
        raise FieldError("n", f"engine: rounds runs 2 .. {MAX_ROUNDS_NODES} sites, got {n}.")
