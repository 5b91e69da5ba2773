"""Transactions, the transaction client and the participant store shared by the commit protocols."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bftlab.api import Accepted, Issued, NodeContext, Observe, Receive, Send, Submit, TimerFired
from bftlab.core.kv import encode_op
from bftlab.protocols.txn import ShardStore, TxnClient, TxnConfig, TxnOutcome, make_writes, shard_of


def test_a_transaction_writes_its_key_at_k_consecutive_shards_from_the_home_shard():
    op = encode_op("put", b"k7", b"v")
    writes = make_writes(op, 5, 3)
    home = shard_of(b"k7", 5)
    assert [s for s, _, _ in writes] == [home, (home + 1) % 5, (home + 2) % 5]
    assert {(k, v) for _, k, v in writes} == {(b"k7", b"v")}
    assert make_writes(b"garbage", 5, 1) == ((shard_of(b"", 5), b"", b""),)


def test_a_conflict_votes_no_for_good_and_locks_are_released_by_the_outcome():
    s = ShardStore(0, random.Random(0))
    w = ((b"a", b"1"),)
    assert s.prepare((1, 1), w) and s.prepare((1, 1), w)  # asked again: the same yes
    assert not s.prepare((2, 1), w)  # a's lock is held: no
    s.commit((1, 1))
    assert not s.prepare((2, 1), w)  # a no vote stays no
    assert s.prepare((2, 2), w) and s.final_state()["uncertain"] == [[2, 2]]
    s.abort((2, 2))
    assert s.data == {b"a": b"1"} and not s.locks and s.final_state()["applied"] == [[1, 1]]
    s.commit((1, 1))  # a decision delivered twice is harmless


@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from([b"a", b"b", b"c"]), st.booleans()), max_size=30))
def test_a_restored_store_equals_the_one_that_crashed(steps):
    s = ShardStore(0, random.Random(0))
    records, outcomes = [], {}
    for i, (client, key, commit) in enumerate(steps):
        txn, writes = (client, i), ((key, b"%d" % i),)
        if s.prepare(txn, writes):
            records.append(ShardStore.prepared_record(txn, writes))
            if commit:
                s.commit(txn)
            elif i % 3:  # some stay prepared (uncertain)
                s.abort(txn)
            else:
                continue
            outcomes[txn] = commit
    r = ShardStore(0, random.Random(0))
    r.restore(records, outcomes)
    assert (r.data, r.locks, r.prepared, list(r.applied)) == (s.data, s.locks, s.prepared, list(s.applied))


def client(cfg: TxnConfig) -> TxnClient:
    ctx = NodeContext(node_id=9, n=4, f=0, replicas=(0, 1, 2, 3), clients=(9,), crypto=None,  # type: ignore[arg-type]
                      rng=random.Random(0), params=None, incarnation_us=100)
    return TxnClient(ctx, cfg, coordinators=(3,))


def test_the_client_resends_the_same_attempt_and_retries_an_abort_with_a_fresh_id():
    c = client(TxnConfig(shards=3, shards_per_txn=2, max_attempts=2))
    out = c.step(0.0, Submit(encode_op("put", b"k", b"v")))
    (issued,) = [a.event for a in out if type(a) is Observe and type(a.event) is Issued]
    (first,) = [a.msg for a in out if type(a) is Send]
    assert first.ts == issued.ts > 100 and len(first.writes) == 2
    again = [a.msg for a in c.step(0.6, TimerFired("txn-retry")) if type(a) is Send]
    assert again == [first]  # unanswered: the same id
    retry = [a.msg for a in c.step(0.7, Receive(3, TxnOutcome(9, first.ts, False, 3))) if type(a) is Send]
    assert len(retry) == 1 and retry[0].ts > first.ts and retry[0].writes == first.writes
    out = c.step(0.8, Receive(3, TxnOutcome(9, retry[0].ts, False, 3)))  # second abort: out of attempts
    (acc,) = [a.event for a in out if type(a) is Observe]
    assert type(acc) is Accepted and acc.ts == issued.ts and c.request is None


def test_outcomes_for_other_attempts_or_from_non_coordinators_are_dropped():
    c = client(TxnConfig())
    first = [a.msg for a in c.step(0.0, Submit(b"x")) if type(a) is Send][0]
    assert c.step(0.1, Receive(2, TxnOutcome(9, first.ts, True, 2))) == []
    assert c.step(0.1, Receive(3, TxnOutcome(9, first.ts + 1, True, 3))) == []
    assert c.counters == {"drop.bad_sender": 1, "drop.stale_reply": 1} and c.attempt == first
