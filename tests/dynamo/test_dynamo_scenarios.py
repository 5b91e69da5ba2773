"""Dynamo scenarios on the step-by-step harness: quorums, sloppy quorums and hinted handoff, read repair,
anti-entropy, siblings surfaced and merged, last-writer-wins."""

from __future__ import annotations

import pytest

from bftlab.api import Accepted
from bftlab.core.kv import get_result
from bftlab.protocols.dynamo.messages import Replicate
from bftlab.testing import all_of, of_type, to

from .helpers import get, harness, held, home, judge, put, settle

K = b"k1"





def test_a_write_reaches_all_n_replicas_and_a_read_returns_it():
    h = harness(anti_entropy=False)
    c = h.clients[0]
    h.submit(c, put(K, b"v1"))
    h.run_until(lambda: len(h.accepted()) == 1)
    h.submit(c, get(K))
    h.run_until(lambda: len(h.accepted()) == 2)
    first3 = home(h, K)[:3]
    assert all(held(h, r, K) == [b"v1"] for r in first3)
    assert all(held(h, r, K) == [] for r in home(h, K)[3:])
    assert h.accepted()[1].result_digest == _digest(get_result(b"v1"))


def _digest(b: bytes) -> bytes:
    from bftlab.api import observed_digest

    return observed_digest(b)


def test_strict_quorum_fails_without_w_replicas_and_succeeds_once_one_returns():
    h = harness(sloppy=False, w=3, anti_entropy=False, ack_timeout_s=0.05, client_timeout_s=0.2)
    c = h.clients[0]
    down = home(h, K)[2]
    h.crash(down)
    h.submit(c, put(K, b"v1"))
    settle(h, 1.0)
    assert not h.accepted()
    assert sum(h.nodes[r].counters.get("quorum.failed", 0) for r in h.replicas if r != down) >= 1
    h.recover(down)
    assert h.run_until(lambda: len(h.accepted()) == 1, max_time_s=5.0)
    assert all(held(h, r, K) == [b"v1"] for r in home(h, K)[:3])


def test_sloppy_quorum_writes_a_hint_and_hands_it_off_when_the_owner_returns():
    h = harness(w=3, anti_entropy=False, ack_timeout_s=0.05)
    c = h.clients[0]
    pref = home(h, K)
    down, substitute = pref[1], pref[3]
    h.crash(down)
    h.submit(c, put(K, b"v1"))
    assert h.run_until(lambda: len(h.accepted()) == 1, max_time_s=2.0)  # W=3 met with the substitute
    assert h.nodes[substitute].store.hints == {down: h.nodes[substitute].store.hints[down]}
    assert K in h.nodes[substitute].store.hints[down]
    assert held(h, substitute, K) == []  # kept apart from its own data
    settle(h, 0.5)
    assert K in h.nodes[substitute].store.hints.get(down, {})  # owner still down: the hint stays
    h.recover(down)
    settle(h, 0.3)
    assert held(h, down, K) == [b"v1"]
    assert not h.nodes[substitute].store.hints.get(down)
    assert judge(h).live


def test_read_repair_fixes_a_replica_that_missed_a_write():
    h = harness(anti_entropy=False, sloppy=False, r=2, w=2)
    c = h.clients[0]
    stale = home(h, K)[2]
    filt = h.add_filter(all_of(of_type(Replicate), to(stale)))  # the write never reaches it
    h.submit(c, put(K, b"v1"))
    h.run_until(lambda: len(h.accepted()) == 1, max_time_s=0.01)
    h.remove_filter(filt)
    h.deliver_all()
    assert held(h, stale, K) == []
    assert not judge(h).live  # the planted divergence is visible to the oracle
    h.submit(c, get(K))
    h.run_until(lambda: len(h.accepted()) == 2)
    h.advance(0.2)  # the coordinator's read-repair wait
    h.deliver_all()
    assert held(h, stale, K) == [b"v1"]
    assert judge(h).live


@pytest.mark.parametrize(("ae", "fixed"), [(False, False), (True, True)])
def test_without_repair_the_divergence_stays_and_anti_entropy_alone_fixes_it(ae, fixed):
    h = harness(anti_entropy=ae, sloppy=False, read_repair=False, anti_entropy_interval_s=0.05)
    c = h.clients[0]
    stale = home(h, K)[2]
    filt = h.add_filter(all_of(of_type(Replicate), to(stale)))
    h.submit(c, put(K, b"v1"))
    h.run_until(lambda: len(h.accepted()) == 1, max_time_s=0.01)
    h.remove_filter(filt)
    settle(h, 2.0)
    assert (held(h, stale, K) == [b"v1"]) is fixed
    assert judge(h).live is fixed


def _split_writes(h):
    """Clients on both sides of a partition write K concurrently through different coordinators."""
    pref = home(h, K)
    c1, c2 = h.clients
    side1 = {pref[0], c1}
    h.partition([side1, set(h.replicas + h.clients) - side1])
    h.submit(c1, put(K, b"left"))
    assert h.run_until(lambda: any(a.client == c1 for a in h.accepted()), max_time_s=1.0)
    settle(h, 0.01)
    h.submit(c2, put(K, b"right"))
    assert h.run_until(lambda: any(a.client == c2 for a in h.accepted()), max_time_s=2.0)
    h.heal()
    return pref


def test_concurrent_writes_surface_as_siblings_and_a_write_with_context_merges_them():
    h = harness(w=1, r=3, anti_entropy=True, anti_entropy_interval_s=0.05, client_timeout_s=0.1)
    pref = _split_writes(h)
    settle(h, 1.0)
    assert all(held(h, r, K) == [b"left", b"right"] for r in pref[:3])  # siblings everywhere, converged
    assert judge(h).live
    c1 = h.clients[0]
    h.submit(c1, get(K))
    h.run_until(lambda: len([a for a in h.accepted() if a.client == c1]) == 2)
    assert h.nodes[c1].counters.get("client.siblings_seen") == 1
    h.submit(c1, put(K, b"merged"))  # carries the clocks of both siblings as its context
    h.run_until(lambda: len([a for a in h.accepted() if a.client == c1]) == 3)
    settle(h, 1.0)
    assert all(held(h, r, K) == [b"merged"] for r in pref[:3])


def test_last_writer_wins_keeps_the_later_stamp_and_never_siblings():
    h = harness(w=1, r=3, mode="lww", anti_entropy=True, anti_entropy_interval_s=0.05, client_timeout_s=0.1)
    pref = _split_writes(h)
    settle(h, 1.0)
    assert all(held(h, r, K) == [b"right"] for r in pref[:3])  # "right" was written later
    c1 = h.clients[0]
    h.submit(c1, get(K))
    h.run_until(lambda: len([a for a in h.accepted() if a.client == c1]) == 2)
    assert [a for a in h.accepted() if a.client == c1][-1].result_digest == _digest(get_result(b"right"))
    assert not h.nodes[c1].counters.get("client.siblings_seen")


def test_merkle_summaries_agree_exactly_when_the_shared_keys_agree():
    h = harness(anti_entropy=False)
    c = h.clients[0]
    for i in range(6):
        h.submit(c, put(b"key%d" % i, b"v"))
    h.run_until(lambda: len(h.accepted()) == 6)
    a, b = 0, 1
    assert h.nodes[a].store.summary(b) == h.nodes[b].store.summary(a)
    shared = [k for k in h.nodes[a].store.shared(b)]
    assert shared
    h.nodes[b].store.data.pop(shared[0])
    ra, la = h.nodes[a].store.summary(b)
    rb, lb = h.nodes[b].store.summary(a)
    assert ra != rb and sum(x != y for x, y in zip(la, lb)) == 1


def test_accepted_count_is_one_per_request():
    h = harness()
    c = h.clients[0]
    for i in range(5):
        h.submit(c, put(b"key%d" % i, b"v"))
    h.run_until(lambda: len(h.accepted()) == 5)
    assert len({(a.client, a.ts) for a in h.events(Accepted)}) == 5


def test_a_request_may_carry_its_own_quorum():
    """W=3 for one write under a strict quorum with a home replica down: that write fails, the default W=2 works."""
    from bftlab.protocols.dynamo.client import quorum_op

    h = harness(sloppy=False, anti_entropy=False, ack_timeout_s=0.05, client_timeout_s=0.2)
    c1, c2 = h.clients
    h.crash(home(h, K)[2])
    h.submit(c1, quorum_op(put(K, b"all"), w=3))
    h.submit(c2, put(K, b"two"))
    settle(h, 1.0)
    assert [a.client for a in h.accepted()] == [c2]
    assert sum(h.nodes[r].counters.get("quorum.failed", 0) for r in home(h, K)[:2]) >= 2


@pytest.mark.parametrize("suspect_s,retries", [(1.0, 1), (0.0, 2)])
def test_a_client_avoids_a_coordinator_that_timed_out_for_client_suspect_s(suspect_s, retries):
    h = harness(client_timeout_s=0.1, client_suspect_s=suspect_s)
    client, key = h.clients[0], b"k"
    h.crash(home(h, key)[0])  # the key's first replica: a preference-routing client asks it first
    for i in (1, 2):
        h.submit(client, put(key, b"v%d" % i))
        assert h.run_until(lambda i=i: len(h.accepted()) == i, max_time_s=5.0)
    assert h.nodes[client].counters["client.retries"] == retries
