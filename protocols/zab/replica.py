"""The ZAB replica: its roles, its history, execution, and the client door.

Theory of operation
-------------------
A replica is LOOKING (running :mod:`.election`), FOLLOWING or LEADING. The
elected leader and its followers then run the three phases of Zab (DSN'11
§IV; Medeiros 2012 §3): **discovery** (FOLLOWERINFO -> NEWEPOCH -> ACKEPOCH:
a quorum agrees on a new epoch above every acceptedEpoch and the leader adopts
the most recent history among them), **synchronisation** (NEWLEADER brings each
follower to that initial history, followers ACK once it is durable, the leader
commits it on a quorum) and **broadcast** (PROPOSAL, ACK, COMMIT in primary
order: zxid ``(epoch, counter)``, followers accept proposals only in order).
The leader side lives in :mod:`.leader`, the follower side in
:mod:`.follower`; this module holds what both share.

Execution. Committed entries are applied in history order to the shared
:class:`~bftlab.protocols.cft.KvMachine`; each index is reported once as
``Executed(seq=index, view=txn epoch)``. The ``commit`` record is persisted
with it and the observation (and the leader's reply) waits for its Sync, so a
restarted replica replays up to its record silently (``StateTransferred``) and
never executes an index twice (see :mod:`.durability`).

Clients. Only the established leader orders requests: it answers a request
already executed with the cached result, ignores one already in its history,
and proposes a new one. A leader still in discovery/sync keeps the latest
request per client until it is established. Followers and LOOKING replicas
answer with ``Redirect`` (the leader they follow, or none): the client sends
it to the leader itself, so no replica relays requests.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import (
    Broadcast,
    CancelTimer,
    Executed,
    NodeContext,
    Observe,
    Receive,
    Recovered,
    Send,
    SetTimer,
    Start,
    StateTransferred,
    Synced,
    TimerFired,
    ViewChanged,
)
from bftlab.errors import InvariantError
from bftlab.protocols.cft import ClientReply, ClientRequest, KvMachine, Redirect
from bftlab.protocols.cft.messages import NO_LEADER

from . import durability
from .durability import SelfAck, WriteAhead, int_record, txn_record
from .election import Fle, Vote
from .follower import FollowerRole
from .leader import LeaderRole
from .messages import FOLLOWING, LEADING, LOOKING, ZERO, FollowerInfo, Notification, Txn, Zxid, well_formed
from .params import ZabParams
from .phases import BROADCAST, DISCOVERY, ELECT, FINALIZE, SYNC, TICK, WATCH


class ZabReplica(LeaderRole, FollowerRole):
    """One ZAB server (see the module docstring)."""

    ack_before_sync = False
    """The planted bug of the tests: a follower ACKs a PROPOSAL before its log write is durable."""

    def __init__(self, ctx: NodeContext) -> None:
        self.node_id = ctx.node_id
        self.n = ctx.n
        self.replicas = tuple(ctx.replicas)
        self.others = tuple(r for r in self.replicas if r != self.node_id)
        self.clients = frozenset(ctx.clients)
        self.quorum = self.n // 2 + 1
        self.params: ZabParams = ctx.params if isinstance(ctx.params, ZabParams) else ZabParams()
        self.rng = ctx.rng
        self.counters: dict[str, int] = {}
        self.now = 0.0
        # Persistent state of the paper (mirrored on disk, see durability).
        self.accepted_epoch = 0
        self.accepted_from = NO_LEADER  # whose NEWEPOCH(accepted_epoch) we acknowledged
        self.current_epoch = 0
        self.history: list[Txn] = []
        self.commit = 0  # highest executed (= known committed and applied) index
        self.machine = KvMachine()
        self.wa = WriteAhead()
        # Roles.
        self.state = LOOKING
        self.leader = NO_LEADER
        self.phase = DISCOVERY
        self.fle = Fle(self.node_id, self.n, self.quorum)
        self.finalize_armed = False
        self.early_infos: dict[int, FollowerInfo] = {}
        self._out: list[Any] = []
        self._eager: list[Any] = []
        self._init_leader()
        self._init_follower()

    # ------------------------------------------------------------------ entry point
    def step(self, now: float, inp: Any) -> list[Any]:
        self.now = now
        self._out, self._eager = [], []
        t = type(inp)
        if t is Receive:
            if inp.sender not in self.replicas and inp.sender not in self.clients:
                self._drop("drop.bad_sender")
            elif not hasattr(inp.msg, "__dataclass_fields__") or not well_formed(inp.msg):
                self._drop("drop.malformed")
            else:
                try:
                    self._on_receive(inp.sender, inp.msg)
                except (TypeError, ValueError, AttributeError, IndexError, KeyError):
                    self._drop("drop.exception")  # a peer's garbage must never crash us
        elif t is TimerFired:
            self._on_timer(inp.name)
        elif t is Synced:
            released: list[Any] = []
            for item in self.wa.synced(inp.token):
                if type(item) is SelfAck:
                    self._self_acked(item)  # may commit: its actions go through the write-ahead below
                else:
                    released.append(item)
            return [*released, *self.wa.filter(self._out, self._eager)]
        elif t is Start:
            self._boot(inp.recovered)
        return self.wa.filter(self._out, self._eager)

    def _drop(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _on_receive(self, sender: int, m: Any) -> None:
        t = type(m)
        if t is ClientRequest:
            if m.client != sender:
                return self._drop("drop.bad_sender")
            return self._on_request(m)
        if sender not in self.replicas or sender == self.node_id:
            return self._drop("drop.bad_sender")
        if t is Notification:
            return self._on_notification(sender, m)
        if self.state == LEADING:
            self._leader_receive(sender, m)
        elif self.state == FOLLOWING:
            self._follower_receive(sender, m)
        elif type(m) is FollowerInfo and m.replica == sender:
            self.early_infos[sender] = m  # it decided for us before we did: used if we decide to lead
        else:
            self._drop("drop.looking")

    def _on_timer(self, name: Any) -> None:
        if name == ELECT and self.state == LOOKING:
            self._new_round()
        elif name == FINALIZE:
            self.finalize_armed = False
            if self.state == LOOKING and self.fle.agreed() >= self.quorum:
                self._decide(self.fle.vote[2])
        elif name == SYNC and self.state != LOOKING and self.phase != BROADCAST:
            self._count("zab.sync_timeouts")
            self.start_election()
        elif name == TICK and self.state == LEADING:
            self._leader_tick()
        elif name == WATCH and self.state == FOLLOWING:
            self._follower_watch()

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    # ------------------------------------------------------------------ boot
    def _boot(self, recovered: Any) -> None:
        if recovered:
            try:
                st = durability.load(recovered)
            except ValueError as exc:
                raise InvariantError(f"zab replica {self.node_id}: {exc}") from None
            self.accepted_epoch, self.current_epoch = st.accepted_epoch, st.current_epoch
            self.accepted_from = st.accepted_from
            self.history = st.history
            for txn in self.history[: st.commit]:  # executed and observed before the crash: replay silently
                self.machine.apply(txn.client, txn.ts, txn.op, self.now)
            self.commit = st.commit
            if self.commit:
                self._out.append(Observe(StateTransferred(self.node_id, self.commit)))
            self._out.append(Observe(Recovered(self.node_id)))
        else:  # a first boot: the record tells a later boot that it is a restart
            self._out.append(durability.accepted_record(0, NO_LEADER))
        self._out.append(Observe(ViewChanged(self.node_id, self.current_epoch)))
        self.start_election()

    # ------------------------------------------------------------------ history
    def last_zxid(self) -> Zxid:
        return self.history[-1].zxid if self.history else ZERO

    def own_vote(self) -> Vote:
        return (self.current_epoch, self.last_zxid(), self.node_id)

    def _accept_epoch(self, epoch: int, leader: int) -> None:
        """acceptedEpoch := ``epoch``, proposed by ``leader`` (a promise: never ACK an older epoch, nor this one
        for another leader)."""
        self._out.append(durability.accepted_record(epoch, leader))
        self.accepted_epoch, self.accepted_from = epoch, leader

    def _set_current_epoch(self, value: int) -> None:
        self._out.append(int_record(durability.CURRENT_EPOCH, value))
        if value != self.current_epoch:
            self.current_epoch = value
            self._out.append(Observe(ViewChanged(self.node_id, value)))

    def _append(self, txn: Txn) -> int:
        self.history.append(txn)
        i = len(self.history)
        self._out += [txn_record(i, txn), int_record(durability.LENGTH, i)]
        return i

    def _replace_history(self, base: int, entries: tuple[Txn, ...] | list[Txn]) -> None:
        """Keep the first ``base`` entries and append ``entries`` (TRUNC/DIFF/SNAP), persisting only changes."""
        new = self.history[:base] + list(entries)
        same = 0
        while same < min(len(new), len(self.history)) and new[same] == self.history[same]:
            same += 1
        if same < self.commit:
            # Only a broken quorum gets here (a committed entry is in every later initial history): rebuild the
            # state from the kept prefix and say so, the oracle judges what was executed before.
            self._count("zab.executed_truncated")
            self.machine = KvMachine()
            for txn in new[:same]:
                self.machine.apply(txn.client, txn.ts, txn.op, self.now)
            self.commit = same
            self._out += [int_record(durability.COMMIT, same), Observe(StateTransferred(self.node_id, same))]
        if same < len(self.history):
            # Cut first: a crash in the middle of the rewrite (a torn tail) must leave a prefix, never old
            # entries behind new ones.
            self._out.append(int_record(durability.LENGTH, same))
        self.history = new
        for i in range(same, len(new)):
            self._out.append(txn_record(i + 1, new[i]))
        self._out.append(int_record(durability.LENGTH, len(new)))

    def _commit_to(self, k: int) -> None:
        """Execute the history up to ``k`` (it is committed); the leader answers the clients."""
        k = min(k, len(self.history))
        if k <= self.commit:
            return
        leading = self.state == LEADING
        for i in range(self.commit + 1, k + 1):
            txn = self.history[i - 1]
            result, entry = self.machine.apply(txn.client, txn.ts, txn.op, self.now)
            self._out.append(Observe(Executed(self.node_id, i, txn.epoch, () if entry is None else (entry,))))
            if leading and result is not None:
                self._out.append(Send(txn.client, ClientReply(txn.client, txn.ts, result, self.node_id,
                                                              self.node_id)))
        self.commit = k
        self._out.append(int_record(durability.COMMIT, k))

    # ------------------------------------------------------------------ clients
    def _on_request(self, m: ClientRequest) -> None:
        if self.state == LEADING:
            return self._leader_request(m)
        hint = self.leader if self.state == FOLLOWING else NO_LEADER
        self._out.append(Send(m.client, Redirect(m.client, m.ts, self.node_id, hint)))

    # ------------------------------------------------------------------ election
    def start_election(self) -> None:
        """Back to LOOKING: a new FLE round voting for ourselves."""
        if self.state != LOOKING:
            self._count("zab.elections")
        self.state, self.leader, self.phase = LOOKING, NO_LEADER, DISCOVERY
        self._init_leader()
        self._init_follower()
        self._out += [CancelTimer(TICK), CancelTimer(WATCH), CancelTimer(SYNC)]
        self._new_round()

    def _new_round(self) -> None:
        note = self.fle.start(self.own_vote())
        self._broadcast(note)
        self._arm_election()
        self._check_agreed()

    def _arm_election(self) -> None:
        self._out.append(SetTimer(ELECT, self.params.election_timeout_s * (1.0 + self.rng.random())))

    def _broadcast(self, msg: Any) -> None:
        self._out.append(Broadcast(self.others, msg))

    def _on_notification(self, sender: int, m: Notification) -> None:
        if m.sender != sender:
            return self._drop("drop.bad_sender")
        if self.state != LOOKING:
            if m.state == LOOKING:  # tell it whom we follow (or that we lead)
                self._out.append(Send(sender, self.fle.note(self.state, (self.current_epoch, self.last_zxid(),
                                                                         self.leader))))
                if sender == self.leader:  # our leader gave up: so do we
                    self.start_election()
            return None
        if m.state != LOOKING:
            leader = self.fle.established_leader(m)
            if leader is not None:
                self._decide(leader)
            return None
        again, answer = self.fle.receive(m, self.own_vote())
        if again:
            self._broadcast(self.fle.note())
            self._arm_election()
        elif answer:
            self._out.append(Send(sender, self.fle.note()))
        self._check_agreed()

    def _check_agreed(self) -> None:
        agreed = self.fle.agreed()
        if agreed >= self.n:
            self._decide(self.fle.vote[2])
        elif agreed >= self.quorum and not self.finalize_armed:
            self.finalize_armed = True
            self._out.append(SetTimer(FINALIZE, self.params.finalize_s))

    def _decide(self, leader: int) -> None:
        self._out += [CancelTimer(ELECT), CancelTimer(FINALIZE)]
        self.finalize_armed = False
        self.leader = leader
        self.phase = DISCOVERY
        self._out.append(SetTimer(SYNC, self.params.sync_timeout_s))
        early, self.early_infos = self.early_infos, {}
        if leader == self.node_id:
            self.state = LEADING
            self._lead(early)
        else:
            self.state = FOLLOWING
            self._follow()


def make_replica(ctx: NodeContext) -> ZabReplica:
    return ZabReplica(ctx)


__all__ = ["ZabReplica", "make_replica"]
