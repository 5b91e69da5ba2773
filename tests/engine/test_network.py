"""Network model: latency models, bandwidth, loss, partitions."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bftlab.core.kernel import NS
from bftlab.errors import ConfigError
from bftlab.sim.network import Network, latency_sampler, partition_window


def net(model="constant", **kw):
    rng = random.Random(1)
    sampler = latency_sampler(model, rng, kw.pop("latency_ms", 10.0), kw.pop("jitter_ms", 0.0),
                              kw.pop("lognormal_sigma", 0.5), kw.pop("region_of", None), kw.pop("matrix", None))
    return Network(4, sampler, random.Random(2), **kw)


def test_constant_latency_without_bandwidth_limit():
    assert net().arrival(0, 1, 1000, 0) == 10 * NS // 1000


def test_bandwidth_serialises_messages_on_the_uplink():
    n = net(bandwidth_mbps=8.0)  # 1 byte per microsecond
    first = n.arrival(0, 1, 1000, 0)
    second = n.arrival(0, 2, 1000, 0)
    assert first == 1000 * 1000 + 10_000_000
    assert second == 2000 * 1000 + 10_000_000
    assert n.arrival(1, 0, 1000, 0) == first  # other sender's uplink is free


def test_partition_drops_across_groups_only_inside_the_window():
    p = partition_window(1.0, 2.0, [[0], [1, 2]], 4)
    n = net(partitions=[p])
    assert n.arrival(0, 1, 10, int(1.5 * NS)) is None
    assert n.arrival(1, 2, 10, int(1.5 * NS)) is not None
    assert n.arrival(0, 3, 10, int(1.5 * NS)) is None  # 3 is unlisted: its own group
    assert n.arrival(0, 1, 10, int(2.0 * NS)) is not None  # healed
    assert n.dropped == {"partition": 2}


def test_loss_rate_matches_probability():
    n = net(loss=0.25)
    lost = sum(n.arrival(0, 1, 10, 0) is None for _ in range(20_000))
    assert 0.23 < lost / 20_000 < 0.27


@pytest.mark.parametrize("model", ["uniform", "normal", "lognormal"])
def test_random_models_are_non_negative_and_centred(model):
    n = net(model, latency_ms=20.0, jitter_ms=5.0, lognormal_sigma=0.3)
    xs = [n.arrival(0, 1, 0, 0) / NS for _ in range(5000)]
    assert min(xs) >= 0
    xs.sort()
    assert 0.017 < xs[len(xs) // 2] < 0.023


def test_region_matrix():
    n = net("regions", region_of=[0, 0, 1, 1], matrix=[[1, 80], [80, 2]])
    assert n.arrival(0, 1, 0, 0) == NS // 1000
    assert n.arrival(0, 2, 0, 0) == 80 * NS // 1000
    assert n.arrival(3, 2, 0, 0) == 2 * NS // 1000


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="latency_model"):
        net("gaussian-ish")


def test_partition_naming_a_missing_node_is_a_config_error():
    with pytest.raises(ConfigError, match="node 7"):
        partition_window(0, 1, [[7]], 4)


@given(st.integers(0, 2**32), st.sampled_from(["uniform", "normal", "lognormal"]))
def test_same_seed_same_delays(seed, model):
    def draws():
        s = latency_sampler(model, random.Random(seed), 10.0, 3.0, 0.4)
        return [s(0, 1) for _ in range(20)]

    assert draws() == draws()
