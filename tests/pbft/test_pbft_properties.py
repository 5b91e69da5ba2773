"""Property tests: quorum arithmetic; random loss schedules never break agreement."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.protocols.pbft import quorum
from bftlab.testing import Envelope

from .helpers import assert_live, assert_safe, harness, submit_round


@given(st.integers(1, 40))
def test_quorums_intersect_in_a_correct_replica(f):
    n = 3 * f + 1
    assert quorum.max_faulty(n) == f
    q = quorum.commit_quorum(f)
    assert q <= n - f  # live with f silent replicas
    assert quorum.intersection(n, q, q) >= f + 1  # two quorums share a correct replica
    assert quorum.intersection(n, quorum.view_change_quorum(f), quorum.prepare_quorum(f) + 1) >= 1
    assert quorum.reply_quorum(f) == quorum.join_quorum(f) == f + 1


@given(st.integers(4, 200), st.integers(0, 1000))
def test_primary_rotates_over_all_replicas(n, v):
    assert quorum.primary(v, n) == v % n
    assert {quorum.primary(v + i, n) for i in range(n)} == set(range(n))


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.sampled_from([4, 7]),
    loss=st.floats(0.0, 0.3),
    auth=st.sampled_from(["mac", "sig"]),
)
def test_random_message_loss_never_yields_two_different_entries_at_one_seq(seed, n, loss, auth):
    import random

    rnd = random.Random(seed)
    h = harness(n=n, clients=2, seed=seed, auth=auth, checkpoint_interval=4, log_window=8)

    def lossy(env: Envelope) -> bool:
        return rnd.random() < loss

    f = h.add_filter(lossy)
    submit_round(h, "x", per_client=4)
    h.stabilize(max_steps=20_000, max_time_s=20.0)
    assert_safe(h)  # safety phase: arbitrary loss
    h.remove_filter(f)

    def all_accepted() -> bool:
        return len(h.accepted()) == 2 * 4

    # Liveness phase: loss heals, every request completes. (A replica that timed out alone
    # may stay in its higher view until the others change view, as in the paper.)
    assert h.run_until(all_accepted, max_steps=100_000, max_time_s=100.0)
    h.deliver_all()
    assert_safe(h)
    assert_live(h)
