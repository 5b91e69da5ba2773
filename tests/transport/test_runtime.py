"""The trio host in-process: a peer that never reads cannot grow a replica's memory or stall it."""

from __future__ import annotations

import trio

from bftlab.core import seeds, wire
from bftlab.transport import handshake
from bftlab.transport.handshake import Keyring
from bftlab.transport.node_main import build_nodes, cluster_id
from bftlab.transport.runtime import Host, HostConfig
from tests.engine.toyproto import Req
from tests.transport import helpers

QUEUE_BYTES = 16 << 10


def test_a_peer_that_never_reads_gets_its_frames_dropped_not_buffered():
    s = helpers.spec(helpers.TOY, n=1, clients=1, workload={"clients": 1, "requests": 10})
    keys = seeds.derive(s.seed, "keys")
    events = []
    host = Host(HostConfig(cluster_id(s), (0,), {0: ("127.0.0.1", 0)}, ("127.0.0.1", 0), send_queue_bytes=QUEUE_BYTES),
                build_nodes(s, [0]), Keyring.derived(keys, range(2), [0]), lambda nid, ev: events.append(ev))

    async def main():
        async with trio.open_nursery() as nursery:
            port = await nursery.start(host.run)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            sess = await handshake.dial(stream, Keyring.derived(keys, range(2), [1]), cluster_id(s), [1],
                                        lambda ids: ids == [0], 1 << 20)
            op = b"x" * 200
            with trio.fail_after(30):
                ts = 0
                while host.counters.get("drop.send_queue_full", 0) < 100:  # bounded by the deadline above
                    batch = []
                    for _ in range(200):
                        ts += 1
                        batch.append(sess.sealer.seal(1, 0, wire.encode(Req(1, ts, op))))
                    await stream.send_all(b"".join(batch))
                    link = host.links[1]
                    assert link.queued <= QUEUE_BYTES
            assert host.inputs >= 200  # the replica kept stepping (a Req and an Order per reply)
            await trio.aclose_forcefully(stream)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert host.counters["drop.send_queue_full"] >= 100
