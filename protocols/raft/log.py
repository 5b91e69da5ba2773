"""The replicated log in memory and on stable storage.

Theory of operation
-------------------
Indices start at 1. After a snapshot the log keeps only the entries above
``base`` (the snapshot's last index), whose term ``base_term`` is remembered
for the consistency check of AppendEntries (§5.3, §7).

What Figure 2 says must survive a crash is ``currentTerm``, ``votedFor`` and
``log[]``; §7 adds the latest snapshot. Records (the storage seam keeps the
latest value per key):

* ``hs``: ``(term, voted_for, applied)``. ``applied`` is not in Figure 2: the
  history oracle must never see a replica execute an index twice, so a
  restarted replica replays its log silently up to it (like etcd's
  HardState.Commit). It is persisted before the ``Executed`` it covers is
  reported.
* ``e/<i>``: entry ``i``; ``last``: the last valid index. A truncation first
  writes ``last`` below the conflict, then the new entries, then ``last``
  again, so any prefix of these records that survives a crash is a log that
  the Log Matching property still holds for.
* ``snap``: ``(index, term, voters, state)``; entries at or below it are dead
  records (the seam cannot delete, recovery ignores them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bftlab.api import Persist
from bftlab.core import wire

from .messages import Entry

HS = "hs"
LAST = "last"
SNAP = "snap"


def entry_key(index: int) -> str:
    return f"e/{index}"


class RaftLog:
    """Entries ``base+1 .. last`` and the term of ``base``."""

    __slots__ = ("base", "base_term", "entries")

    def __init__(self, base: int = 0, base_term: int = 0) -> None:
        self.base = base
        self.base_term = base_term
        self.entries: list[Entry] = []

    @property
    def last(self) -> int:
        return self.base + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.base_term

    def term_at(self, index: int) -> int | None:
        """The term of entry ``index``; None when it is compacted away (below base) or beyond the end."""
        if index == self.base:
            return self.base_term
        if self.base < index <= self.last:
            return self.entries[index - self.base - 1].term
        return None

    def get(self, index: int) -> Entry:
        return self.entries[index - self.base - 1]

    def slice(self, start: int, limit: int) -> tuple[Entry, ...]:
        """Up to ``limit`` entries from ``start`` (which must be above base)."""
        i = start - self.base - 1
        return tuple(self.entries[i:i + limit])

    def first_of_term(self, index: int) -> int:
        """The first index (above base) holding the same term as ``index`` (the §5.3 hint)."""
        term = self.term_at(index)
        while index - 1 > self.base and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 when the log has none."""
        for i in range(self.last, self.base, -1):
            t = self.get(i).term
            if t == term:
                return i
            if t < term:
                break
        return 0

    def append(self, entries: tuple[Entry, ...] | list[Entry], out: list) -> None:
        """Append and persist (the caller adds the Sync)."""
        first = self.last + 1
        self.entries.extend(entries)
        for i, e in enumerate(entries):
            out.append(Persist(entry_key(first + i), wire.encode(e)))
        out.append(Persist(LAST, wire.encode(self.last)))

    def truncate(self, keep: int, out: list) -> None:
        """Drop entries above ``keep`` (never below base: those are committed)."""
        del self.entries[keep - self.base:]
        out.append(Persist(LAST, wire.encode(self.last)))

    def compact(self, index: int, term: int) -> None:
        """Forget entries up to ``index`` (a snapshot covers them)."""
        if index >= self.last:
            self.entries = []
        else:
            del self.entries[:index - self.base]
        self.base, self.base_term = index, term


@dataclass
class Stable:
    """Decoded ``Start.recovered``."""

    term: int = 0
    voted_for: int = -1
    applied: int = 0
    snap: tuple[int, int, tuple[int, ...], bytes] | None = None
    log: RaftLog = field(default_factory=RaftLog)


def hs_record(term: int, voted_for: int, applied: int) -> Persist:
    return Persist(HS, wire.encode((term, voted_for, applied)))


def snap_record(index: int, term: int, voters: tuple[int, ...], data: bytes) -> Persist:
    return Persist(SNAP, wire.encode((index, term, voters, data)))


def load(recovered: dict[str, bytes]) -> Stable:
    """Rebuild what the replica had made durable; ValueError when a record is unreadable."""
    st = Stable()
    try:
        if HS in recovered:
            st.term, st.voted_for, st.applied = wire.decode(recovered[HS])
        base = base_term = 0
        if SNAP in recovered:
            index, term, voters, data = wire.decode(recovered[SNAP])
            st.snap = (index, term, tuple(voters), data)
            base, base_term = index, term
        st.log = RaftLog(base, base_term)
        last = wire.decode(recovered[LAST]) if LAST in recovered else 0
        for i in range(base + 1, last + 1):
            e = wire.decode(recovered[entry_key(i)])
            if type(e) is not Entry:
                raise ValueError(f"record e/{i} is not an entry")
            st.log.entries.append(e)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"raft: unreadable stable records: {exc!r}") from None
    return st
