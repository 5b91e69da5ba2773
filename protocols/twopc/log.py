"""Forced log writes for the commit protocols: actions held until the write they depend on is durable.

Theory of operation
-------------------
A commit protocol's safety rests on a few *forced* log writes (Gray & Lamport,
"Consensus on Transaction Commit", TODS 2006, §3; Mohan, Lindsay & Obermarck,
TODS 1986, §2): a participant's prepared record before its yes vote, a
coordinator's commit record before any COMMIT leaves it. Through the storage
seam (:mod:`bftlab.api`) a forced write is ``Persist`` records, then
``Sync(token)``; what depends on them (the vote, the COMMIT, the client's
answer, the history event that says so) is held here and released by the
matching ``Synced(token)``. A crash cancels the Syncs in flight, and with them
the held actions: a vote is never sent for a record that may be lost.

Unforced writes (an abort record under presumed abort, a decision a
participant may learn again) are plain ``Persist`` records followed by a
``Sync`` nobody waits for: they become durable soon, but nothing depends on it.
Records are keyed ``<kind>/<client>/<ts>``; :func:`parse` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bftlab.api import Persist, Sync

Txn = tuple[int, int]


def key(kind: str, txn: Txn) -> str:
    """The log key of ``kind``'s record for ``txn``."""
    return f"{kind}/{txn[0]}/{txn[1]}"


def parse(recovered: Mapping[str, bytes]) -> dict[str, dict[Txn, bytes]]:
    """``{kind: {txn: value}}`` from ``Start.recovered``; raises ValueError on a key it cannot read."""
    out: dict[str, dict[Txn, bytes]] = {}
    for k, v in recovered.items():
        parts = k.split("/")
        if len(parts) != 3 or not parts[1].lstrip("-").isdigit() or not parts[2].isdigit():
            raise ValueError(f"unreadable log key {k!r}")
        out.setdefault(parts[0], {})[(int(parts[1]), int(parts[2]))] = bytes(v)
    return out


def _about(action: Any, txn: Txn) -> bool:
    """Whether a held action is about ``txn``: a message or event naming it, or a timer keyed by it."""
    item = getattr(action, "msg", None) or getattr(action, "event", None)
    if item is not None:
        return (getattr(item, "client", None), getattr(item, "ts", None)) == txn
    name = getattr(action, "name", None)
    return type(name) is tuple and txn in name


def ids(nodes: Iterable[int]) -> bytes:
    """A record value listing node ids."""
    return b",".join(b"%d" % n for n in nodes)


def parse_ids(value: bytes) -> tuple[int, ...]:
    return tuple(int(x) for x in value.split(b",")) if value else ()


class ForcedLog:
    """Issues Syncs and holds the actions that must wait for them."""

    __slots__ = ("token", "held", "forced", "lazy")

    def __init__(self) -> None:
        self.token = 0
        self.held: dict[int, list[Any]] = {}
        self.forced = 0  # counters for the cost tests: forced and unforced writes issued
        self.lazy = 0

    def force(self, out: list[Any], records: Iterable[tuple[str, bytes]], then: list[Any]) -> None:
        """Append ``records`` and a Sync to ``out``; ``then`` runs once they are durable."""
        for k, v in records:
            out.append(Persist(k, v))
        self.token += 1
        self.forced += 1
        self.held[self.token] = then
        out.append(Sync(self.token))

    def write(self, out: list[Any], records: Iterable[tuple[str, bytes]]) -> None:
        """Append ``records`` without waiting for them (an unforced write)."""
        for k, v in records:
            out.append(Persist(k, v))
        self.token += 1
        self.lazy += 1
        out.append(Sync(self.token))

    def cancel(self, txn: Txn) -> None:
        """Forget the held actions about ``txn`` (a yes vote overtaken by an abort: it must not go out)."""
        for token, actions in self.held.items():
            self.held[token] = [a for a in actions if not _about(a, txn)]

    def synced(self, token: Any) -> list[Any]:
        """The actions released by ``Synced(token)`` (a runtime may answer several Syncs with the last one)."""
        if type(token) is not int:
            return []
        out: list[Any] = []
        for t in sorted(t for t in self.held if t <= token):
            out += self.held.pop(t)
        return out
