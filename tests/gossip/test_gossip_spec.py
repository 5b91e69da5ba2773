"""Gossip parameters and specs: bad values are refused with the key that is wrong."""

from __future__ import annotations

import pytest

from bftlab.errors import ConfigError
from bftlab.protocols.gossip import PROTOCOL, final_state, make_replica
from bftlab.protocols.gossip.params import GossipParams
from bftlab.protocols.gossip.store import Store
from bftlab.specs.schema import FieldError
from tests.gossip.helpers import gossip_spec


@pytest.mark.parametrize("bad, field", [
    ({"k": 0}, "k"), ({"anti_entropy_period_s": 0.0}, "anti_entropy_period_s"), ({"trials": 0}, "trials"),
    ({"death_certificate_ttl_s": -1.0}, "death_certificate_ttl_s"),
    ({"schedule": "sequential", "algorithm": "push"}, "schedule"),
])
def test_bad_parameters_name_their_key(bad, field):
    with pytest.raises(FieldError) as exc:
        GossipParams(**bad)
    assert exc.value.field == field


def test_the_engines_have_size_limits():
    with pytest.raises((ConfigError, FieldError)):
        gossip_spec(n=5000)  # messages: at most 2000 replicas
    assert gossip_spec(n=5000, engine="rounds").n == 5000


def test_the_fault_model_counts_no_replicas_and_f_is_zero():
    spec = gossip_spec(n=5)
    assert spec.f == 0 and PROTOCOL.fault_model.counted is False


def test_the_clock_orders_writes_after_everything_seen():
    a, b = Store(0), Store(1)
    t1 = a.write(b"k", b"x", now_us=1_000)
    assert b.merge(b"k", b"x", t1, now_us=10)  # b's own clock is behind a's
    t2 = b.write(b"k", b"y", now_us=20)  # a write after reading must win although b's clock says 20 us
    assert t2 > t1
    assert a.merge(b"k", b"y", t2, now_us=1_001) and a.read(b"k") == b"y"
    assert not a.merge(b"k", b"x", t1, now_us=1_002)  # an older copy arriving late changes nothing
    t3 = a.write(b"k", None, now_us=1_003)  # delete: a death certificate, newer than everything
    assert t3 > t2 and a.read(b"k") is None and b"k" in a.data


def test_equal_stores_have_equal_roots_whatever_the_order_of_merges():
    writes = [(b"a", b"1", (5, 0, 0)), (b"b", b"2", (6, 0, 1)), (b"a", b"3", (7, 0, 2)), (b"c", None, (8, 0, 0))]
    x, y = Store(0), Store(1)
    for key, value, ts in writes:
        x.merge(key, value, ts, now_us=0)
    for key, value, ts in reversed(writes):
        y.merge(key, value, ts, now_us=0)
    assert x.root() == y.root() and x.final_state()["store"] == y.final_state()["store"]
    y.merge(b"d", b"4", (9, 0, 1), now_us=0)
    assert x.root() != y.root()


def test_final_state_is_plain_data_in_the_convergence_layout():
    from bftlab.api import NodeContext
    from bftlab.core import seeds

    node = make_replica(NodeContext(0, 3, 0, (0, 1, 2), (3,), None, seeds.rng(1, "x"), GossipParams()))  # type: ignore[arg-type]
    node.store.write(b"\x01", b"v", now_us=5)
    node.store.write(b"\x02", None, now_us=6)
    state = final_state(node)
    assert state["entries"] == {"01": ["76", [5, 0, 0]], "02": [None, [6, 0, 0]]}
    assert state["store"]["02"] == ["tombstone@6.0.0"] and state["store"]["01"][0].endswith("@5.0.0")
