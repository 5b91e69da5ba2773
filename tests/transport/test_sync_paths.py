"""Where the real transport's fsyncs run, and that every path keeps acknowledged writes durable.

An idle Host fsyncs on its event loop (no thread hand-off on the critical
path); a busy one hands Syncs that waited through a busy round to a worker
thread. Either way a node hears ``Synced`` only after an fsync that covers its
records: the durable counter (tests/engine/durableproto.py) acknowledges an
increment only then, so at every ``Acked`` the fsynced prefix of its log must
already hold that count. ``storage_sync="page-cache"`` (opt-in) skips the
fsync but still hands the records to the OS, so a restarted process finds them.
"""

from __future__ import annotations

import os

import pytest
import trio

from bftlab.api import NodeContext, Submit
from bftlab.core import seeds
from bftlab.core.storage import DiskLog, scan
from bftlab.errors import InvariantError
from bftlab.transport.handshake import Keyring
from bftlab.transport.runtime import Host, HostConfig
from tests.engine.durableproto import Acked, Counter, CounterClient, CounterParams, Incr

CLIENTS = tuple(range(3, 11))


def _host(folder, on_event, storage_sync="fsync"):
    replicas = (0, 1, 2)

    def ctx(nid):
        return NodeContext(nid, 3, 1, replicas, CLIENTS, None, seeds.rng(1, f"node/{nid}"), CounterParams())

    nodes = {0: Counter(ctx(0)), **{c: CounterClient(ctx(c)) for c in CLIENTS}}
    cfg = HostConfig(b"\0" * 16, (0, *CLIENTS), {0: ("127.0.0.1", 0)})
    keyring = Keyring.derived(seeds.derive(1, "keys"), range(3 + len(CLIENTS)), [0, *CLIENTS])
    return Host(cfg, nodes, keyring, on_event, storage_dir=folder, storage_sync=storage_sync)


@pytest.fixture
def fsynced(monkeypatch):
    """Bytes of each log covered by a completed fsync (a lower bound: what was flushed when it started)."""
    covered: dict = {}
    real = DiskLog.fsync

    def fsync(self):
        size = os.fstat(self._fh.fileno()).st_size
        real(self)
        covered[self.path] = max(covered.get(self.path, 0), size)

    monkeypatch.setattr(DiskLog, "fsync", fsync)
    return covered


def _checked(folder, covered, acks):
    """An on_event that asserts, at each Acked, that the fsynced prefix of the log already holds its count."""
    path = folder / "node-0.wal"

    def on_event(nid, ev):
        if type(ev) is Acked:
            durable = scan(path.read_bytes()[:covered.get(path, 0)]).values
            assert int.from_bytes(durable.get("count", b""), "big") >= ev.count, "acknowledged before fsynced"
            acks.append(ev.count)

    return on_event


def _drive(host, acks, total, submit_burst):
    async def main():
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            with trio.fail_after(30):
                while len(acks) < total:  # bounded by the deadline above
                    await submit_burst()
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_an_idle_host_fsyncs_on_its_loop_and_acks_only_what_is_durable(tmp_path, fsynced):
    acks: list[int] = []
    host = _host(tmp_path, _checked(tmp_path, fsynced, acks))

    async def one_at_a_time():
        before = len(acks)
        await host.submit(3, Submit(b"op"))
        while len(acks) == before:
            await trio.sleep(0.001)

    _drive(host, acks, 10, one_at_a_time)
    assert acks == list(range(1, 11))
    assert host.counters.get("sync.inline", 0) >= 5  # one request at a time: the loop is idle at each Sync
    assert host.logs[0].fsyncs >= 10


def test_a_busy_host_hands_syncs_to_a_thread_and_still_acks_only_what_is_durable(tmp_path, fsynced, monkeypatch):
    acks: list[int] = []
    host = _host(tmp_path, _checked(tmp_path, fsynced, acks))
    slow = DiskLog.fsync

    def slow_fsync(self):  # a slow disk: inputs pile up while an fsync runs
        import time

        time.sleep(0.005)
        slow(self)

    monkeypatch.setattr(DiskLog, "fsync", slow_fsync)

    async def flood():
        for c in CLIENTS:  # a new request per client at every scheduling point: the stepper is never idle for long
            await host.submit(c, Submit(b"op"))
            await trio.lowlevel.checkpoint()

    _drive(host, acks, 200, flood)
    assert sorted(acks) == list(range(1, len(acks) + 1))
    assert host.counters.get("sync.thread", 0) >= 1, host.counters
    assert host.logs[0].fsyncs < len(acks)  # group commit: one fsync answered several Syncs


def test_page_cache_mode_skips_fsync_but_a_restarted_process_recovers_the_writes(tmp_path, fsynced):
    acks: list[int] = []
    host = _host(tmp_path, lambda nid, ev: acks.append(ev.count) if type(ev) is Acked else None, "page-cache")

    async def one_at_a_time():
        before = len(acks)
        await host.submit(3, Submit(b"op"))
        while len(acks) == before:
            await trio.sleep(0.001)

    _drive(host, acks, 5, one_at_a_time)
    assert acks == [1, 2, 3, 4, 5]
    assert host.logs[0].fsyncs == 0 and host.counters["sync.page_cache"] >= 5
    log = DiskLog.open(tmp_path / "node-0.wal")  # what the OS holds is what a new process reads
    assert int.from_bytes(log.recovered.values["count"], "big") == 5
    log.close()


def test_an_unknown_storage_sync_is_refused(tmp_path):
    with pytest.raises(InvariantError, match="storage_sync"):
        _host(tmp_path, lambda nid, ev: None, "sometimes")


class _Writer:
    """Replica 0: each Submit persists, asks for a Sync and sends an Incr to replica 1 in the same step; the Incr
    depends on nothing unsynced (as a Raft leader's AppendEntries), so it should leave while the write is fsynced."""

    def __init__(self):
        self.n = 0

    def step(self, now, inp):
        from bftlab.api import Persist, Send, Sync

        if type(inp) is not Submit:
            return []
        self.n += 1
        return [Persist("n", self.n.to_bytes(4, "big")), Sync(self.n), Send(1, Incr(0, self.n))]


class _Sink:
    def __init__(self):
        self.got = 0

    def step(self, now, inp):
        from bftlab.api import Receive

        if type(inp) is Receive:
            self.got += 1
        return []


def test_an_idle_host_sends_what_its_round_queued_before_it_fsyncs_on_the_loop(tmp_path, monkeypatch):
    """trio may run the stepper before a writer it woke; the inline fsync must still wait for that writer."""
    import threading

    ids = (0, 1)
    keys = seeds.derive(1, "keys")
    writer, sink = _Writer(), _Sink()
    a = Host(HostConfig(b"\0" * 16, (0,), {0: ("127.0.0.1", 0), 1: ("127.0.0.1", 0)}, listen=("127.0.0.1", 0)),
             {0: writer}, Keyring.derived(keys, ids, [0]), lambda *_: None, storage_dir=tmp_path)
    late: list[int] = []  # inline fsyncs that found a woken writer's messages not yet sent
    inline = [0]
    real = DiskLog.fsync

    def fsync(self):
        if threading.current_thread() is threading.main_thread():
            inline[0] += 1
            link = a.links.get(1)
            if link is not None and link.queue and not getattr(link, "sending", False):
                late.append(len(link.queue))
        real(self)

    monkeypatch.setattr(DiskLog, "fsync", fsync)

    async def main():
        async with trio.open_nursery() as nursery:
            port = await nursery.start(a.run)
            b = Host(HostConfig(b"\0" * 16, (1,), {0: ("127.0.0.1", port), 1: ("127.0.0.1", 0)}),
                     {1: sink}, Keyring.derived(keys, ids, [1]), lambda *_: None)
            await nursery.start(b.run)
            with trio.fail_after(30):
                while not a.connected_to([1]):  # bounded by the deadline above
                    await trio.sleep(0.01)
                for _ in range(60):
                    await a.submit(0, Submit(b"op"))
                    await trio.sleep(0.002)  # idle between requests: the inline path
                while sink.got < 60:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert inline[0] >= 30, inline  # most Syncs took the inline path
    assert late == [], f"{len(late)} of {inline[0]} inline fsyncs ran before the writer sent"
