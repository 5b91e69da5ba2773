"""Client-facing messages of the crash-fault protocols (wire codes 0x200-0x20F).

Codes of the protocols that use them: Raft 0x210-0x23F, Multi-Paxos 0x240-0x26F,
VR 0x270-0x29F, ZAB 0x2A0-0x2CF.
"""

from __future__ import annotations

from dataclasses import dataclass

from bftlab.core.wire import message

NO_LEADER = -1
"""``Redirect.leader`` when the replica does not know who leads."""


@message(0x200)
@dataclass(frozen=True, slots=True)
class ClientRequest:
    """Execute ``op`` for ``client``; ``(client, ts)`` identifies it across retries."""

    client: int
    ts: int
    op: bytes


@message(0x201)
@dataclass(frozen=True, slots=True)
class ClientReply:
    """The result of ``(client, ts)``, sent once the command is committed and executed."""

    client: int
    ts: int
    result: bytes
    replica: int
    leader: int


@message(0x202)
@dataclass(frozen=True, slots=True)
class Redirect:
    """``replica`` cannot order ``(client, ts)``: ask ``leader`` (or :data:`NO_LEADER`: retry later)."""

    client: int
    ts: int
    replica: int
    leader: int


MESSAGE_TYPES: tuple[type, ...] = (ClientRequest, ClientReply, Redirect)
