"""Client-facing messages of the commit protocols (wire codes 0x300-0x30F)."""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message


@message(0x300)
@dataclass(frozen=True, slots=True)
class TxnSubmit:
    """Run transaction attempt ``(client, ts)``: its ``writes`` as ``(shard, key, value)``."""

    client: int
    ts: int
    writes: tuple[tuple[int, bytes, bytes], ...]


@message(0x301)
@dataclass(frozen=True, slots=True)
class TxnOutcome:
    """The decision on attempt ``(client, ts)``, from the coordinator ``replica``."""

    client: int
    ts: int
    commit: bool
    replica: int


MESSAGE_TYPES: tuple[type, ...] = (TxnSubmit, TxnOutcome)
