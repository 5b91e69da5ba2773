"""Raft beyond Figure 2: snapshots, ReadIndex reads, leadership transfer and membership changes.

Theory of operation
-------------------
**Snapshots (§7, thesis ch. 5).** Every ``snapshot_every`` applied entries a
replica persists the state machine (KV data and session table) with the last
index, term and configuration it covers, and forgets the entries below it. A
follower whose next entry the leader no longer has gets InstallSnapshot: it
keeps the suffix of its log that agrees with the snapshot's last entry, or
drops its whole log, restores the state, reports the jump
(``StateTransferred``) and answers once the snapshot is durable.

**ReadIndex (thesis §6.4).** A get needs no log entry: the leader notes its
commit index (once it has committed an entry of its own term, the no-op),
confirms it is still the leader by a round of heartbeats acknowledged by a
majority, waits until it has applied that index and answers from its state.

**Leadership transfer (thesis §3.10).** The leader stops taking requests,
brings the target up to date, and sends it TimeoutNow; the target starts an
election at once, without pre-vote, and its RequestVote carries a flag that
lets voters ignore their leader lease. A transfer that does not complete within
an election timeout is abandoned. A test (or an operator) starts one by firing
the timer ``("transfer", target)`` at the leader.

**Membership (thesis §4.1).** A configuration is a log entry holding the
new set of voters; every server uses the latest configuration in its log,
committed or not, and a truncation that removes it reverts to the one before.
The leader appends a change only when the previous one is committed and it
has committed an entry of its own term (the fix of the bug noted in thesis
§4.1, which its no-op provides), so two configurations in play always share a
majority. Replicas outside the configuration are learners: the leader
replicates to them (so a server is caught up before it is added), they
neither start elections nor count in a majority. A leader that removed
itself steps down once the change is committed (thesis §4.2.2). An operator
asks with the timer input ``("add", id)`` or ``("remove", id)`` at the leader.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import ReadServed, SetTimer, StateTransferred, observed_digest
from bftlab.core import kv, wire
from bftlab.protocols.cft import ClientReply, ClientRequest, KvMachine

from . import log as stable
from .core import RaftCore, encode_voters
from .log import RaftLog
from .messages import CONFIG, AppendEntries, Entry, InstallSnapshot, SnapshotReply, TimeoutNow

TRANSFER_TIMEOUT = "transfer-timeout"


# ------------------------------------------------------------ snapshots
def maybe_snapshot(rep: RaftCore) -> None:
    every = rep.params.snapshot_every
    if not every or rep.applied - rep.log.base < every:
        return
    index = rep.applied
    term = rep.log.term_at(index)
    assert term is not None
    rep.snap_voters = rep.voters_at(index)
    rep.snap_data = rep.machine.snapshot()
    rep._out.append(stable.snap_record(index, term, rep.snap_voters, rep.snap_data))
    rep.log.compact(index, term)
    rep.counters["snapshots"] = rep.counters.get("snapshots", 0) + 1


def send_snapshot(rep: RaftCore, r: int) -> None:
    log = rep.log
    rep._send(r, InstallSnapshot(rep.term, rep.node_id, log.base, log.base_term, rep.snap_voters,
                                  rep.snap_data, rep.probe))


def on_install_snapshot(rep: RaftCore, sender: int, m: InstallSnapshot) -> None:
    if m.leader != sender:
        return rep._drop("drop.bad_sender")
    if m.term < rep.term:
        rep._send(sender, SnapshotReply(rep.term, rep.node_id, 0, m.probe))
        return None
    if m.term > rep.term or rep.role != "follower" or rep.leader != sender:
        rep._become_follower(m.term, sender)
    rep.leader_seen_at = rep.now
    rep._reset_election_timer()
    if m.last_index > rep.commit:
        try:
            machine = KvMachine.restore(m.data, rep.now)
        except ValueError:
            return rep._drop("drop.bad_snapshot")
        if rep.log.term_at(m.last_index) == m.last_term:
            rep.log.compact(m.last_index, m.last_term)
        else:
            rep.log = RaftLog(m.last_index, m.last_term)
            rep._truncated(m.last_index)
            rep._out.append(stable.Persist(stable.LAST, wire.encode(m.last_index)))
        rep.machine, rep.snap_data, rep.snap_voters = machine, m.data, m.voters
        rep._out.append(stable.snap_record(m.last_index, m.last_term, m.voters, m.data))
        rep.commit = rep.applied = m.last_index
        rep._persist_hs()
        rep._refresh_voters()
        rep._observe(StateTransferred(rep.node_id, m.last_index))
        rep.counters["snapshots.installed"] = rep.counters.get("snapshots.installed", 0) + 1
    rep._send(sender, SnapshotReply(rep.term, rep.node_id, m.last_index, m.probe))
    return None


def on_snapshot_reply(rep: RaftCore, sender: int, m: SnapshotReply) -> None:
    if m.follower != sender:
        return rep._drop("drop.bad_sender")
    if m.term > rep.term:
        rep._become_follower(m.term, -1)
        return None
    p = rep.peers.get(sender)
    if rep.role != "leader" or m.term < rep.term or p is None:
        return None
    rep.active.add(sender)
    p.probe_ack = max(p.probe_ack, m.probe)
    if m.last_index > p.match:
        p.match = m.last_index
    p.next = max(p.next, p.match + 1)
    p.inflight, p.probing = [], False
    rep._advance_commit()
    rep._replicate(sender)
    read_acked(rep)
    return None


# ------------------------------------------------------------ ReadIndex
def read_request(rep: RaftCore, m: ClientRequest) -> None:
    if any(r[0].client == m.client and r[0].ts == m.ts for r in rep.reads):
        return None
    index = rep.commit if rep.log.term_at(rep.commit) == rep.term else None
    rep.reads.append([m, index, rep.probe + 1])
    probe_round(rep)
    read_acked(rep)
    return None


def probe_round(rep: RaftCore) -> None:
    """One round of empty AppendEntries: their acknowledgements confirm our leadership (thesis §6.4)."""
    rep.probe += 1
    for r, p in rep.peers.items():
        prev = p.match if p.match >= rep.log.base else rep.log.base
        prev_term = rep.log.term_at(prev)
        if prev_term is None:
            send_snapshot(rep, r)
        else:
            rep._send(r, stable_append(rep, prev, prev_term))


def reads_applied(rep: RaftCore) -> None:
    if rep.reads:
        read_acked(rep)


def read_acked(rep: RaftCore) -> None:
    if not rep.reads or rep.role != "leader":
        return
    own = rep.log.term_at(rep.commit) == rep.term
    keep = []
    for read in rep.reads:
        m, index, needed = read
        if index is None and own:
            index = read[1] = rep.commit
        confirmed = rep._majority({rep.node_id} | {r for r, p in rep.peers.items() if p.probe_ack >= needed})
        if index is None or not confirmed or rep.applied < index:
            keep.append(read)
            continue
        _, key, _ = kv.decode_op(m.op)
        result = kv.get_result(rep.machine.data.get(key))
        rep.counters["reads.read_index"] = rep.counters.get("reads.read_index", 0) + 1
        rep._observe(ReadServed(rep.node_id, m.client, m.ts, observed_digest(m.op), observed_digest(result)))
        rep._send(m.client, ClientReply(m.client, m.ts, result, rep.node_id, rep.node_id))
    rep.reads = keep


# ------------------------------------------------------------ leadership transfer
def transferring(rep: RaftCore) -> bool:
    return rep.transfer_target is not None


def feature_timer(rep: RaftCore, name: Any) -> None:
    if type(name) is tuple and len(name) == 2 and name[0] == "transfer":
        start_transfer(rep, name[1])
    elif type(name) is tuple and len(name) == 2 and name[0] in ("add", "remove"):
        reconfigure(rep, name[0], name[1])
    elif name == TRANSFER_TIMEOUT:
        rep.transfer_target = None


def start_transfer(rep: RaftCore, target: Any) -> None:
    if rep.role != "leader" or target not in rep.peers or target not in rep.voters:
        return rep._drop("transfer.refused")
    rep.transfer_target = target
    rep._out.append(SetTimer(TRANSFER_TIMEOUT, rep.params.election_timeout_s))
    p = rep.peers[target]
    if p.match < rep.log.last:  # resend from what it is known to hold: the transfer must not wait
        p.next, p.inflight, p.probing = p.match + 1, [], True
    transfer_progress(rep, target)
    return None


def transfer_progress(rep: RaftCore, sender: int) -> None:
    if rep.transfer_target != sender or rep.role != "leader":
        return
    if rep.peers[sender].match >= rep.log.last:
        rep._send(sender, TimeoutNow(rep.term, rep.node_id))
    else:
        rep._replicate(sender)


def on_timeout_now(rep: RaftCore, sender: int, m: TimeoutNow) -> None:
    if m.leader != sender or m.term != rep.term or rep.role == "leader":
        return rep._drop("drop.stale_timeout_now")
    rep.counters["transfer.elections"] = rep.counters.get("transfer.elections", 0) + 1
    rep._start_election(pre=False, transfer=True)
    return None


def leader_stepped_down(rep: RaftCore) -> None:
    rep.transfer_target = None
    rep.reads = []


def stable_append(rep: RaftCore, prev: int, prev_term: int) -> Any:
    """An empty AppendEntries that only claims what ``prev`` says the follower holds."""
    return AppendEntries(rep.term, rep.node_id, prev, prev_term, (), min(rep.commit, prev), rep.probe)


# ------------------------------------------------------------ membership (see the module docstring)
def reconfigure(rep: RaftCore, kind: str, node: Any) -> None:
    if rep.role != "leader" or node not in rep.replicas:
        return rep._drop("config.refused")
    if config_pending(rep) or rep.log.term_at(rep.commit) != rep.term:
        return rep._drop("config.busy")
    voters = set(rep.voters)
    new = voters | {node} if kind == "add" else voters - {node}
    if new == voters or not new:
        return rep._drop("config.refused")
    rep.counters["config.changes"] = rep.counters.get("config.changes", 0) + 1
    rep._append([Entry(rep.term, CONFIG, 0, 0, encode_voters(tuple(new)))])
    return None


def config_pending(rep: RaftCore) -> bool:
    """A configuration entry above the commit index exists."""
    return any(rep.log.get(i).kind == CONFIG for i in range(max(rep.commit, rep.log.base) + 1,
                                                               rep.log.last + 1))


def config_committed(rep: RaftCore) -> None:
    if rep.role == "leader" and rep.node_id not in rep.voters and not config_pending(rep):
        rep.counters["config.stepped_down"] = rep.counters.get("config.stepped_down", 0) + 1
        rep._become_follower(rep.term, -1)
