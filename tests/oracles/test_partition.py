"""The partition oracle on hand-built histories: availability per side, conflicting writes, stale reads."""

from __future__ import annotations

from types import SimpleNamespace

from bftlab.api import Accepted, Issued, Submitted, observed_digest
from bftlab.core.kernel import NS
from bftlab.core.kv import NIL, encode_op, get_result
from bftlab.oracles.base import OracleContext, PartitionWindow, partition_windows
from bftlab.oracles.partition import PartitionOracle

# Replicas 0-4; clients 5 (with replicas 0, 1) and 6 (with 2, 3, 4); the partition lasts from 1 s to 3 s.
WINDOW = PartitionWindow(1.0, 3.0, ((0, 1, 5), (2, 3, 4, 6)))
CTX = OracleContext((0, 1, 2, 3, 4), (5, 6), (), 2, True, (WINDOW,))


class History:
    def __init__(self) -> None:
        self.events: list[tuple[int, object]] = []
        self.ts = 0

    def op(self, client: int, start: float, end: float | None, op: bytes, result: bytes = NIL) -> None:
        self.ts += 1
        self.events.append((int(start * NS), Submitted(client, op)))
        self.events.append((int(start * NS), Issued(client, self.ts, observed_digest(op))))
        if end is not None:
            self.events.append((int(end * NS), Accepted(client, self.ts, observed_digest(result))))

    def verdict(self):
        oracle = PartitionOracle(CTX)
        for t, ev in sorted(self.events, key=lambda e: e[0]):
            oracle.observe(t, ev)
        return oracle.verdict()


def test_a_cp_history_is_unavailable_on_the_minority_side_and_never_conflicts():
    h = History()
    h.op(5, 0.5, 0.52, encode_op("put", b"k", b"a"))
    h.op(5, 1.1, None, encode_op("put", b"k", b"b"))  # the minority side waits for the heal
    for i in range(10):
        h.op(6, 1.0 + 0.1 * i, 1.05 + 0.1 * i, encode_op("put", b"k", b"c%d" % i))
    v = h.verdict()
    w = v.section["windows"][0]
    assert v.safe is None and v.live is None
    assert [s["availability"] for s in w["sides"]] == [0.0, 1.0]
    assert [s["counted"] for s in w["sides"]] == [1, 10]
    assert w["conflicting_keys"] == 0 and w["written_keys"] == 1
    assert w["sides"][0]["answered_rps_before"] > 0 and w["sides"][0]["answered_rps"] == 0


def test_writes_acknowledged_on_both_sides_conflict_and_a_read_that_misses_one_is_stale():
    h = History()
    h.op(5, 1.2, 1.25, encode_op("put", b"k", b"left"))
    h.op(6, 1.3, 1.35, encode_op("put", b"k", b"right"))
    h.op(5, 1.5, 1.55, encode_op("get", b"k"), get_result(b"left"))  # misses the completed "right" write
    h.op(6, 1.6, 1.65, encode_op("put", b"j", b"only-right"))
    w = h.verdict().section["windows"][0]
    assert w["conflicting_keys"] == 1 and w["written_keys"] == 2
    assert w["sides"][0]["stale_reads"] == 1 and w["sides"][0]["reads"] == 1
    assert w["stale_rate"] == 1.0
    assert [s["availability"] for s in w["sides"]] == [1.0, 1.0]


def test_an_operation_too_close_to_the_heal_is_not_counted_and_one_caught_by_the_cut_is_not_either():
    h = History()
    h.op(5, 0.99, 1.5, encode_op("put", b"k", b"caught"))  # issued while the system was whole
    h.op(5, 2.8, None, encode_op("put", b"k", b"late"))  # less than PATIENCE_S before the heal
    w = h.verdict().section["windows"][0]
    assert w["sides"][0]["counted"] == 0 and w["sides"][0]["availability"] is None
    assert w["sides"][0]["issued"] == 1


def test_the_timeline_counts_answers_per_side_in_every_bin():
    h = History()
    h.op(5, 0.0, 0.05, encode_op("put", b"k", b"a"))
    h.op(6, 0.3, 0.32, encode_op("put", b"k", b"b"))
    rows = h.verdict().section["timeline"]
    assert [r["t_s"] for r in rows] == [0.0, 0.1, 0.2, 0.3]
    assert rows[0]["answered_rps_0"] == 10.0 and rows[3]["answered_rps_1"] == 10.0
    assert rows[1] == {"t_s": 0.1, "answered_rps_0": 0.0, "answered_rps_1": 0.0}


def test_windows_put_the_nodes_no_group_lists_in_one_more_group():
    spec_partitions = [SimpleNamespace(start_s=2.0, end_s=3.0, groups=((0, 5),)),
                       SimpleNamespace(start_s=0.5, end_s=1.0, groups=((1,), (2,)))]
    w = partition_windows(spec_partitions, range(6))
    assert [x.start_s for x in w] == [0.5, 2.0]
    assert w[0].groups == ((1,), (2,), (0, 3, 4, 5)) and w[1].groups == ((0, 5), (1, 2, 3, 4))


def test_a_run_without_partitions_reports_none():
    v = PartitionOracle(OracleContext((0,), (1,), (), 0)).verdict()
    assert v.section == {"windows": []}
