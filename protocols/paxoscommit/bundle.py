"""Bundled Phase 2b (``bundle_2b``): an acceptor's ballot-0 acceptances of a transaction, held until all are in.

Theory of operation
-------------------
Gray & Lamport's normal-case count has each acceptor send **one** Phase 2b
message for all N instances of a transaction and make **one** forced write for
them. Here an acceptor with ``bundle_2b`` accepts each ballot-0 Phase 2a in
memory as it arrives and records the instance as *pending*: neither written
nor reported. It *flushes* the transaction (one forced write of its record,
then one :class:`~.messages.Phase2bBundle` per coordinator named in the
pending Phase 2a messages, normally one) when

* it has accepted a value for every instance (the normal case), or
* the value just accepted is Aborted (the transaction aborts whatever the
  others vote: no reason to wait), or
* ``bundle_wait_s`` passed since the first pending instance (an RM is slow or
  down); from then on that transaction is handled one instance at a time, as
  without the option, so liveness under faults is what it was, or
* any other message needs the transaction's state: an RM's retry, a Phase 1a,
  a higher ballot's Phase 2a. The flush comes first, in the same step, so what
  the acceptor then says follows the same forced write.

Safety needs nothing new: a pending acceptance was never reported, so an
acceptor that crashes before the flush forgets a vote nobody saw (it then
behaves like an acceptor the Phase 2a never reached), and every message that
reports an acceptance (Phase 2b, the bundle, Phase 1b) leaves only after the
write that covers it (:class:`~.durability.WriteAhead`).
"""

from __future__ import annotations

from .durability import Txn


class Bundles:
    """Pending ballot-0 acceptances per transaction, and the transactions that fell back to one-by-one."""

    __slots__ = ("pending", "unbundled")

    def __init__(self) -> None:
        self.pending: dict[Txn, dict[int, int]] = {}  # txn -> rm -> the coordinator its Phase 2a named
        self.unbundled: set[Txn] = set()  # waited bundle_wait_s once: no more bundling for these

    def bundling(self, txn: Txn, ballot: int, retry: bool) -> bool:
        """Whether a Phase 2a of ``ballot`` goes into the transaction's bundle (ballot 0, a first vote)."""
        return ballot == 0 and not retry and txn not in self.unbundled

    def add(self, txn: Txn, rm: int, leader: int) -> bool:
        """Hold ``rm``'s acceptance for ``leader``; True if it is the transaction's first pending one."""
        first = txn not in self.pending
        self.pending.setdefault(txn, {})[rm] = leader
        return first

    def holds(self, txn: Txn, rm: int) -> bool:
        return rm in self.pending.get(txn, ())

    def take(self, txn: Txn) -> dict[int, tuple[int, ...]]:
        """Remove the transaction's pending instances: coordinator -> its instances, in order."""
        by_leader: dict[int, list[int]] = {}
        for rm, leader in sorted(self.pending.pop(txn, {}).items()):
            by_leader.setdefault(leader, []).append(rm)
        return {leader: tuple(rms) for leader, rms in sorted(by_leader.items())}

    def forget(self, txn: Txn) -> None:
        """The outcome is known: nobody needs these any more (a later Phase 1a still finds them in memory)."""
        self.pending.pop(txn, None)
        self.unbundled.discard(txn)
