"""What a PBFT replica keeps on stable storage, and the write-ahead rule for its messages.

Theory of operation
-------------------
PBFT's safety argument assumes that a correct replica never contradicts what it
said before (TOCS'02 §4.2-4.4): it never sends two PREPAREs or COMMITs for the
same ``(v, n)`` with different digests, never goes back to a view below one it
sent a VIEW-CHANGE for, and its VIEW-CHANGE reports every request it prepared.
Castro's thesis (§4.3, "what must be stable") and the recovery of TOCS'02 §5
therefore keep on stable storage everything a replica's future messages depend
on. Here a replica persists, with :class:`~bftlab.api.Persist` (keys below):

* ``view``: ``(view, active)``, before its VIEW-CHANGE for a view and before it
  acts in a view it installs, so a restarted replica never returns to a lower
  view (§4.4);
* ``pp/<n>``: the PRE-PREPARE it accepted (or, as primary, sent) for ``n``,
  before its PREPARE (or its PRE-PREPARE) goes out: after a restart it still
  refuses a different batch for that ``(v, n)`` and a primary never reuses ``n``;
* ``cert/<n>``: its prepared certificate (PRE-PREPARE + 2f PREPAREs), before its
  COMMIT: the COMMIT depends on it, and its next VIEW-CHANGE must carry it in
  ``P`` (§4.4), restart or not;
* ``x/<n>``: the PRE-PREPARE it executed at ``n``, before the REPLY and the
  CHECKPOINT that follow: the highest executed seq and, replayed on top of the
  stable checkpoint, the state and the last-reply table, so no request executes
  twice across a restart (§4.1's exactly-once);
* ``ckpt``: its latest stable checkpoint ``(n, digest, proof, snapshot)``
  (§4.3), the base that ``x/*`` is replayed on.

**Write-ahead (group commit).** A message is sent only once what it depends on
is durable. :class:`WriteAhead` enforces it for a whole step at a time: if the
step persisted anything, it appends one ``Sync`` and holds the step's sends and
observations until ``Synced``; a later step that persisted nothing still queues
its sends behind the held ones, so no message overtakes a write it may depend
on. One fsync (or one group commit of several) thus covers all the votes of a
step. An execution's ``Executed`` observation is held too: it counts as done
once durable, and a crash before that makes the replica execute the batch again
after the restart, which is invisible outside because its REPLY was held too.
The planted bug ``eager`` sends at once (the Sync still goes out but nobody
waits for it).

Records are never deleted (the storage seam has no compaction yet); recovery
reads only what lies above the persisted stable checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bftlab.api import Broadcast, Observe, Persist, Send, Sync
from bftlab.core import wire

from .messages import Checkpoint, PreparedCert, PrePrepare

VIEW = "view"
CKPT = "ckpt"
_HELD = (Send, Broadcast, Observe)


def pp_key(seq: int) -> str:
    return f"pp/{seq}"


def cert_key(seq: int) -> str:
    return f"cert/{seq}"


def exec_key(seq: int) -> str:
    return f"x/{seq}"


def view_record(view: int, active: bool) -> Persist:
    return Persist(VIEW, wire.encode((view, active)))


def ckpt_record(seq: int, digest: bytes, proof: tuple[Checkpoint, ...], snap: bytes) -> Persist:
    return Persist(CKPT, wire.encode((seq, digest, proof, snap)))


def pp_record(pp: PrePrepare) -> Persist:
    return Persist(pp_key(pp.seq), wire.encode(pp))


def cert_record(cert: PreparedCert) -> Persist:
    return Persist(cert_key(cert.pre_prepare.seq), wire.encode(cert))


def exec_record(pp: PrePrepare) -> Persist:
    return Persist(exec_key(pp.seq), wire.encode(pp))


@dataclass
class Stable:
    """What a replica finds on its disk when it boots (decoded ``Start.recovered``)."""

    view: int = 0
    active: bool = True
    ckpt: tuple[int, bytes, tuple[Checkpoint, ...], bytes] | None = None
    pre_prepares: dict[int, PrePrepare] = field(default_factory=dict)
    certs: dict[int, PreparedCert] = field(default_factory=dict)
    executed: dict[int, PrePrepare] = field(default_factory=dict)


def load(recovered: dict[str, bytes]) -> Stable:
    """Decode the records; raises ValueError (our own disk is corrupt: the runtime's checksums passed)."""
    st = Stable()
    for key in sorted(recovered):
        value = recovered[key]
        try:
            if key == VIEW:
                st.view, st.active = wire.decode(value)
            elif key == CKPT:
                st.ckpt = tuple(wire.decode(value))
            else:
                kind, _, seq = key.partition("/")
                tables: dict[str, dict[int, Any]] = {"pp": st.pre_prepares, "cert": st.certs, "x": st.executed}
                table = tables.get(kind)
                if table is None or not seq.isdigit():
                    raise ValueError("unknown key")
                table[int(seq)] = wire.decode(value)
        except Exception as exc:
            raise ValueError(f"pbft: unreadable stable record {key!r}: {exc}") from None
    return st


class WriteAhead:
    """Holds each step's messages until the Sync of its writes completes (see the module docstring)."""

    __slots__ = ("eager", "held", "token")

    def __init__(self, eager: bool = False) -> None:
        self.eager = eager
        self.held: list[tuple[int, list[Any]]] = []  # (sync token, actions waiting for it), oldest first
        self.token = 0

    def filter(self, out: list[Any]) -> list[Any]:
        """The actions to run now for one step's ``out``; the rest wait for :meth:`synced`."""
        if not any(type(a) is Persist for a in out):
            if not self.held:
                return out
            now = [a for a in out if type(a) not in _HELD]
            self.held[-1][1].extend(a for a in out if type(a) in _HELD)
            return now
        if self.eager:  # the planted bug: sync, but do not wait for it
            return [*[a for a in out if type(a) is Persist], Sync(None), *[a for a in out if type(a) is not Persist]]
        self.token += 1
        now = [a for a in out if type(a) not in _HELD]
        self.held.append((self.token, [a for a in out if type(a) in _HELD]))
        now.append(Sync(self.token))
        return now

    def synced(self, token: Any) -> list[Any]:
        """The writes up to ``token`` are durable: the held actions they covered, in order."""
        if type(token) is not int:
            return []
        out: list[Any] = []
        while self.held and self.held[0][0] <= token:
            out += self.held.pop(0)[1]
        return out
