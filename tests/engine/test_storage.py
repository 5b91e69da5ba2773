"""The storage seam: Persist/Sync/Synced, the simulated disk and the persisted-state crash model.

A counter replica (tests/engine/durableproto.py) persists each increment and
acknowledges only after Synced. Its planted twin acknowledges at once; the
durability checker ``lost_acks`` must catch it losing an acknowledged write,
and must never fire on the correct one.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bftlab.api import Persist, Start, Sync, Synced
from bftlab.core.host import execute
from bftlab.core.kernel import NS
from bftlab.core.storage import SimDisk, encode_record, scan
from bftlab.errors import ConfigError, InvariantError
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict
from bftlab.testing import Harness
from tests.engine.durableproto import COUNTER, Acked, Recovered, lost_acks

CORRECT = "tests.engine.durableproto:COUNTER"
EAGER = "tests.engine.durableproto:EAGER"


def make_spec(proto: str = CORRECT, *, seed: int = 1, storage: dict | None = None, faults: list | None = None,
              requests: int = 40, clients: int = 2) -> object:
    return spec_from_dict({
        "name": "durable", "seed": seed, "protocol": {"name": proto}, "n": 3,
        "network": {"latency_ms": 1.0, "latency_model": "uniform", "jitter_ms": 0.5},
        "workload": {"clients": clients, "requests": requests},
        "storage": storage or {}, "faults": faults or [], "trace": {"keep": True}, "stop": {"time_limit_s": 20.0},
    })


def simulate(spec: object) -> runner.Simulation:
    sim = runner.build(spec)
    sim.run()
    return sim


def disk(faults: str = "lose-unsynced", seed: int = 0, write_ns: int = 0, fsync_ns: int = 1000) -> SimDisk:
    return SimDisk(write_ns, fsync_ns, faults, random.Random(seed))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the simulated disk
def test_recovery_returns_the_last_synced_value_per_key():
    d = disk()
    d.persist(0, "a", b"1")
    d.persist(0, "b", b"x")
    d.persist(0, "a", b"2")
    done = d.sync(0, "t1")
    assert d.fsync_done(done) == (["t1"], None)
    d.persist(done, "a", b"3")  # never synced
    d.crash()
    assert d.recover() == {"a": b"2", "b": b"x"}
    assert d.stats["lost_records"] == 1


def test_unsynced_writes_survive_a_process_crash_but_not_power_loss():
    for faults, expect in (("none", b"2"), ("lose-unsynced", b"1")):
        d = disk(faults)
        d.persist(0, "k", b"1")
        d.fsync_done(d.sync(0, None))
        d.persist(0, "k", b"2")
        d.crash()
        assert d.recover() == {"k": expect}, faults


def test_a_crash_cancels_the_syncs_in_flight():
    d = disk()
    d.persist(0, "k", b"1")
    assert d.sync(0, "t") is not None
    d.crash()
    assert d.inflight is None and d.waiting == [] and d.recover() == {}


def test_group_commit_answers_every_sync_issued_during_an_fsync_with_one_more_fsync():
    d = disk(fsync_ns=1000, write_ns=10)
    d.persist(0, "a", b"1")
    first = d.sync(0, "t0")
    assert first == 10 + 1000  # waits for the write, then one fsync
    for i in range(1, 4):
        d.persist(100 * i, f"k{i}", b"v")
        assert d.sync(100 * i, f"t{i}") is None  # one is in flight: wait for the next
    tokens, nxt = d.fsync_done(first)
    assert tokens == ["t0"] and nxt == first + 1000
    assert d.fsync_done(nxt) == (["t1", "t2", "t3"], None)
    assert d.stats["fsyncs"] == 2 and d.stats["syncs"] == 4 and d.durable == 4


def test_a_sync_with_nothing_new_costs_no_fsync():
    d = disk()
    d.persist(0, "a", b"1")
    d.fsync_done(d.sync(0, 1))
    assert d.sync(5000, 2) == 5000 and d.stats["fsyncs"] == 1


@pytest.mark.parametrize("seed", range(40))
def test_a_torn_tail_is_detected_by_its_checksum_and_cut(seed):
    d = disk("torn-tail", seed)
    d.persist(0, "durable", b"yes")
    d.fsync_done(d.sync(0, None))
    values = [f"v{i}".encode() * (i + 1) for i in range(6)]
    for v in values:
        d.persist(0, "k", v)
    d.crash()
    got = d.recover()
    assert got["durable"] == b"yes"  # synced records always survive
    # What survives of the unsynced records is a prefix: the last value of that prefix, or none of them.
    assert got.get("k") in (None, *values)
    prefix = 0 if "k" not in got else values.index(got["k"]) + 1
    assert scan(b"".join(d.log)).problem is None and scan(b"".join(d.log)).records == 1 + prefix
    assert d.stats["torn_cut"] == (1 if prefix < len(values) else 0)
    d.persist(0, "after", b"ok")  # the log goes on after the cut
    assert scan(b"".join(d.log)).values["after"] == b"ok"


def test_scan_stops_at_a_record_cut_short_or_with_a_bad_checksum():
    recs = [encode_record(f"k{i}", bytes([i]) * 5) for i in range(3)]
    data = b"".join(recs)
    assert scan(data).values == {"k0": b"\0" * 5, "k1": b"\1" * 5, "k2": b"\2" * 5}
    assert scan(data[:-1]).problem == "truncated" and scan(data[:-1]).records == 2
    bad = bytearray(data)
    bad[len(recs[0]) + 12] ^= 0xFF  # a byte inside the second record's payload
    found = scan(bytes(bad))
    assert (found.problem, found.records, found.good_bytes) == ("checksum", 1, len(recs[0]))
    zero_filled = recs[0] + recs[1][:9] + bytes(len(recs[1]) - 9)
    assert scan(zero_filled).problem == "checksum" and scan(zero_filled).records == 1


# ------------------------------------------------------------------ the interpreter and the harness
def test_persist_and_sync_reach_a_sink_that_has_no_storage_as_a_loud_error():
    class Plain:
        def send(self, *a): ...
        def set_timer(self, *a): ...
        def cancel_timer(self, *a): ...
        def observe(self, *a): ...

    with pytest.raises(InvariantError, match="Persist but Plain has no storage"):
        execute(2, 0, [Persist("k", b"v")], Plain())
    with pytest.raises(TypeError, match="Persist"):
        Persist("k", "not bytes")  # type: ignore[arg-type]


def test_start_without_arguments_is_a_first_boot():
    assert Start().recovered == {} and Start() == Start({}) and hash(Start()) == hash(Start({"k": b"v"}))


def test_the_harness_holds_syncs_and_a_crash_loses_what_was_not_synced():
    h = Harness(COUNTER, n=3, clients=1, f=1, hold_syncs=True)
    h.submit(3, b"op")
    h.deliver_all()
    assert h.pending_syncs(0) == 1 and not h.events(Acked)  # no ack before the write is durable
    assert h.complete_syncs() == 1
    h.deliver_all()
    assert [e.count for e in h.events(Acked)] == [1] and len(h.accepted()) == 1
    h.submit(3, b"op2")
    h.deliver(lambda env: env.receiver == 0)
    h.crash(0)
    h.recover(0)  # the counter is durable: rebuilt from what it synced
    assert h.events(Recovered) == [Recovered(0, 0), Recovered(0, 1)] and h.nodes[0].count == 1


# ------------------------------------------------------------------ the simulator
def test_a_protocol_that_never_persists_keeps_its_memory_across_a_crash():
    spec = spec_from_dict({"name": "toy", "protocol": {"name": "tests.engine.toyproto:TOY"}, "n": 3,
                           "workload": {"clients": 1, "requests": 20},
                           "faults": [{"node": 1, "crash_at_s": 0.01, "recover_at_s": 0.05}]})
    sim = simulate(spec)
    report = sim.report(1.0)
    assert report["run"]["crash_model"] == "memory-kept" and "storage" not in report["metrics"]


def test_a_durable_replica_restarts_from_its_last_synced_count():
    spec = make_spec(faults=[{"node": 0, "crash_at_s": 0.05, "recover_at_s": 0.08}])
    sim = simulate(spec)
    report = sim.report(1.0)
    assert report["run"]["crash_model"] == "persisted-state"
    recovered = [e for _, e in sim.history if type(e) is Recovered]
    acked_before = max(e.count for t, e in sim.history if type(e) is Acked and t < 0.05 * NS)
    assert len(recovered) == 2 and recovered[0].count == 0 and recovered[1].count >= acked_before > 0
    assert sim.nodes[0] is sim.runtime.hosts[0].node and sim.nodes[0].boots == 1  # a fresh object booted once
    assert report["metrics"]["committed"] == 40 and lost_acks(sim.history) == []
    stats = report["metrics"]["storage"]
    assert stats["records"] >= 2 * 40 and 0 < stats["fsyncs"] <= stats["syncs"]


def test_group_commit_in_a_run_serves_concurrent_clients_with_fewer_fsyncs():
    stats = simulate(make_spec(clients=8, requests=80)).report(1.0)["metrics"]["storage"]
    assert stats["syncs"] == 80 and stats["fsyncs"] < stats["syncs"]


def test_same_seed_same_run():
    spec = make_spec(storage={"faults": "torn-tail"}, faults=[{"node": 0, "crash_at_s": 0.03, "recover_at_s": 0.06}])
    a, b = simulate(spec), simulate(spec)
    assert a.runtime.trace_digest() == b.runtime.trace_digest()
    assert a.history == b.history and a.runtime.storage_stats() == b.runtime.storage_stats()


def test_fsync_time_shows_up_in_latency():
    def mean_latency(fsync_ms: float) -> float:
        report = simulate(make_spec(clients=1, storage={"fsync_ms": fsync_ms, "write_us": 0})).report(1.0)
        return report["metrics"]["latency_s"]["mean"]

    fast, slow = mean_latency(0.0), mean_latency(5.0)
    assert slow - fast == pytest.approx(0.005, rel=0.05)  # one fsync per request on the critical path


@pytest.mark.parametrize("bad", [{"fsync_ms": -1}, {"fsync_ms": 1e9}, {"write_us": 2e6}, {"faults": "sometimes"},
                                 {"fsync_s": 1}])
def test_the_storage_section_is_validated(bad):
    with pytest.raises(ConfigError):
        make_spec(storage=bad)


# ------------------------------------------------------------------ the planted bug
def first_ack_s(proto: str, seed: int) -> float:
    sim = simulate(make_spec(proto, seed=seed))
    return min(t for t, e in sim.history if type(e) is Acked) / NS


def test_acknowledging_before_synced_loses_an_acknowledged_write():
    t = first_ack_s(EAGER, 1)
    crash = [{"node": 0, "crash_at_s": t + 1e-4, "recover_at_s": t + 0.01}]  # before the 1 ms fsync completes
    sim = simulate(make_spec(EAGER, faults=crash))
    lost = lost_acks(sim.history)
    assert lost and lost[0][1] > lost[0][2]  # acknowledged count > the count it rebooted with
    # The same crash against the correct replica loses nothing it acknowledged.
    assert lost_acks(simulate(make_spec(CORRECT, faults=crash)).history) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), crash_ms=st.floats(1.0, 60.0), down_ms=st.floats(0.1, 20.0),
       faults=st.sampled_from(["lose-unsynced", "torn-tail"]))
def test_the_correct_counter_never_loses_an_acknowledged_write(seed, crash_ms, down_ms, faults):
    crash = [{"node": 0, "crash_at_s": crash_ms / 1e3, "recover_at_s": (crash_ms + down_ms) / 1e3}]
    sim = simulate(make_spec(seed=seed, storage={"faults": faults}, faults=crash, requests=30))
    assert lost_acks(sim.history) == []
    assert sim.report(1.0)["metrics"]["committed"] == 30  # and the clients' retries finish the workload


def test_synced_is_an_input_not_an_action():
    with pytest.raises(InvariantError, match="unknown action"):
        execute(0, 0, [Synced(1)], _Sink())
    with pytest.raises(InvariantError, match="Sync but"):
        execute(0, 0, [Sync(1)], _Sink())


class _Sink:
    def send(self, *a): ...
    def set_timer(self, *a): ...
    def cancel_timer(self, *a): ...
    def observe(self, *a): ...
