"""Peer misbehaviour is dropped and counted, never raised."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.api import Receive, Submit, TimerFired
from bftlab.errors import ConfigError
from bftlab.protocols.pbft import PbftParams
from bftlab.protocols.pbft.messages import (
    MESSAGE_TYPES,
    PREPARE,
    Checkpoint,
    Commit,
    NewView,
    Prepare,
    PrePrepare,
    Reply,
    Request,
    ViewChange,
    vote_body,
)

from .helpers import assert_live, assert_safe, harness, submit_round


def test_unauthenticated_and_forged_messages_are_dropped_and_counted():
    h = harness(n=4, clients=1)
    node = h.nodes[1]
    d = b"d" * 32
    # A prepare claiming to be from replica 2 but MAC'd by replica 3.
    forged = Prepare(0, 1, d, 2, h.crypto(3).authenticate(vote_body(PREPARE, 0, 1, d, 2), h.replicas))
    node.step(0.0, Receive(2, forged))
    # Right sender, garbage authenticator.
    node.step(0.0, Receive(2, Prepare(0, 1, d, 2, (b"x" * 32,) * 4)))
    # Sender field disagrees with the link.
    node.step(0.0, Receive(3, Prepare(0, 1, d, 2, ())))
    # A request with a bad client authenticator.
    node.step(0.0, Receive(4, Request(b"op", 1, 4, (b"",) * 4)))
    # A pre-prepare from a backup.
    node.step(0.0, Receive(2, PrePrepare(0, 1, d, (), ())))
    # A checkpoint with a bad signature.
    node.step(0.0, Receive(2, Checkpoint(64, d, 2, b"sig")))
    assert node.counters == {"drop.bad_auth": 4, "drop.bad_sender": 1, "drop.not_primary": 1}
    assert node.log.slots.get((0, 1)) is None or not node.log.slots[(0, 1)].prepares
    assert node.pending == {}


@pytest.mark.parametrize(
    "msg",
    [
        Prepare(-1, -5, b"", -3, ()),
        Prepare(0, 10**30, b"x", 2, ()),
        Prepare("0", 1, b"x", 2, ()),  # type: ignore[arg-type]
        Commit(0, 1, "digest", 2, (1, 2)),  # type: ignore[arg-type]
        PrePrepare(0, 1, b"d", ("not a request",), ()),  # type: ignore[arg-type]
        PrePrepare(0, 1, b"d", (Request(b"o", 1, 4, ()),), None),  # type: ignore[arg-type]
        Request(b"o", -1, 10**40, ()),
        Request(b"o", 1, 4, (None,)),  # type: ignore[arg-type]
        ViewChange(10**30, -1, (), (), 2, b""),
        ViewChange(1, 0, ("x",), (), 2, b""),  # type: ignore[arg-type]
        NewView(1, (), (), 1, b""),
        NewView(5, ("vc",), (), 1, b""),  # type: ignore[arg-type]
        Checkpoint(-64, b"", 2, b""),
        Reply(0, 1, 4, 2, b"", ()),
        "garbage",
        None,
        (1, 2, 3),
    ],
)
def test_garbage_is_dropped_not_raised(msg):
    h = harness(n=4, clients=1)
    for r in h.replicas:
        node = h.nodes[r]
        node.step(0.0, Receive(2 if r != 2 else 1, msg))
        assert sum(node.counters.values()) == 1, node.counters
    client = h.nodes[h.clients[0]]
    client.step(0.0, Receive(1, msg))
    assert sum(client.counters.values()) == 1
    # The cluster still works afterwards.
    submit_round(h, "after")
    assert h.stabilize()
    assert_live(h)


_ints = st.one_of(st.integers(-3, 12), st.integers(min_value=2**63), st.just(True))
_bytes = st.one_of(st.binary(max_size=40), st.just(b"\x00" * 32))
_field = st.one_of(_ints, _bytes, st.tuples(_bytes, _bytes), st.none(), st.text(max_size=3))


@st.composite
def garbage_messages(draw):
    cls = draw(st.sampled_from([c for c in MESSAGE_TYPES]))
    n = len(cls.__dataclass_fields__)
    return cls(*draw(st.lists(_field, min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(msgs=st.lists(st.tuples(st.integers(0, 6), garbage_messages()), min_size=1, max_size=8))
def test_random_garbage_never_raises_and_never_breaks_safety(msgs):
    h = harness(n=4, clients=1)
    for sender, msg in msgs:
        for r in h.replicas:
            if r != sender:
                h.nodes[r].step(0.0, Receive(sender, msg))
    submit_round(h, "g")
    assert h.stabilize()
    assert_safe(h)
    assert_live(h)


def test_submit_to_a_replica_and_unknown_timers_are_counted():
    h = harness(n=4, clients=1)
    node = h.nodes[1]
    assert node.step(0.0, Submit(b"x")) == []
    assert node.step(0.0, TimerFired("nonsense")) == []
    assert node.counters == {"drop.submit_to_replica": 1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size_max": 0},
        {"batch_timeout_s": -1.0},
        {"checkpoint_interval": 0},
        {"checkpoint_interval": 64, "log_window": 32},
        {"view_change_timeout_s": 0},
        {"client_retry_timeout_s": "1"},
        {"auth": "rsa"},
        {"batch_size_max": 2.5},
    ],
)
def test_bad_params_raise_config_error_naming_the_field(kwargs):
    with pytest.raises(ConfigError) as err:
        PbftParams(**kwargs)
    assert list(kwargs)[-1] in str(err.value)
