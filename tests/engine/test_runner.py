"""The simulated runtime and runner, end to end, on a small toy protocol."""


from bftlab import pipeline
from bftlab.api import Send
from bftlab.specs.spec import spec_from_dict

TOY = "tests.engine.toyproto:TOY"


def spec(**over):
    data = {"name": "toy", "protocol": {"name": TOY}, "n": 4, "seed": 3,
            "workload": {"clients": 3, "requests": 60}, "stop": {"time_limit_s": 30}}
    for key, value in over.items():
        data[key] = value
    return spec_from_dict(data)


def test_toy_run_commits_everything_safely():
    rep = pipeline.execute(spec())
    m = rep["metrics"]
    assert m["committed"] == m["issued"] == 60
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    assert m["messages"]["by_type"]["Order"] == 60 * 3  # broadcast to 3 other replicas
    assert m["latency_s"]["p50"] > 0.02  # client->leader->replica->client >= 3 hops of 10 ms
    assert rep["run"]["events"] > 0 and rep["transport"] == "sim"


def test_same_seed_same_digest_different_seed_different_digest():
    a = pipeline.execute(spec(network={"latency_model": "uniform", "latency_ms": 10, "jitter_ms": 5}))
    b = pipeline.execute(spec(network={"latency_model": "uniform", "latency_ms": 10, "jitter_ms": 5}))
    c = pipeline.execute(spec(seed=4, network={"latency_model": "uniform", "latency_ms": 10, "jitter_ms": 5}))
    assert a["trace_digest"] == b["trace_digest"] != c["trace_digest"]
    assert a["metrics"] == b["metrics"]


def test_cpu_cost_saturates_the_leader():
    """At 1 ms per input the leader (2 inputs per request) caps throughput near 500 requests/s."""
    fast = pipeline.execute(spec(workload={"clients": 100, "requests": 1000}))
    slow = pipeline.execute(spec(workload={"clients": 100, "requests": 1000}, cpu={"base_us": 1000.0}))
    assert slow["metrics"]["throughput_rps"] < 1000
    assert fast["metrics"]["throughput_rps"] > 2 * slow["metrics"]["throughput_rps"]


def test_loss_is_survived_by_client_retransmission():
    rep = pipeline.execute(spec(network={"loss": 0.05}, protocol={"name": TOY, "params": {"retry_s": 0.1}}))
    # the toy leader ignores duplicates, so lost Orders can stall; what we check is the engine's accounting
    assert rep["metrics"]["dropped"].get("loss", 0) > 0


def test_crashed_leader_stalls_and_liveness_reports_pending():
    rep = pipeline.execute(spec(faults=[{"node": 0, "crash_at_s": 0.2}], stop={"time_limit_s": 3}))
    assert rep["safety"]["ok"]
    assert not rep["liveness"]["ok"] and rep["liveness"]["pending_count"] > 0
    assert rep["metrics"]["dropped"]["receiver_down"] > 0


def test_checker_catches_a_lying_replica():
    rep = pipeline.execute(spec(protocol={"name": "tests.engine.toyproto:LYING"}))
    kinds = {v["kind"] for v in rep["safety"]["violations"]}
    assert not rep["safety"]["ok"] and "divergence" in kinds


def test_partition_delays_until_heal():
    part = {"partitions": [{"start_s": 0.0, "end_s": 1.0, "groups": [[0]]}]}
    rep = pipeline.execute(spec(network=part, protocol={"name": TOY, "params": {"retry_s": 0.25}}))
    assert rep["liveness"]["ok"]
    assert rep["metrics"]["latency_s"]["max"] >= 1.0


def test_clients_boot_before_their_first_request():
    """Start is the first input of every node, so a client's first request goes to the leader only."""
    rep = pipeline.execute(spec(workload={"clients": 3, "requests": 3}))
    assert rep["metrics"]["messages"]["by_type"]["Req"] == 3


def test_open_loop_with_a_request_cap_stops_when_the_last_request_completes():
    rep = pipeline.execute(spec(workload={"clients": 2, "mode": "open", "rate_rps": 100.0, "requests": 20}))
    assert rep["liveness"]["ok"] and rep["metrics"]["committed"] == 20
    assert rep["run"]["sim_time_s"] < 1.0  # not the 30 s time limit


def test_a_busy_node_crashes_after_its_step_so_none_of_its_output_survives_it():
    import random

    from bftlab.api import Start
    from bftlab.core.costs import ZERO_COSTS
    from bftlab.core.kernel import NS, Kernel
    from bftlab.sim.network import Network, latency_sampler
    from bftlab.sim.runtime import SimRuntime

    class Slow:
        node_id = 0

        def step(self, now, inp):
            return [Send(1, b"late")] if type(inp) is Start else []

    class Sink:
        node_id = 1
        got = []

        def step(self, now, inp):
            self.got.append(inp)
            return []

    class Meter:
        def drain(self):
            return 1.0  # every step costs one second

    k = Kernel()
    net = Network(2, latency_sampler("constant", random.Random(1), 1.0), random.Random(2))
    rt = SimRuntime(k, net, ZERO_COSTS, lambda t, e: None)
    rt.add_node(Slow(), meter=Meter())
    sink = Sink()
    rt.add_node(sink, costed=False)
    rt.start_all()
    k.schedule(NS // 2, rt.crash, 0)  # while node 0 is busy with its Start
    k.run()
    assert [type(i).__name__ for i in sink.got] == ["Start", "Receive"]  # the step completed, then the crash
    assert not rt.hosts[0].alive


def test_key_skew_concentrates_operations_on_few_keys_and_zero_keeps_the_uniform_stream():
    import collections
    import random

    from bftlab.core.kv import decode_op
    from bftlab.sim.workload import OpGenerator

    def counts(skew: float) -> collections.Counter:
        gen = OpGenerator(random.Random(7), 64, 1000, 0.0, skew)
        return collections.Counter(decode_op(gen.next())[1] for _ in range(20_000))

    uniform, hot = counts(0.0), counts(1.1)
    legacy = OpGenerator(random.Random(7), 64, 1000, 0.0)
    assert [decode_op(legacy.next())[1] for _ in range(50)] == [k for k in list(_stream(0.0))[:50]]
    assert max(uniform.values()) < 60 and hot[b"k0"] > 10 * max(uniform.values())
    top10 = sum(c for _, c in hot.most_common(10))
    assert top10 > 0.4 * 20_000 and set(hot) <= {b"k%d" % i for i in range(1000)}


def _stream(skew: float):
    import random

    from bftlab.core.kv import decode_op
    from bftlab.sim.workload import OpGenerator

    gen = OpGenerator(random.Random(7), 64, 1000, 0.0, skew)
    for _ in range(50):
        yield decode_op(gen.next())[1]
