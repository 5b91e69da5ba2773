"""The real transport's storage: a checksummed append-only log per node, recovered before the node boots.

File-format tests run without processes; the Host tests run a durable counter
replica and its client in one trio Host (no sockets needed: co-hosted nodes
talk locally), then build a second Host on the same folder, as a restarted
process would.
"""

from __future__ import annotations

import random

import trio

from bftlab.api import NodeContext, Submit
from bftlab.core import seeds
from bftlab.core.storage import DiskLog, encode_record
from bftlab.transport.handshake import Keyring
from bftlab.transport.runtime import Host, HostConfig
from tests.engine.durableproto import Acked, Counter, CounterClient, CounterParams, Recovered


# ------------------------------------------------------------------ the file format
def test_written_and_synced_records_are_recovered_on_reopen(tmp_path):
    path = tmp_path / "node-0.wal"
    log = DiskLog.open(path)
    assert log.recovered.values == {} and log.recovered.records == 0
    log.append("a", b"1")
    log.append("b", b"2")
    log.append("a", b"3")
    log.sync()
    log.close()
    again = DiskLog.open(path)
    assert again.recovered.values == {"a": b"3", "b": b"2"} and again.recovered.problem is None
    again.close()


def test_a_torn_tail_is_truncated_and_the_log_goes_on_after_it(tmp_path):
    path = tmp_path / "node-0.wal"
    log = DiskLog.open(path)
    log.append("k", b"kept")
    log.sync()
    log.close()
    good = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(encode_record("k", b"torn" * 10)[:-7])  # power went out mid-write
    log = DiskLog.open(path)
    assert log.recovered.values == {"k": b"kept"} and log.recovered.problem == "truncated"
    assert path.stat().st_size == good  # cut before anything is appended after it
    log.append("k", b"next")
    log.sync()
    log.close()
    assert DiskLog.open(path).recovered.values == {"k": b"next"}


def test_a_corrupt_middle_record_stops_recovery_there(tmp_path):
    path = tmp_path / "node-0.wal"
    recs = [encode_record(f"k{i}", bytes([i]) * 8) for i in range(4)]
    data = bytearray(b"".join(recs))
    data[len(recs[0]) + len(recs[1]) - 1] ^= 0x01  # one flipped bit in the second record's value
    path.write_bytes(bytes(data))
    log = DiskLog.open(path)
    assert log.recovered.values == {"k0": b"\0" * 8} and log.recovered.problem == "checksum"
    assert path.stat().st_size == len(recs[0])  # the records after it cannot be trusted: gone too
    log.close()


def test_random_garbage_never_crashes_recovery(tmp_path):
    rng = random.Random(7)
    for i in range(50):
        path = tmp_path / f"g{i}.wal"
        path.write_bytes(encode_record("k", b"v") + rng.randbytes(rng.randint(1, 300)))
        log = DiskLog.open(path)
        assert log.recovered.values.get("k") == b"v" or log.recovered.records > 1
        log.close()


# ------------------------------------------------------------------ a Host on a storage folder
def _host(folder, events):
    replicas, clients = (0, 1, 2), (3,)

    def ctx(nid):
        return NodeContext(nid, 3, 1, replicas, clients, None, seeds.rng(1, f"node/{nid}"), CounterParams())

    nodes = {0: Counter(ctx(0)), 3: CounterClient(ctx(3))}
    cfg = HostConfig(b"\0" * 16, (0, 3), {0: ("127.0.0.1", 0)})
    keyring = Keyring.derived(seeds.derive(1, "keys"), range(4), [0, 3])
    return Host(cfg, nodes, keyring, lambda nid, ev: events.append(ev), storage_dir=folder)


def _run(host, events, increments):
    async def main():
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            with trio.fail_after(20):
                for i in range(increments):
                    await host.submit(3, Submit(b"op"))
                    while sum(type(e) is Acked for e in events) <= i:  # bounded by the deadline above
                        await trio.sleep(0.001)
                while not any(type(e) is Recovered for e in events):
                    await trio.sleep(0.001)
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_a_restarted_host_boots_its_node_from_the_log_it_synced(tmp_path):
    first: list = []
    host = _host(tmp_path, first)
    _run(host, first, 5)
    assert [e.count for e in first if type(e) is Acked] == [1, 2, 3, 4, 5]
    assert 1 <= host.logs[0].fsyncs <= 5  # group commit may fold some
    with open(tmp_path / "node-0.wal", "ab") as fh:  # and the crash tore a record that was never synced
        fh.write(encode_record("count", (99).to_bytes(8, "big"))[:5])
    second: list = []
    again = _host(tmp_path, second)
    again.nodes[3].ts = 100  # a new client process must not reuse request numbers the replica has seen
    _run(again, second, 1)
    assert [e.count for e in second if type(e) is Recovered] == [5]
    assert [e.count for e in second if type(e) is Acked] == [6]


# ------------------------------------------------------------------ a loopback cluster with a SIGKILL
def test_a_replica_killed_mid_run_restarts_from_its_log_and_counts_every_increment_once(tmp_path):
    from bftlab.transport.cluster import run_real
    from tests.transport import helpers

    s = helpers.spec("tests.engine.durableproto:COUNTER", n=3, clients=2,
                     workload={"clients": 2, "requests": 0, "duration_s": 1.5},
                     faults=[{"node": 0, "crash_at_s": 0.5, "recover_at_s": 0.8}])
    report = run_real(s, keep_dir=tmp_path)  # the launcher stops every process it started
    assert report["run"]["restarts"] == 1
    committed = report["metrics"]["committed"]
    assert committed == report["metrics"]["issued"] > 0
    log = DiskLog.open(tmp_path / "node-0.wal")
    # Acknowledged increments survived the SIGKILL, and retried ones were not counted twice.
    assert int.from_bytes(log.recovered.values["count"], "big") == committed
    log.close()
