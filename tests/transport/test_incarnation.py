"""Each process of a real cluster gives its nodes an incarnation number above every earlier one.

A client numbers its requests above ``NodeContext.incarnation_us``; replicas
drop a request whose timestamp is not above the last one they executed for
that client, so a restarted client group must start above its previous life.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from bftlab.transport import node_main
from tests.transport import helpers


def test_build_nodes_hands_every_node_the_process_incarnation(monkeypatch):
    s = helpers.spec(clients=2)
    real = node_main.load_protocol(s.protocol.name)
    made = []

    def record(ctx):
        made.append(ctx)
        return object()

    fake = SimpleNamespace(params=real.params, make_replica=record, make_client=record)
    monkeypatch.setattr(node_main, "load_protocol", lambda name: fake)
    node_main.build_nodes(s, [0, s.n, s.n + 1], incarnation=1234)
    assert [c.incarnation_us for c in made] == [1234, 1234, 1234]
    node_main.build_nodes(s, [s.n])
    assert made[-1].incarnation_us == 0  # the default, as in the simulator


def test_a_restarted_client_process_gets_a_larger_incarnation(tmp_path):
    s = helpers.with_ports(helpers.spec(clients=2))
    path = helpers.write_spec(s, tmp_path / "spec.yaml")
    seen = []
    for _ in range(2):  # no replica runs: each client process only starts, reports and is killed
        before_us = time.time_ns() // 1000
        proc = helpers.start_node(path, [s.n, s.n + 1])
        try:
            ready = helpers.wait_line(proc, "ready")
        finally:
            helpers.kill_group(proc)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()
        assert ready["incarnation_us"] >= before_us
        seen.append(ready["incarnation_us"])
    assert seen[1] > seen[0]
