"""Garbage on a replica's port: random bytes, broken handshakes, authenticated junk, replays, huge frames.

Four PBFT replica processes run for the whole module. Hypothesis throws bytes
at the primary (unauthenticated, and as an authenticated client sending sealed
junk). Afterwards every replica is still running, the drops were counted, and
a real client still gets its requests committed.
"""

from __future__ import annotations

import socket
import struct

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bftlab.core import seeds, wire
from bftlab.transport import handshake
from bftlab.transport.framing import length_prefixed
from bftlab.transport.handshake import Keyring
from bftlab.transport.node_main import cluster_id, replica_addrs
from tests.transport import helpers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    s = helpers.with_ports(helpers.spec(clients=2, crypto="ideal"))
    path = helpers.write_spec(s, tmp_path_factory.mktemp("fuzz") / "spec.yaml")
    nodes = []
    try:
        for r in s.replicas:
            nodes.append(helpers.start_node(path, [r]))
        for node in nodes:
            helpers.wait_line(node, "ready")
        for node in nodes:
            helpers.say_go(node)
        yield s, path, nodes
    finally:
        for node in nodes:
            helpers.kill_group(node)


def _raw(addr, data: bytes) -> None:
    with socket.create_connection(addr, timeout=2) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.5)
            sock.recv(65536)
        except OSError:
            pass  # the replica may close on us: that is the point


async def _authenticated(s, addr, frames: list[bytes], raw_tail: bytes) -> None:
    """Handshake as client n+1 (a real identity), then send sealed junk and raw garbage."""
    me = s.n + 1
    ring = Keyring.derived(seeds.derive(s.seed, "keys"), range(s.n + s.workload.clients), [me])
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream(*addr)
        try:
            sess = await handshake.dial(stream, ring, cluster_id(s), [me], lambda ids: ids == [0], 1 << 20)
            sealed = [sess.sealer.seal(me, 0, f) for f in frames]
            if sealed:
                sealed.append(sealed[0])  # a replayed frame
            await stream.send_all(b"".join(sealed) + raw_tail)
            with trio.move_on_after(0.2):
                await stream.receive_some(65536)
        except (trio.BrokenResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=200).map(length_prefixed),  # well framed, not a handshake
    st.builds(lambda n: struct.pack(">I", n), st.integers(0, 2**32 - 1)),  # any length prefix, no body
))
def test_random_bytes_never_hurt_a_replica(cluster, data):
    s, _, nodes = cluster
    _raw(replica_addrs(s)[0], data)
    assert all(node.poll() is None for node in nodes)


_any_msg = st.recursive(st.none() | st.integers(-2**63, 2**63 - 1) | st.binary(max_size=40) | st.text(max_size=10),
                        lambda kids: st.lists(kids, max_size=4), max_leaves=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=300), _any_msg.map(wire.encode)), max_size=6),
       st.sampled_from([b"", b"\xff\xff\xff\xff", b"garbage", length_prefixed(b"\0" * 40)]))
def test_authenticated_junk_is_dropped_and_counted(cluster, frames, tail):
    s, _, nodes = cluster
    trio.run(_authenticated, s, replica_addrs(s)[0], frames, tail)
    assert all(node.poll() is None for node in nodes)


def test_after_the_fuzz_the_cluster_still_commits_and_counted_the_drops(cluster):
    s, path, nodes = cluster
    client = helpers.start_node(path, [s.n], "--requests", "30", control=False)
    try:
        _, err = client.communicate(timeout=60)
    finally:
        helpers.kill_group(client)
    assert client.returncode == 0, err[-2000:]
    assert b"30 of 30 requests accepted" in err
    stats = helpers.stop_gracefully(nodes[0])
    assert stats is not None
    drops = stats["counters"]
    for reason in ("drop.handshake_malformed", "drop.bad_mac", "drop.replayed", "drop.oversized_frame"):
        assert drops.get(reason, 0) > 0, (reason, drops)
    assert drops.get("drop.malformed", 0) + drops.get("drop.not_a_message", 0) > 0, drops
