"""The staleness oracle on hand-built histories: linearizable ones have no stale reads, planted stale reads are
caught, and lags are measured from the latest completed write."""

from __future__ import annotations

from bftlab.api import Accepted, Issued, Submitted, observed_digest
from bftlab.core.kernel import NS
from bftlab.core.kv import NIL, encode_op, get_result
from bftlab.oracles.base import OracleContext
from bftlab.oracles.staleness import StalenessOracle

MS = NS // 1000


class History:
    """Operations with explicit call and return times (ms); each gets its own client id."""

    def __init__(self) -> None:
        self.events: list[tuple[int, object]] = []
        self.client = 100

    def op(self, kind: str, value: bytes | None, start_ms: float, end_ms: float | None, key: bytes = b"k",
           returns: bytes | None = None) -> None:
        self.client += 1
        op = encode_op(kind, key, value or b"") if kind != "get" else encode_op("get", key)
        t0 = int(start_ms * MS)
        self.events += [(t0, Submitted(self.client, op)), (t0, Issued(self.client, 1, observed_digest(op)))]
        if end_ms is not None:
            result = get_result(returns) if kind == "get" else NIL
            self.events.append((int(end_ms * MS), Accepted(self.client, 1, observed_digest(result))))

    def verdict(self) -> dict:
        oracle = StalenessOracle(OracleContext((0, 1, 2), (), (), 1))
        for t, ev in sorted(self.events, key=lambda x: x[0]):
            oracle.observe(t, ev)
        v = oracle.verdict()
        assert v.safe is None and v.live is None
        return v.section


def test_a_linearizable_history_has_no_stale_reads():
    h = History()
    h.op("get", None, 0, 1, returns=None)
    h.op("put", b"a", 2, 3)
    h.op("get", None, 4, 5, returns=b"a")
    h.op("put", b"b", 6, 7)
    h.op("get", None, 8, 9, returns=b"b")
    h.op("put", b"c", 10, 13)
    h.op("get", None, 11, 12, returns=b"b")  # concurrent with put c: the old value is fine
    h.op("get", None, 14, 15, returns=b"c")
    s = h.verdict()
    assert s["reads"] == 5 and s["stale_reads"] == 0 and s["stale_rate"] == 0.0


def test_a_read_of_a_superseded_value_is_stale_and_its_lag_is_measured():
    h = History()
    h.op("put", b"a", 0, 1)
    h.op("put", b"b", 2, 3)
    h.op("get", None, 8, 9, returns=b"a")  # b completed 5 ms before the read began
    s = h.verdict()
    assert s["stale_reads"] == 1 and s["examples"][0]["start_s"] == 0.008
    assert s["curve"] == [{"lag_ms_from": 5.0, "lag_ms_to": 10.0, "reads": 1, "consistent": 0.0}]
    assert s["first_read_consistent_rate"] == 0.0


def test_reading_absent_after_a_completed_write_is_stale_but_not_during_it():
    h = History()
    h.op("put", b"a", 0, 4)
    h.op("get", None, 1, 2, returns=None)  # the write is still in progress
    h.op("get", None, 6, 7, returns=None)
    s = h.verdict()
    assert s["reads"] == 2 and s["stale_reads"] == 1


def test_concurrent_writes_do_not_make_either_value_stale():
    h = History()
    h.op("put", b"a", 0, 5)
    h.op("put", b"b", 1, 4)
    h.op("get", None, 6, 7, returns=b"a")
    h.op("get", None, 8, 9, returns=b"b")
    assert h.verdict()["stale_reads"] == 0


def test_values_nobody_wrote_are_counted_apart_and_t_visibility_is_the_first_reliable_lag():
    h = History()
    h.op("put", b"a", 0, 1)
    h.op("get", None, 1.5, 2, returns=b"zzz")
    h.op("put", b"b", 10, 11)
    h.op("get", None, 11.5, 12, returns=b"a")  # lag 0.5 ms: stale
    h.op("get", None, 30, 31, returns=b"b")  # lag 19 ms: consistent
    s = h.verdict()
    assert s["unknown_values"] == 1 and s["stale_reads"] == 1
    assert s["t_visibility_ms"]["p99"] == 1.0


def test_a_write_issued_the_instant_the_previous_one_completed_supersedes_it():
    h = History()
    h.op("put", b"a", 0, 1)
    h.op("put", b"b", 1, 2)  # a closed-loop client issues its next operation in the step that accepted a
    h.op("get", None, 2, 3, returns=b"a")
    assert h.verdict()["stale_reads"] == 1


def test_a_write_that_took_no_time_does_not_supersede_itself():
    h = History()
    h.op("put", b"a", 1, 1)
    h.op("get", None, 2, 3, returns=b"a")
    assert h.verdict()["stale_reads"] == 0
