"""PBFT through the whole pipeline: spec -> simulator -> checker -> report.

Scenario tests cover the shipped configs; the property test draws random
network conditions (latency model, loss, a partition that heals) plus up to f
crashed replicas and checks agreement, validity and exactly-once, and that
every request completes once faults stop. A failing example prints the
`bftlab run` command that replays it.
"""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bftlab import pipeline
from bftlab.sim import runner
from bftlab.specs.spec import load_spec, spec_from_dict, spec_to_yaml
from tests.pbft.test_pbft_checkpoint import log_sizes

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_commits_every_request_safely():
    rep = pipeline.execute(load_spec(REPO / "configs" / "pbft-quickstart.yaml"))
    m = rep["metrics"]
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    assert m["committed"] == m["issued"] == 1000
    assert m["view_changes"] == 0
    # client -> primary -> pre-prepare -> prepare -> commit -> reply: 5 hops of 10 ms
    assert 0.050 <= m["latency_s"]["p50"] < 0.060
    assert {"PrePrepare", "Prepare", "Commit", "Reply", "Request"} <= set(m["messages"]["by_type"])


def test_crashed_primary_is_replaced_and_nothing_is_lost_or_repeated():
    rep = pipeline.execute(load_spec(REPO / "configs" / "pbft-crash-primary.yaml"))
    m = rep["metrics"]
    assert rep["safety"]["ok"], rep["safety"]["violations"]
    assert rep["liveness"]["ok"] and m["committed"] == m["issued"]
    assert m["view_changes"] >= 1
    assert m["messages"]["by_type"].get("ViewChange", 0) > 0 and m["messages"]["by_type"].get("NewView", 0) > 0


def one_way_spec(latency_ms: float, clients: int, requests: int, cpu: dict | None = None,
                 storage: dict | None = None, **params):
    return spec_from_dict({
        "name": "batching", "seed": 3, "n": 4,
        "protocol": {"name": "pbft", "params": params},
        "network": {"latency_model": "constant", "latency_ms": latency_ms, "bandwidth_mbps": 0},
        "cpu": ZERO_CPU if cpu is None else cpu,
        "storage": ZERO_DISK if storage is None else storage,  # PBFT syncs before it votes: a free disk here
        "workload": {"clients": clients, "mode": "closed", "requests": requests},
        "stop": {"time_limit_s": 60},
    })


ZERO_CPU = {"base_us": 0, "per_byte_ns": 0, "sign_us": 0, "verify_us": 0, "mac_us": 0,
            "hash_base_us": 0, "hash_per_byte_ns": 0}
ZERO_DISK = {"write_us": 0, "fsync_ms": 0}


@pytest.mark.parametrize("latency_ms", [1.0, 10.0, 40.0])
def test_a_lone_client_waits_five_one_way_delays_and_no_batch_timer(latency_ms):
    """TOCS'02 §5.1.4: with nothing in flight the primary proposes at once. request, pre-prepare,
    prepare, commit, reply: 5 one-way delays, and with free CPU and a free disk nothing else."""
    rep = pipeline.execute(one_way_spec(latency_ms, clients=1, requests=30, batch_timeout_s=0.05))
    lat = rep["metrics"]["latency_s"]
    assert rep["metrics"]["committed"] == 30
    five_hops = 5 * latency_ms / 1000
    assert lat["p50"] == lat["max"] == pytest.approx(five_hops, abs=1e-9)


def test_a_lone_client_pays_five_one_way_delays_plus_the_cpu_on_its_path():
    """With the default CPU costs the extra latency is the CPU on the critical path (well under
    a millisecond here), not the 50 ms batch timer."""
    rep = pipeline.execute(one_way_spec(10.0, clients=1, requests=30, cpu={}, batch_timeout_s=0.05))
    lat = rep["metrics"]["latency_s"]
    assert 0.050 < lat["p50"] <= lat["max"] < 0.051


def test_with_many_clients_requests_queue_behind_the_window_and_batches_form():
    sim = runner.build(one_way_spec(10.0, clients=64, requests=1280, cpu={}))
    sim.run()
    rep = sim.report(1.0)
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    # Seq numbers used at the primary vs requests executed: batches carry > 1 request on average.
    seqs = sim.nodes[0].last_exec
    assert rep["metrics"]["committed"] == 1280
    assert 1280 / seqs > 4, seqs


def base(**over):
    data = {"name": "prop", "seed": 1, "protocol": {"name": "pbft", "params": {"view_change_timeout_s": 0.3,
                                                                               "checkpoint_interval": 8,
                                                                               "log_window": 32}},
            "n": 4, "workload": {"clients": 3, "requests": 60}, "stop": {"time_limit_s": 120}}
    data.update(over)
    return spec_from_dict(data)


def test_same_seed_same_digest_different_seed_different_digest():
    net = {"latency_model": "lognormal", "latency_ms": 8, "lognormal_sigma": 0.6}
    a, b, c = (pipeline.execute(base(seed=s, network=net)) for s in (5, 5, 6))
    assert a["trace_digest"] == b["trace_digest"]
    assert a["trace_digest"] != c["trace_digest"]
    assert a["metrics"] == b["metrics"]


def test_checkpoints_keep_replica_logs_bounded_over_a_long_run():
    sim = runner.build(base(workload={"clients": 8, "requests": 3000}))
    sim.run()
    rep = sim.report(1.0)
    assert rep["liveness"]["ok"] and rep["safety"]["ok"]
    window = sim.spec.protocol.params.log_window
    for nid in sim.replicas:
        sizes = log_sizes(sim.nodes[nid])
        assert max(sizes.values()) <= window, (nid, sizes)


network_conditions = st.fixed_dictionaries({
    "latency_model": st.sampled_from(["constant", "uniform", "normal", "lognormal"]),
    "latency_ms": st.floats(1.0, 30.0),
    "jitter_ms": st.floats(0.0, 1.0),
})


def replay_file(spec) -> str:
    """Write a failing spec where a person can run it; return the command."""
    path = Path(tempfile.mkdtemp(prefix="bftlab-failure-")) / "spec.yaml"
    path.write_text(spec_to_yaml(spec))
    return f"replay with: bftlab run {path}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.sampled_from([4, 7]),
    net=network_conditions,
    loss=st.sampled_from([0.0, 0.02, 0.1, 0.3]),
    persistent_loss=st.sampled_from([0.0, 0.0, 0.0, 0.05]),
    partition=st.one_of(st.none(), st.tuples(st.floats(0.0, 1.0), st.floats(0.1, 1.5), st.integers(0, 6))),
    crashes=st.lists(st.tuples(st.integers(0, 6), st.floats(0.0, 1.5)), max_size=2),
)
# Found by this test: with replica 1 down, lost VIEW-CHANGEs left replica 3 in view 3 and the others in view 2
# with no timer running (the paper's 2f+1 rule for arming it); see protocols/pbft/viewchange.py.
@example(seed=216006, n=4, net={"latency_model": "lognormal", "latency_ms": 4.0, "jitter_ms": 0.0}, loss=0.3,
         persistent_loss=0.0, partition=None, crashes=[(1, 0.0)])
def test_faults_within_f_never_break_safety_and_every_request_completes(
        seed, n, net, loss, persistent_loss, partition, crashes):
    """Loss (until 2 s), a healing partition and up to f crashes: safe, and live once faults stop.

    With loss that never stops (``persistent_loss``) only safety is required:
    PBFT has no normal-case retransmission, so progress is not guaranteed then.
    """
    f = (n - 1) // 3
    net = dict(net, jitter_ms=net["jitter_ms"] * net["latency_ms"], loss=persistent_loss)
    if partition is not None:
        start, length, who = partition
        net["partitions"] = [{"start_s": start, "end_s": start + length, "groups": [[who % n]]}]
    faults, seen = [], set()
    for node, at in crashes:
        if len(faults) < f and node % n not in seen:
            seen.add(node % n)
            faults.append({"node": node % n, "crash_at_s": at})
    adversary = [{"strategy": "random-delay", "params": {"drop": loss, "delay_max_s": 0.0, "end_s": 2.0}}]
    spec = base(seed=seed, n=n, network=net, faults=faults, adversary=adversary if loss else [])
    rep = pipeline.execute(spec)
    if not rep["safety"]["ok"]:
        raise AssertionError(f"{rep['safety']['violations'][:3]}\n{replay_file(spec)}")
    if not persistent_loss and not rep["liveness"]["ok"]:
        raise AssertionError(f"pending {rep['liveness']['pending'][:5]}\n{replay_file(spec)}")
