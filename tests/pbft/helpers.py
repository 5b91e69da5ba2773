"""Shared helpers for PBFT scenario tests: building harnesses and judging histories."""

from __future__ import annotations

from bftlab.api import Accepted, Executed, Issued
from bftlab.protocols.pbft import PROTOCOL, PbftParams, op_put
from bftlab.testing import Harness

# Benign reasons a correct replica drops messages in a fault-free or crash-only run.
BENIGN = {"drop.stale_checkpoint", "drop.duplicate", "drop.stale_view_change", "drop.stale_new_view"}


def harness(n: int = 4, clients: int = 2, seed: int = 0, **params) -> Harness:
    return Harness(PROTOCOL, n=n, clients=clients, params=PbftParams(**params), seed=seed)


def submit_round(h: Harness, tag: str, per_client: int = 1) -> None:
    for i in range(per_client):
        for c in h.clients:
            h.submit(c, op_put(f"{tag}-{c}-{i}".encode(), f"value-{i}".encode()))


def assert_safe(h: Harness) -> dict[int, tuple]:
    """Agreement + total order + exactly-once, judged only from history events.

    Returns seq -> entries of the executed slots.
    """
    by_seq: dict[int, tuple] = {}
    for e in h.events(Executed):
        prev = by_seq.setdefault(e.seq, e.entries)
        assert prev == e.entries, f"replicas disagree at seq {e.seq}: {prev} vs {e.entries}"
    for r in h.replicas:
        seqs = [e.seq for e in h.executed_by(r)]
        assert seqs == sorted(set(seqs)), f"replica {r} executed out of order or twice: {seqs[:20]}"
        done = [(x.client, x.ts) for e in h.executed_by(r) for x in e.entries]
        assert len(done) == len(set(done)), f"replica {r} executed a request twice"
    # Accepted results were executed with that result by some replica.
    results = {(x.client, x.ts): x.result_digest for entries in by_seq.values() for x in entries}
    for a in h.events(Accepted):
        assert results.get((a.client, a.ts)) == a.result_digest
    return by_seq


def assert_live(h: Harness) -> None:
    """Every issued request was accepted exactly once."""
    issued = sorted((e.client, e.ts) for e in h.events(Issued))
    accepted = sorted((e.client, e.ts) for e in h.events(Accepted))
    assert issued == accepted, f"{len(issued)} issued vs {len(accepted)} accepted"


def assert_no_surprises(h: Harness, nodes=None) -> None:
    for r in h.replicas if nodes is None else nodes:
        node = h.nodes[r]
        odd = {k: v for k, v in node.counters.items() if k not in BENIGN}
        assert not odd, f"replica {r} dropped messages: {odd} (last error: {node.last_error})"
