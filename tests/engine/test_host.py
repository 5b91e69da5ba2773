"""One action interpreter, one timer table and one recorder, shared by every runtime.

The same scripted node runs on the simulated runtime, the trio runtime (on a
mock clock) and the public Harness; its timers must fire in the same order and
a bogus action must fail with the same error everywhere.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
import trio.testing

import bftlab.sim.runtime
import bftlab.testing
import bftlab.transport.runtime
from bftlab.api import (
    Accepted,
    Broadcast,
    CancelTimer,
    Executed,
    Issued,
    Observe,
    ProtocolSpec,
    Send,
    SetTimer,
    Start,
    StateTransferred,
    TimerFired,
    ViewChanged,
)
from bftlab.core import host
from bftlab.core.costs import ZERO_COSTS
from bftlab.core.host import TimerQueue, TimerTable, execute
from bftlab.core.kernel import NS, Kernel
from bftlab.errors import InvariantError
from bftlab.reports.metrics import Metrics
from bftlab.reports.recorder import Recorder
from bftlab.sim.network import Network, latency_sampler
from bftlab.sim.runtime import SimRuntime
from bftlab.testing import Harness
from bftlab.transport.handshake import Keyring
from bftlab.transport.runtime import Host, HostConfig


# ------------------------------------------------------------------ the interpreter
class RecordingSink:
    """An ActionSink that lists what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def send(self, node, t, to, msg):
        self.calls.append(("send", node, t, to, msg))

    def set_timer(self, node, t, name, delay_s):
        self.calls.append(("set_timer", node, t, name, delay_s))

    def cancel_timer(self, node, t, name):
        self.calls.append(("cancel_timer", node, t, name))

    def observe(self, node, t, event):
        self.calls.append(("observe", node, t, event))


def test_each_action_kind_reaches_its_sink_method_in_order():
    sink = RecordingSink()
    execute(3, 7, [Send(1, "m1"), Broadcast((0, 1, 2), "m2"), SetTimer("vc", 0.5), CancelTimer("vc"),
                   Observe("ev")], sink)
    assert sink.calls == [
        ("send", 3, 7, (1,), "m1"),  # a Send is a one-receiver send
        ("send", 3, 7, (0, 1, 2), "m2"),
        ("set_timer", 3, 7, "vc", 0.5),
        ("cancel_timer", 3, 7, "vc"),
        ("observe", 3, 7, "ev"),
    ]


def test_an_unknown_action_raises_naming_the_node_and_the_action_after_the_earlier_ones_ran():
    sink = RecordingSink()
    with pytest.raises(InvariantError, match=r"^node 3 returned an unknown action 'bogus'$"):
        execute(3, 0, [Send(1, "m"), "bogus", Observe("never")], sink)
    assert [c[0] for c in sink.calls] == ["send"]


def test_a_subclass_of_an_action_is_not_taken_for_it():
    class Sneaky(Observe):  # the interpreter dispatches on exact types: the action classes are final
        __slots__ = ()

    with pytest.raises(InvariantError, match=r"node 0 returned an unknown action .*Sneaky\(event='ev'\)"):
        execute(0, 0, [Sneaky("ev")], RecordingSink())


# ------------------------------------------------------------------ the timer table
def test_rearming_replaces_and_makes_the_earlier_fire_stale():
    tt = TimerTable()
    first = tt.arm(0, "vc")
    second = tt.arm(0, "vc")
    assert not tt.take(0, "vc", first)
    assert tt.take(0, "vc", second)
    assert not tt.take(0, "vc", second)  # taken once: disarmed
    assert len(tt) == 0


def test_cancel_disarms_and_cancelling_an_unarmed_timer_is_harmless():
    tt = TimerTable()
    gen = tt.arm(1, ("retry", 4))
    tt.cancel(1, ("retry", 4))
    tt.cancel(1, "never-armed")
    assert not tt.live(1, ("retry", 4), gen) and not tt.take(1, ("retry", 4), gen)


def test_timers_are_per_node():
    tt = TimerTable()
    a, b = tt.arm(0, "t"), tt.arm(1, "t")
    tt.cancel(0, "t")
    assert not tt.take(0, "t", a) and tt.take(1, "t", b)


def test_clear_forgets_only_the_crashed_nodes_timers():
    tt = TimerTable()
    a0, b0, a1 = tt.arm(0, "a"), tt.arm(0, "b"), tt.arm(1, "a")
    tt.clear(0)
    assert tt.armed() == [(1, "a")]
    assert not tt.take(0, "a", a0) and not tt.take(0, "b", b0) and tt.take(1, "a", a1)
    again = tt.arm(0, "a")  # after recovery a new arming is live, the old generation stays stale
    assert not tt.take(0, "a", a0) and tt.take(0, "a", again)


def test_queue_fires_simultaneous_deadlines_in_arming_order_and_skips_stale_entries():
    q = TimerQueue()
    q.schedule(2, "late", 5.0)
    q.schedule(1, "x", 1.0)
    q.schedule(0, "y", 1.0)
    q.schedule(1, "z", 1.0)
    q.schedule(0, "y", 3.0)  # re-armed: its 1.0 entry is stale
    q.schedule(3, "gone", 0.5)
    q.cancel(3, "gone")
    assert q.next_deadline() == 1.0  # the cancelled 0.5 is discarded, not reported
    assert list(q.due(1.0)) == [(1, "x"), (1, "z")]
    assert q.pop_due(2.9) is None and q.next_deadline() == 3.0
    assert list(q.due(10.0)) == [(0, "y"), (2, "late")]
    assert q.next_deadline() is None and len(q) == 0


# ------------------------------------------------------------------ one script, three runtimes
class TimerScript:
    """Arms timers so that re-arming, cancelling and simultaneous deadlines all matter; observes each firing."""

    def __init__(self, node_id: int, bogus: bool = False) -> None:
        self.node_id = node_id
        self.bogus = bogus

    def step(self, now: float, inp: Any) -> list:
        if type(inp) is Start:
            if self.bogus:
                return [SetTimer("x", 1.0), ("not", "an", "action")]
            return [SetTimer("x", 1.0), SetTimer("p", 1.0), SetTimer("gone", 0.5), SetTimer("k", 1.0),
                    SetTimer("x", 2.0), CancelTimer("gone")]
        if type(inp) is TimerFired:
            out: list = [Observe(("fired", inp.name, round(now, 6)))]
            if inp.name == "p":
                out.append(SetTimer("d", 0.0))  # due now, but armed after k: fires after k
            return out
        return []


# p and k share a deadline and fire in arming order (not by name); x was re-armed; gone was cancelled.
EXPECTED = [("fired", "p", 1.0), ("fired", "k", 1.0), ("fired", "d", 1.0), ("fired", "x", 2.0)]
BOGUS = r"^node 0 returned an unknown action \('not', 'an', 'action'\)$"


def _sim(node: Any) -> tuple[SimRuntime, Kernel, list]:
    kernel = Kernel()
    net = Network(1, latency_sampler("constant", random.Random(1), 1.0), random.Random(2))
    seen: list = []
    rt = SimRuntime(kernel, net, ZERO_COSTS, lambda t, ev: seen.append(ev))
    rt.add_node(node, costed=False)
    rt.start_all()
    return rt, kernel, seen


def _harness(node: Any) -> Harness:
    spec = ProtocolSpec("script", dict, lambda ctx: node, lambda ctx: node)
    return Harness(spec, n=1, clients=0, params={}, wire_roundtrip=False)


async def _trio_host(node: Any, until: int) -> list:
    seen: list = []
    cfg = HostConfig(b"host-test", (0,), {})
    h = Host(cfg, {0: node}, Keyring.derived(1, [0], [0]), lambda nid, ev: seen.append(ev))
    with trio.fail_after(60):  # mock-clock seconds: the script needs 2
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.run)
            while len(seen) < until:
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    return seen


def _run_trio(node: Any, until: int) -> list:
    return trio.run(_trio_host, node, until, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_simulator_fires_the_script_in_deadline_then_arming_order():
    rt, kernel, seen = _sim(TimerScript(0))
    kernel.run(until_ns=10 * NS)
    assert seen == EXPECTED
    assert len(rt.timers) == 0


def test_the_harness_fires_the_script_in_the_same_order():
    h = _harness(TimerScript(0))
    h.advance(10.0)
    assert h.history == EXPECTED


def test_the_trio_host_fires_the_script_in_the_same_order():
    assert _run_trio(TimerScript(0), len(EXPECTED)) == EXPECTED


def test_every_runtime_rejects_a_bogus_action_with_the_same_error():
    _, kernel, _ = _sim(TimerScript(0, bogus=True))
    with pytest.raises(InvariantError, match=BOGUS):
        kernel.run()
    with pytest.raises(InvariantError, match=BOGUS):
        _harness(TimerScript(0, bogus=True))
    with pytest.raises(BaseExceptionGroup) as group:  # trio nurseries wrap what their tasks raise
        _run_trio(TimerScript(0, bogus=True), 1)
    leaves = _leaves(group.value)
    assert len(leaves) == 1 and isinstance(leaves[0], InvariantError)
    with pytest.raises(InvariantError, match=BOGUS):
        raise leaves[0]


def test_every_runtime_calls_the_shared_interpreter_and_timer_table():
    for module in (bftlab.sim.runtime, bftlab.transport.runtime, bftlab.testing):
        assert module.run_actions is host.run_actions, module.__name__
    assert isinstance(_harness(TimerScript(0)).timers, TimerQueue)


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


# ------------------------------------------------------------------ crashes
class Rearmer:
    """Arms ``t`` on every Start; observes each firing."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id

    def step(self, now: float, inp: Any) -> list:
        if type(inp) is Start:
            return [SetTimer("t", 1.0)]
        if type(inp) is TimerFired:
            return [Observe(("fired", inp.name, round(now, 6)))]
        return []


def test_a_crash_clears_a_nodes_timers_in_the_simulator():
    rt, kernel, seen = _sim(Rearmer(0))
    kernel.schedule(NS // 2, rt.crash, 0)
    kernel.schedule(NS * 3 // 4, rt.recover, 0)  # re-arms at 0.75 s; the fire due at 1 s is stale
    kernel.run(until_ns=10 * NS)
    assert seen == [("fired", "t", 1.75)]


def test_a_crash_clears_a_nodes_timers_in_the_harness():
    h = _harness(Rearmer(0))
    h.advance(0.5)
    h.crash(0)
    assert h.next_deadline() is None
    h.advance(0.25)
    h.recover(0)
    h.advance(10.0)
    assert h.history == [("fired", "t", 1.75)]


# ------------------------------------------------------------------ the recorder
class Judge:
    def __init__(self) -> None:
        self.seen: list[tuple[int, Any]] = []

    def observe(self, t_ns: int, event: Any) -> None:
        self.seen.append((t_ns, event))


def test_the_recorder_feeds_every_event_to_the_panel_and_the_metrics():
    judge, metrics, history, firsts = Judge(), Metrics(), [], []
    rec = Recorder(judge, metrics, submitted_at=lambda ev, t: t - 5 * NS, history=history,
                   on_accepted=lambda ev, t: firsts.append((ev.ts, t)))
    events = [(10 * NS, Issued(9, 1, b"d")), (11 * NS, Executed(0, 1, 0, ())), (11 * NS, ViewChanged(0, 2)),
              (11 * NS, StateTransferred(1, 1)), (12 * NS, Accepted(9, 1, b"r")), (13 * NS, Accepted(9, 1, b"r"))]
    for t, ev in events:
        rec.observe(t, ev)
    assert judge.seen == history == events
    assert firsts == [(1, 12 * NS)]  # the duplicate acceptance is not a new one
    s = metrics.summary()
    assert s["committed"] == s["issued"] == 1 and s["view_changes"] == 1
    assert s["latency_s"]["p50"] == 7.0  # from the submission (5 s before the issue) to the acceptance


def test_the_recorder_defaults_the_submission_to_the_issue_time():
    metrics = Metrics()
    rec = Recorder(Judge(), metrics)
    rec.observe(2 * NS, Issued(4, 1, b"d"))
    rec.observe(3 * NS, Accepted(4, 1, b"r"))
    assert metrics.summary()["latency_s"]["p50"] == 1.0


def test_the_simulator_stops_once_every_submitted_request_is_accepted():
    from bftlab.sim import runner
    from bftlab.specs.spec import spec_from_dict

    sim = runner.build(spec_from_dict({"name": "toy", "protocol": {"name": "tests.engine.toyproto:TOY"}, "n": 4,
                                       "seed": 3, "workload": {"clients": 2, "requests": 20},
                                       "stop": {"time_limit_s": 1000}}))
    sim.run()
    assert sim.metrics.summary()["committed"] == 20
    assert sim.kernel.now < 100 * NS  # stopped by the recorder's acceptance hook, not by the time limit
    assert sim.recorder is not None and sim.recorder.panel is sim.panel
