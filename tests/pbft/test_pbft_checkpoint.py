"""Checkpoints, garbage collection (bounded memory) and state transfer."""

from __future__ import annotations

from bftlab.api import StateTransferred
from bftlab.protocols.pbft.messages import Checkpoint, FetchState, StateReply
from bftlab.testing import of_type, to

from .helpers import assert_live, assert_no_surprises, assert_safe, harness, submit_round


def log_sizes(node) -> dict[str, int]:
    return {
        "slots": len(node.log.slots),
        "prepared": len(node.log.prepared_slots),
        "committed": len(node.log.committed),
        "ckpt_votes": len(node.checkpoints.votes),
        "own_ckpts": len(node.checkpoints.own),
    }


def test_checkpoints_become_stable_and_logs_stay_bounded_over_a_long_run():
    window = 64
    h = harness(n=4, clients=4, checkpoint_interval=16, log_window=window, batch_size_max=4)
    peak = {r: 0 for r in h.replicas}
    for round_ in range(500):  # 2,000 requests
        submit_round(h, f"r{round_}")
        h.deliver_all()
        if round_ % 10 == 0:
            for r in h.replicas:
                sizes = log_sizes(h.nodes[r])
                peak[r] = max(peak[r], max(sizes.values()))
                assert max(sizes.values()) <= window, sizes
        h.advance(0.002)
    assert h.stabilize()
    assert_live(h)
    assert_safe(h)
    assert_no_surprises(h)
    assert len(h.accepted()) == 2000
    for r in h.replicas:
        node = h.nodes[r]
        assert node.h >= node.last_exec - 16 and node.h % 16 == 0
        assert len(node.checkpoints.stable_proof) == 3 and {c.seq for c in node.checkpoints.stable_proof} == {node.h}
        assert all(s > node.h for s in node.log.prepared_slots)
        assert max(log_sizes(node).values()) <= window


def test_lagging_replica_catches_up_by_state_transfer():
    h = harness(n=4, clients=2, checkpoint_interval=8, log_window=32)
    h.partition([[0, 1, 2, *h.clients], [3]])
    submit_round(h, "a", per_client=60)
    assert h.stabilize()
    assert h.nodes[3].last_exec == 0 and h.nodes[1].h >= 32
    h.heal()
    submit_round(h, "b", per_client=20)
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)
    transfers = [e for e in h.events(StateTransferred) if e.node == 3]
    assert transfers and transfers[0].seq % 8 == 0
    lag, ref = h.nodes[3], h.nodes[0]
    assert lag.last_exec == ref.last_exec
    assert lag.kv.items() == ref.kv.items() and lag.replies == ref.replies
    # Exactly-once survives the transfer: a stale retransmission is not re-executed.
    assert not any(e.seq <= transfers[0].seq for e in h.executed_by(3))


def test_state_transfer_ignores_a_snapshot_that_does_not_match_the_proof():
    h = harness(n=4, clients=1, checkpoint_interval=4, log_window=8)
    h.partition([[0, 1, 2, *h.clients], [3]])
    submit_round(h, "a", per_client=12)
    assert h.stabilize()
    h.heal()
    submit_round(h, "b", per_client=4)
    assert h.run_until(lambda: bool(h.pending(of_type(FetchState))))
    fetches = h.pending(of_type(FetchState))
    assert fetches, "replica 3 should ask for the checkpoint state"
    fetch = fetches[0]
    h.drop(of_type(FetchState))
    bogus = StateReply(fetch.msg.seq, b"\x92\x90\x90", (), fetch.receiver)
    h.inject(fetch.receiver, 3, bogus)
    h.deliver(to(3))
    assert h.nodes[3].counters.get("drop.bad_state") == 1
    assert h.stabilize()  # the fetch timer retries with another replica
    assert_safe(h)
    assert h.nodes[3].last_exec == h.nodes[0].last_exec


def test_replica_restarted_with_amnesia_recovers_by_state_transfer():
    h = harness(n=4, clients=2, checkpoint_interval=4, log_window=16)
    submit_round(h, "a", per_client=10)
    assert h.stabilize()
    h.crash(2)
    submit_round(h, "b", per_client=10)
    assert h.stabilize()
    h.recover(2, amnesia=True)
    submit_round(h, "c", per_client=10)
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)
    assert h.nodes[2].last_exec == h.nodes[0].last_exec
    assert h.nodes[2].kv.items() == h.nodes[0].kv.items()


def test_far_checkpoints_are_kept_one_per_replica():
    h = harness(n=4, clients=1, checkpoint_interval=4, log_window=8)
    node = h.nodes[3]
    from bftlab.protocols.pbft.messages import checkpoint_body

    for seq in (40, 44, 48):  # beyond H = 8
        for r in (0, 1):
            sig = h.crypto(r).sign(checkpoint_body(seq, b"d" * 32, r))
            h.inject(r, 3, Checkpoint(seq, b"d" * 32, r, sig))
    h.deliver(of_type(Checkpoint))
    assert sorted(node.checkpoints.votes) == [48]
    assert node.h == 0  # 2 votes are not a proof
