"""The front door: idle unauthenticated sockets cannot lock a legitimate peer out of a replica.

An attacker who opens hundreds of TCP connections and never sends a byte
holds at most ``max_unauthenticated`` handshake slots; each new connection
beyond that evicts the oldest waiting one, so a real peer's handshake (one
round trip) always gets through, and authenticated links are never evicted.
"""

from __future__ import annotations

import socket
import threading
import time

import trio

from bftlab.core import seeds
from bftlab.transport import handshake
from bftlab.transport.handshake import Keyring
from bftlab.transport.node_main import build_nodes, cluster_id, replica_addrs
from bftlab.transport.runtime import Host, HostConfig
from tests.transport import helpers

IDLE = 300


class Squatter:
    """Holds ``k`` idle connections to ``addr`` from a thread, reopening (slowly) those the server closes."""

    def __init__(self, addr: tuple[str, int], k: int, reopen_every_s: float = 0.5) -> None:
        self.addr, self.k, self.every = addr, k, reopen_every_s
        self.socks: list[socket.socket] = []
        self.every_sock: list[socket.socket] = []  # all ever opened, to check that each was closed
        self.closed_by_server = 0
        self.stop = threading.Event()
        self.filled = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Squatter:
        self.thread.start()
        assert self.filled.wait(30), "could not open the idle connections"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        for s in self.every_sock:  # the thread closes them; this is the belt to its braces
            s.close()

    def _open(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.every_sock.append(s)
        s.settimeout(2)
        try:
            s.connect(self.addr)
        except OSError:
            s.close()
            return
        s.setblocking(False)
        self.socks.append(s)

    def _reap(self) -> None:
        keep = []
        for s in self.socks:
            try:
                gone = s.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                self.closed_by_server += 1
                s.close()
            else:
                keep.append(s)
        self.socks = keep

    def _run(self) -> None:
        try:
            for _ in range(self.k * 2):  # bounded: refused connects are retried a little
                if len(self.socks) >= self.k:
                    break
                self._open()
            self.filled.set()
            for _ in range(int(600 / self.every)):  # bounded: at most ten minutes, normally stopped long before
                if self.stop.wait(self.every):
                    break
                self._reap()
                for _ in range(self.k - len(self.socks)):
                    self._open()
        finally:
            for s in self.socks:
                s.close()
            self.filled.set()


def test_idle_sockets_evict_each_other_but_never_an_authenticated_link():
    s = helpers.spec(helpers.TOY, n=1, clients=2, workload={"clients": 2, "requests": 10})
    keys = seeds.derive(s.seed, "keys")
    host = Host(HostConfig(cluster_id(s), (0,), {0: ("127.0.0.1", 0)}, ("127.0.0.1", 0), max_unauthenticated=16,
                           handshake_timeout_s=60),  # the deadline is not what saves the peer here
                build_nodes(s, [0]), Keyring.derived(keys, range(3), [0]), lambda nid, ev: None)

    async def dial(me: int, port: int) -> trio.SocketStream:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await handshake.dial(stream, Keyring.derived(keys, range(3), [me]), cluster_id(s), [me],
                             lambda ids: ids == [0], 1 << 20)
        return stream

    async def main():
        async with trio.open_nursery() as nursery:
            port = await nursery.start(host.run)
            first = await dial(1, port)  # authenticated before the flood
            with Squatter(("127.0.0.1", port), 100, reopen_every_s=60):
                with trio.fail_after(30):
                    while host.counters.get("conn.refused_unauthenticated", 0) < 100 - 16:
                        await trio.sleep(0.01)
                    second = await dial(2, port)  # a legitimate peer gets in through the crowd
                    while not host.connected_to([1, 2]):
                        await trio.sleep(0.01)
                assert len(host._handshaking) <= 16
                assert host.connected_to([1, 2])  # the flood evicted neither authenticated link
            for stream in (first, second):
                await trio.aclose_forcefully(stream)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert host.counters["conn.refused_unauthenticated"] >= 100 - 16 + 1
    assert host.counters["conn.established"] == 2


def test_a_pbft_cluster_commits_while_300_idle_sockets_sit_on_a_replica(tmp_path):
    s = helpers.with_ports(helpers.spec(clients=2, crypto="ideal", workload={"clients": 2, "requests": 40}))
    path = helpers.write_spec(s, tmp_path / "spec.yaml")
    nodes = []
    client = None
    squat = Squatter(replica_addrs(s)[0], IDLE)
    try:
        for r in s.replicas:
            nodes.append(helpers.start_node(path, [r], "--storage", str(tmp_path / f"r{r}")))  # if it persists
        for node in nodes:
            helpers.wait_line(node, "ready")
        for node in nodes:
            helpers.say_go(node)
        with squat:
            assert len(squat.socks) == IDLE or squat.closed_by_server == 0  # all opened (the server may be evicting)
            t0 = time.monotonic()
            client = helpers.start_node(path, [s.n, s.n + 1], "--requests", "40", "--storage",
                                        str(tmp_path / "clients"), control=False)
            _, err = client.communicate(timeout=60)  # bounded; the clients must connect through the crowd
            took_s = time.monotonic() - t0
        assert client.returncode == 0, err[-2000:]
        assert b"40 of 40 requests accepted" in err, err[-2000:]
        stats = helpers.stop_gracefully(nodes[0])
        assert stats is not None
        refused = stats["counters"].get("conn.refused_unauthenticated", 0)
        assert refused >= IDLE - HostConfig.max_unauthenticated, stats["counters"]
        print(f"40 requests with {IDLE} idle sockets on replica 0: {took_s:.2f} s; {refused} evicted")
    finally:
        if client is not None:
            helpers.kill_group(client)
        for node in nodes:
            helpers.kill_group(node)
    assert all(sock.fileno() == -1 for sock in squat.every_sock)
