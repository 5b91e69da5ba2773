"""Dynamo's parameters (the ``params:`` block of an experiment spec)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.errors import ConfigError

ROUTINGS = ("preference", "any", "proxy")
MODES = ("vector", "lww")


@dataclass(frozen=True)
class DynamoParams:
    replicas_per_key: int = 3
    """N: each key is stored on the first N distinct nodes clockwise from its hash (its preference list, §4.3)."""
    r: int = 2
    """R: a read answers after this many replicas replied (§4.5)."""
    w: int = 2
    """W: a write answers after this many replicas acknowledged (§4.5)."""
    vnodes: int = 8
    """Tokens (virtual nodes) per physical node on the hash ring (§4.2)."""
    mode: str = "vector"
    """vector: vector clocks, concurrent writes survive as siblings (§4.4); lww: last writer wins by hybrid
    logical clock stamp (Kulkarni et al., OPODIS 2014), never siblings."""
    sloppy: bool = True
    """Sloppy quorum: replicas that do not answer in ack_timeout_s are replaced by the next healthy nodes on the
    ring, which keep the data as hints for the intended owner (§4.6). False: strict quorums among the top N."""
    ack_timeout_s: float = 0.05
    """A coordinator suspects a replica that has not answered a request within this long."""
    read_repair: bool = True
    """After a read, push the reconciled versions to the replicas that answered with older ones (§5)."""
    read_repair_wait_s: float = 0.05
    """How long a coordinator waits, after answering a read, for the remaining replies before repairing."""
    anti_entropy: bool = True
    """Periodic Merkle-tree comparison between replicas sharing keys (§4.7)."""
    anti_entropy_interval_s: float = 0.2
    """Each node starts one anti-entropy exchange with a random peer this often."""
    merkle_buckets: int = 16
    """Leaves of the Merkle tree a node builds over the keys it shares with a peer."""
    handoff_interval_s: float = 0.1
    """A node holding hints retries delivering them to their owners this often (§4.6)."""
    routing: str = "preference"
    """Which node a client asks: preference (the key's first replica, a partition-aware client, §4.5), any (a
    random node, as behind a load balancer) or proxy (the first node outside the preference list: a coordinator
    that stores nothing, the model of PBS)."""
    client_timeout_s: float = 0.3
    """A client asks another coordinator after this long."""
    client_suspect_s: float = 1.0
    """After a timeout, a client avoids that coordinator for this long unless every candidate is avoided (a
    partition-aware client library, §4.5, learns which nodes it cannot reach); 0 never avoids one."""
    read_delay_ms: float = 0.0
    """Client think time after each completed write before its next operation (the PBS probe lag t)."""
    clock_skew_ms: float = 0.0
    """Each node's physical clock is off by a fixed amount drawn uniformly from [-skew, +skew] (LWW ordering)."""
    settle_s: float = 2.0
    """After the workload finishes, the run goes on this long with no client traffic before replicas are judged
    (anti-entropy and hinted handoff need time to converge)."""
    skip_repair: bool = False
    """A planted bug for the oracles' tests: no read repair, no anti-entropy and no handoff, whatever the rest say."""

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"dynamo params: {name}={getattr(self, name)!r}: {what}")

        for name in ("replicas_per_key", "r", "w", "vnodes", "merkle_buckets"):
            v = getattr(self, name)
            need(type(v) is int and v >= 1, name, "expected an int >= 1")
        need(self.r <= self.replicas_per_key, "r", "must not exceed replicas_per_key")
        need(self.w <= self.replicas_per_key, "w", "must not exceed replicas_per_key")
        need(self.mode in MODES, "mode", f"expected one of {MODES}")
        need(self.routing in ROUTINGS, "routing", f"expected one of {ROUTINGS}")
        for name in ("ack_timeout_s", "read_repair_wait_s", "anti_entropy_interval_s", "handoff_interval_s",
                     "client_timeout_s"):
            v = getattr(self, name)
            need(type(v) in (int, float) and v > 0, name, "expected a number > 0")
        for name in ("read_delay_ms", "clock_skew_ms", "settle_s", "client_suspect_s"):
            v = getattr(self, name)
            need(type(v) in (int, float) and v >= 0, name, "expected a number >= 0")
        for name in ("sloppy", "read_repair", "anti_entropy", "skip_repair"):
            need(type(getattr(self, name)) is bool, name, "expected true or false")

    def check_n(self, n: int) -> None:
        """ConfigError unless ``n`` replicas can hold N copies (and a proxy coordinator, when asked)."""
        need = self.replicas_per_key + (1 if self.routing == "proxy" else 0)
        if n < need:
            raise ConfigError(f"dynamo params: replicas_per_key={self.replicas_per_key} with routing "
                              f"{self.routing!r} needs n >= {need}, got n={n}")
