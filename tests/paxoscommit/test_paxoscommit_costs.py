"""The normal-case cost of Paxos Commit, measured against Gray & Lamport's cost comparison.

With constant link latency L, zero CPU cost and zero storage latency, one
transaction over all N participants, F acceptor faults tolerated, this layout
(separate 2F+1 acceptors, acceptor 0 the coordinator, every RM's Phase 2a to
all acceptors, one Phase 2b per instance to the coordinator only) costs:

* message delays (F >= 1): 5 from the client's request to its answer and to every RM's
  decision (TxnSubmit, Prepare, Phase 2a, Phase 2b, Decision/TxnOutcome), 4
  without the request (coordinator's Prepare to the RMs' decisions), 3 from
  the coordinator's Prepare to its own decision; the paper's 5 and 4. With
  F = 0 the coordinator is the only acceptor and its Phase 2b is local: 4
  delays and 3N+2 messages, two-phase commit, as the paper observes;
* messages: 1 + N + N(2F+1) + 2FN + N + 1 = N(4F+3) + 2, i.e. N(4F+3) without
  the client's two (the coordinator's own acceptor answers locally). The paper's
  (N+1)(F+3)-4 assumes 2a messages to only F+1 acceptors and bundled 2b
  messages, measured below;
* forced writes: N votes + N(2F+1) acceptances = N(2F+2) (the paper's N+F+1
  with F+1 acceptors and bundling), none by the coordinator; two forced write
  delays on the critical path (an RM's vote, then an acceptor's acceptance),
  three once an acceptor's N acceptances need two fsyncs (see the test).

With ``thrifty`` and ``bundle_2b`` the layout is the paper's normal case
(F+1 acceptors take part, the leader's acceptor on its node, one bundled
Phase 2b and one forced write per acceptor): 1 + N + N(F+1) + F + N + 1
messages, i.e. the paper's (N+1)(F+3)-4 plus the client's request, the Prepare
to the RM the paper has initiating, and the answer; N+F+1 forced writes; 5
delays, and 2 forced write delays on the critical path. With F = 0 that is
two-phase commit's 3N-1 (+2) and N+1.
"""

from __future__ import annotations

import pytest

from bftlab.api import Accepted, Decided, Issued, TxnBegan
from tests.paxoscommit.common import doc, simulate

L_NS = 10_000_000  # the constant 10 ms link latency


def paxos_commit_messages(n: int, f: int) -> dict[str, int]:
    """This layout's messages per committed transaction, by type (see the module docstring)."""
    counts = {"TxnSubmit": 1, "Prepare": n, "Phase2a": n * (2 * f + 1), "Phase2b": 2 * f * n, "Decision": n,
              "TxnOutcome": 1}
    return {k: v for k, v in counts.items() if v}  # F = 0: the coordinator is the only acceptor, no Phase 2b


@pytest.mark.parametrize(("n", "f"), [(1, 1), (2, 1), (3, 1), (5, 1), (3, 2), (5, 2), (4, 0)])
def test_normal_case_messages_delays_and_forced_writes_match_the_formulas(n, f):
    sim, rep = simulate(doc(shards=n, faults_f=f, shards_per_txn=n))
    expect = paxos_commit_messages(n, f)
    assert rep["metrics"]["messages"]["by_type"] == expect
    assert rep["metrics"]["messages"]["total"] == sum(expect.values()) == n * (4 * f + 3) + 2
    assert rep["metrics"]["storage"]["syncs"] == n * (2 * f + 2)  # N votes + N(2F+1) acceptances, all forced

    at = {type(e).__name__: t for t, e in sim.history if type(e) in (Issued, Accepted, TxnBegan)}
    decided = {e.node: t for t, e in sim.history if type(e) is Decided}
    assert all(e.commit for _, e in sim.history if type(e) is Decided)
    coordinator = n  # acceptor 0
    assert at["Issued"] == 0 and at["TxnBegan"] == L_NS
    delays = 5 if f > 0 else 4  # F = 0: the coordinator is the only acceptor, its Phase 2b is local (2PC)
    assert at["Accepted"] == delays * L_NS  # 5 delays with the client's request
    assert {rm: decided[rm] for rm in range(n)} == {rm: delays * L_NS for rm in range(n)}
    assert decided[coordinator] - at["TxnBegan"] == (delays - 2) * L_NS  # Prepare, 2a, 2b: before the RMs
    assert decided[0] - at["TxnBegan"] == (delays - 1) * L_NS  # 4 without it: Prepare, 2a, 2b, Decision
    assert set(decided) == set(range(n)) | {coordinator}  # the other acceptors never learn it (no extra message)
    assert rep["oracles"]["atomicity"]["committed"] == 1 and rep["oracles"]["atomicity"]["blocked_at_end"] == 0


@pytest.mark.parametrize(("n", "fsyncs"), [(1, 2), (3, 3), (5, 3)])
def test_storage_latency_adds_the_forced_write_delays_of_the_critical_path(n, fsyncs):
    """The paper counts 2 write delays (an RM's vote, then an acceptor's acceptance). An acceptor here writes
    each instance as its Phase 2a arrives: the N votes arrive at the same instant as N steps, the first one's
    fsync is already running when the others are written, and one more fsync covers them all (group commit),
    so with N >= 2 the last instance is chosen one fsync later: 3 write delays."""
    d = doc(shards=n, faults_f=1, shards_per_txn=n)
    d["storage"] = {"write_us": 0, "fsync_ms": 4.0, "faults": "none"}
    sim, rep = simulate(d)
    (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
    assert accepted == 5 * L_NS + fsyncs * 4_000_000
    assert rep["metrics"]["storage"]["syncs"] == n * 4  # still one forced write per vote and per acceptance


@pytest.mark.parametrize(("n", "f"), [(2, 1), (3, 1), (5, 1), (3, 2), (5, 2)])
def test_thrifty_phase_2a_to_f_plus_1_acceptors_costs_n_2f_plus_3_plus_2_messages(n, f):
    """With ``thrifty`` (the paper's normal-case saving) each RM's Phase 2a goes to F+1 acceptors, and F of them send a
    Phase 2b: 1 + N + N(F+1) + NF + N + 1 = N(2F+3) + 2 messages, N + N(F+1) forced writes, still 5 delays."""
    sim, rep = simulate(doc(shards=n, faults_f=f, shards_per_txn=n, thrifty=True))
    assert rep["metrics"]["messages"]["by_type"] == {"TxnSubmit": 1, "Prepare": n, "Phase2a": n * (f + 1),
                                                     "Phase2b": n * f, "Decision": n, "TxnOutcome": 1}
    assert rep["metrics"]["messages"]["total"] == n * (2 * f + 3) + 2
    assert rep["metrics"]["storage"]["syncs"] == n * (f + 2)
    (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
    assert accepted == 5 * L_NS


@pytest.mark.parametrize(("n", "f"), [(1, 1), (2, 1), (3, 1), (5, 1), (3, 2), (5, 2), (4, 0), (3, 3)])
def test_thrifty_and_bundled_costs_the_papers_count_plus_the_clients_two_and_one_prepare(n, f):
    sim, rep = simulate(doc(shards=n, faults_f=f, shards_per_txn=n, thrifty=True, bundle_2b=True))
    expect = {"TxnSubmit": 1, "Prepare": n, "Phase2a": n * (f + 1), "Phase2bBundle": f, "Decision": n,
              "TxnOutcome": 1}
    assert rep["metrics"]["messages"]["by_type"] == {k: v for k, v in expect.items() if v}
    assert rep["metrics"]["messages"]["total"] - 1 == (n + 1) * (f + 3) - 4 + 2  # without the answer
    assert rep["metrics"]["storage"]["syncs"] == n + f + 1  # N votes, one write per participating acceptor
    (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
    assert accepted == (5 if f > 0 else 4) * L_NS
    assert [sim.nodes[a].wal.token for a in range(n, n + 2 * f + 1)] == [1] * (f + 1) + [0] * f


def test_bundled_acceptances_cost_the_papers_two_forced_write_delays():
    """One write per acceptor for all N instances: the critical path has the paper's 2 write delays (an RM's
    vote, then the acceptors' bundle), where one write per instance needs 3 (see the test above)."""
    d = doc(shards=5, faults_f=1, shards_per_txn=5, thrifty=True, bundle_2b=True)
    d["storage"] = {"write_us": 0, "fsync_ms": 4.0, "faults": "none"}
    sim, rep = simulate(d)
    (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
    assert accepted == 5 * L_NS + 2 * 4_000_000
    assert rep["metrics"]["storage"]["syncs"] == 5 + 1 + 1


def test_thrifty_with_one_of_the_f_plus_1_down_commits_after_the_rms_vote_again_to_everyone():
    d = doc(shards=3, faults_f=1, shards_per_txn=3, thrifty=True)
    d["faults"] = [{"node": 4, "crash_at_s": 0.0}]  # acceptor 1, in every RM's first F+1
    sim, rep = simulate(d)
    (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
    assert all(e.commit for _, e in sim.history if type(e) is Decided)
    # Instances are not chosen (one 2b short); the coordinator resends Prepare prepare_retry_s = 50 ms after its
    # first (sent at 1 L), the RMs repeat their vote to all three acceptors, and 4 delays later the client knows.
    assert accepted == L_NS + 50_000_000 + 4 * L_NS
    assert rep["oracles"]["atomicity"]["committed"] == 1


def test_the_table_for_the_docs():
    """The numbers docs/protocols/paxoscommit.md quotes for N=3,5 and F=1,2, measured here."""
    rows: dict[tuple[int, int], tuple[int, ...]] = {}
    for n in (3, 5):
        for f in (1, 2):
            sim, rep = simulate(doc(shards=n, faults_f=f, shards_per_txn=n))
            (accepted,) = [t for t, e in sim.history if type(e) is Accepted]
            rows[(n, f)] = (accepted // L_NS, rep["metrics"]["messages"]["total"], rep["metrics"]["storage"]["syncs"])
            _, thrifty = simulate(doc(shards=n, faults_f=f, shards_per_txn=n, thrifty=True))
            rows[(n, f)] += (thrifty["metrics"]["messages"]["total"], thrifty["metrics"]["storage"]["syncs"])
            _, paper = simulate(doc(shards=n, faults_f=f, shards_per_txn=n, thrifty=True, bundle_2b=True))
            rows[(n, f)] += (paper["metrics"]["messages"]["total"], paper["metrics"]["storage"]["syncs"])
    assert rows == {(3, 1): (5, 23, 12, 17, 9, 15, 5), (3, 2): (5, 35, 18, 23, 12, 19, 6),
                    (5, 1): (5, 37, 20, 27, 15, 23, 7), (5, 2): (5, 57, 30, 37, 20, 29, 8)}
    # The paper's counts (N+1)(F+3)-4 and N+F+1 and two-phase commit's 3N-1, for the comparison in the docs: the
    # paper's layout sends its count + 3 (the client's request and answer, and the Prepare to the initiating RM).
    assert [(n + 1) * (f + 3) - 4 for n, f in sorted(rows)] == [12, 16, 20, 26]
    assert all(rows[(n, f)][5] == (n + 1) * (f + 3) - 4 + 3 and rows[(n, f)][6] == n + f + 1 for n, f in rows)
    assert [3 * n - 1 for n in (3, 5)] == [8, 14]
