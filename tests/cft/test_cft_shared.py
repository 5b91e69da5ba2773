"""The client and the KV machine the crash-fault protocols share: retries are idempotent, redirects bounded."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bftlab.api import (
    Accepted,
    Broadcast,
    Issued,
    NodeContext,
    Observe,
    Receive,
    Send,
    SetTimer,
    Submit,
    TimerFired,
    observed_digest,
)
from bftlab.core import kv
from bftlab.protocols.cft import CftClient, ClientReply, ClientRequest, KvMachine, Redirect


def client(incarnation_us: int = 0) -> CftClient:
    ctx = NodeContext(node_id=3, n=3, f=1, replicas=(0, 1, 2), clients=(3,), crypto=None,  # type: ignore[arg-type]  # the client signs nothing
                      rng=random.Random(0), params=None, incarnation_us=incarnation_us)
    return CftClient(ctx, retry_s=0.5)


def test_a_retried_command_executes_once_and_answers_with_the_first_result():
    m = KvMachine()
    put = kv.encode_op("put", b"k", b"1")
    first, entry = m.apply(7, 10, put)
    assert entry is not None and m.data == {b"k": b"1"}
    m.apply(8, 1, kv.encode_op("put", b"k", b"2"))
    again, dup = m.apply(7, 10, put)  # committed twice across a leader change
    assert dup is None and again == first and m.data == {b"k": b"2"}
    assert m.apply(7, 9, put) == (None, None)  # older than the client's last request: already answered
    assert m.answered(7, 10) == first and m.answered(7, 9) is None


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.sampled_from(["put", "get", "del"]),
                          st.binary(max_size=2)), max_size=40))
def test_a_snapshot_restores_the_same_machine_and_replicas_applying_one_log_agree(log):
    a, b = KvMachine(), KvMachine()
    for client_id, ts, kind, key in log:
        op = kv.encode_op(kind, key, b"v%d" % ts)
        assert a.apply(client_id, ts, op) == b.apply(client_id, ts, op)
    c = KvMachine.restore(a.snapshot())
    assert (c.data, c.sessions) == (a.data, a.sessions) and c.snapshot() == a.snapshot()


def test_the_client_sends_to_the_leader_follows_a_redirect_and_retries_everyone_with_the_same_ts():
    c = client(incarnation_us=5_000)
    out = c.step(0.0, Submit(b"op"))
    sends = [a for a in out if type(a) is Send]
    assert len(sends) == 1 and sends[0].to == 0
    req = sends[0].msg
    assert req.ts > 5_000 and any(type(a) is Observe and type(a.event) is Issued for a in out)
    out = c.step(0.1, Receive(0, Redirect(3, req.ts, 0, 2)))
    assert [(a.to, a.msg) for a in out if type(a) is Send] == [(2, req)]
    out = c.step(0.6, TimerFired("retry"))
    assert [a.msg for a in out if type(a) is Broadcast] == [req] and any(type(a) is SetTimer for a in out)
    out = c.step(0.7, Receive(1, ClientReply(3, req.ts, b"r", 1, 1)))
    assert [type(a.event) for a in out if type(a) is Observe] == [Accepted] and c.leader == 1


def test_stale_redirects_cannot_bounce_a_request_forever():
    c = client()
    req = c.step(0.0, Submit(b"op"))[1].msg
    sent = 0
    for i in range(100):
        out = c.step(0.01 * i, Receive(i % 2 + 1, Redirect(3, req.ts, i % 2 + 1, 2 - i % 2)))
        sent += sum(1 for a in out if type(a) is Send)
    assert sent == 2 * 3


def test_replies_from_non_replicas_or_for_another_request_are_dropped():
    c = client()
    req = c.step(0.0, Submit(b"op"))[1].msg
    assert c.step(0.1, Receive(9, ClientReply(3, req.ts, b"r", 9, 0))) == []
    assert c.step(0.1, Receive(1, ClientReply(3, req.ts + 1, b"r", 1, 0))) == []
    assert c.step(0.1, Receive(1, ClientReply(3, req.ts, b"r", 2, 0))) == []  # claims another sender
    assert c.step(0.1, Receive(1, ClientRequest(3, req.ts, b"x"))) == []
    assert c.outstanding == req and c.counters["drop.bad_sender"] == 2


def test_the_machine_keeps_when_each_key_last_changed_and_reports_it_as_a_final_state():
    m = KvMachine()
    m.apply(9, 1, kv.encode_op("put", b"a", b"x"), now=1.0)
    m.apply(9, 2, kv.encode_op("put", b"a", b"x"), now=2.0)  # same value: no change
    m.apply(9, 3, kv.encode_op("get", b"a"), now=3.0)
    m.apply(9, 4, kv.encode_op("put", b"b", b"y"), now=4.0)
    assert m.changed_at == {b"a": 1.0, b"b": 4.0}
    state = m.final_state((0, 1, 2))
    assert state["store"] == {"61": [observed_digest(b"x").hex()], "62": [observed_digest(b"y").hex()]}
    assert state["replicas_of"] == {"61": [0, 1, 2], "62": [0, 1, 2]}
    assert state["changed_at_s"] == {"61": 1.0, "62": 4.0}
    restored = KvMachine.restore(m.snapshot(), now=7.5)
    assert restored.data == m.data and restored.changed_at == {b"a": 7.5, b"b": 7.5}
