"""The event logs of real-transport processes carry every history event the oracles read."""

from __future__ import annotations

from bftlab.api import (
    Accepted,
    Decided,
    Executed,
    ExecutedEntry,
    Issued,
    ReadServed,
    Recovered,
    StateTransferred,
    Submitted,
    TxnBegan,
    ViewChanged,
    Voted,
)
from bftlab.transport.events import EventLog, read_log


def test_every_event_kind_survives_the_log_and_a_torn_tail_is_ignored(tmp_path):
    path = tmp_path / "p.events"
    events = [Submitted(9, b"op"), Issued(9, 1, b"d"), Accepted(9, 1, b"r"), ReadServed(0, 9, 1, b"d", b"r"),
              Executed(0, 1, 0, (ExecutedEntry(9, 1, b"d", b"r"),)), ViewChanged(0, 2), StateTransferred(1, 5),
              Recovered(1), TxnBegan(9, 2, (0, 1)), Voted(0, 9, 2, True), Decided(3, 9, 2, False)]
    log = EventLog(path)
    for ev in events:
        log.write(ev, submitted_ns=7 if type(ev) is Issued else None)
    log.close()
    with open(path, "ab") as fh:
        fh.write(b"\x96\xa1X")  # the first bytes of a record a SIGKILL cut short
    got = [ev for _, _, ev, _ in read_log(path)]
    assert got == events
