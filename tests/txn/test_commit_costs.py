"""The cost table of docs/protocols/commit-costs.md: 2PC, 3PC and Paxos Commit measured next to the formulas.

Each protocol commits one transaction over all N participants (constant
10 ms links, zero CPU cost and zero storage latency; tests/txn/costs.py) for
N = 3, 5 and, for Paxos Commit, F = 1, 2. The measured messages, message delays
and forced writes must equal this implementation's formulas; and where the
layout is Gray & Lamport's ("Consensus on Transaction Commit", TODS 2006, the
paper's cost comparison; Skeen's extra round for 3PC) they must equal the
paper's formulas, messages up to the same +2 for every protocol: the client's
request (the paper's transactions start at an RM, whose first message doubles
as BeginCommit) and the Prepare to the RM the paper has initiating. The table
in the docs must hold exactly these numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.txn.costs import PAPER_LAYOUT, PAXOSCOMMIT, THREEPC, TWOPC, measure

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "commit-costs.md"
PC, PC_DEFAULT = "Paxos Commit", "Paxos Commit, default"
# Message types Gray & Lamport do not count: the answer to the client, and 2PC's ACKs (presumed abort's, off the
# critical path; they let the coordinator forget the transaction).
UNCOUNTED = {TWOPC: ("TxnOutcome", "Ack"), THREEPC: ("TxnOutcome",), PAXOSCOMMIT: ("TxnOutcome",)}
START = 2
"""Messages this layout sends that Gray & Lamport's does not: the client's request, and the Prepare to the RM that
starts the transaction in the paper (its vote, which doubles as BeginCommit there, is counted in both)."""
# (protocol, row name, N, F, Paxos Commit parameters)
CASES: list[tuple[str, str, int, int | None, dict[str, Any]]] = [
    (TWOPC, "2PC", 3, None, {}), (TWOPC, "2PC", 5, None, {}), (THREEPC, "3PC", 3, None, {}),
    (THREEPC, "3PC", 5, None, {}),
    *[(PAXOSCOMMIT, PC, n, f, PAPER_LAYOUT) for n, f in ((3, 1), (3, 2), (5, 1), (5, 2))],
    *[(PAXOSCOMMIT, PC_DEFAULT, n, f, {}) for n, f in ((3, 1), (3, 2), (5, 1), (5, 2))]]
ROW_NAMES = {name for _, name, _, _, _ in CASES}

Key = tuple[str, int | None, int | None]
"""Row name, N, F (None for 2PC and 3PC)."""
Row = tuple[int | None, ...]
"""messages, of them counted by Gray & Lamport, theirs; delays, theirs; forced writes, theirs."""


def ours(name: str, n: int, f: int) -> tuple[int, int, int, int]:
    """This implementation's formulas: messages, the messages Gray & Lamport count, delays, forced writes."""
    if name == "2PC":  # request + N Prepare + N Prepared + N Commit, + N ACKs + the answer; R* forces the RMs' commit
        return 4 * n + 2, 3 * n + 1, 4, 2 * n + 1
    if name == "3PC":  # 2PC's 3N+1 + Skeen's PreCommit/PreAck round (2N) + the answer; no ACKs
        return 5 * n + 2, 5 * n + 1, 6, n + 2  # forced: N prepared records, the coordinator's begin and commit
    if name == PC:  # request + N Prepare + N(F+1) Phase 2a + F bundles + N Decision (+ the answer)
        counted = 1 + n + n * (f + 1) + f + n
        return counted + 1, counted, 5, n + f + 1  # forced: N votes, one bundle write per participating acceptor
    # Every Phase 2a to all 2F+1 acceptors, one Phase 2b per instance from each acceptor but the leader's own.
    return n * (4 * f + 3) + 2, n * (4 * f + 3) + 1, 5, n * (2 * f + 2)


def paper(name: str, n: int, f: int) -> tuple[int, int, int | None]:
    """Gray & Lamport's messages, delays and forced writes (3PC: 2PC plus Skeen's round; no write count)."""
    if name == "2PC":  # BeginCommit (the initiating RM's vote), N-1 Prepare, N-1 Prepared, N Commit
        return 3 * n - 1, 4, n + 1
    if name == "3PC":
        return 3 * n - 1 + 2 * n, 4 + 2, None
    # The initiating RM's 2a doubles as BeginCommit: N-1 Prepare, N(F+1) 2a, F bundled 2b, N Commit.
    return (n + 1) * (f + 3) - 4, 5, n + f + 1


def measured_rows() -> dict[Key, Row]:
    rows: dict[Key, Row] = {}
    for proto, name, n, f, params in CASES:
        cost = measure(proto, n, f or 1, **params)
        counted = cost.messages - sum(cost.by_type.get(t, 0) for t in UNCOUNTED[proto])
        p_msgs, p_delays, p_forced = paper(name, n, f or 1)
        assert (cost.messages, counted, cost.delays, cost.forced) == ours(name, n, f or 1), (name, n, f, cost)
        rows[(name, n, f)] = (cost.messages, counted, p_msgs, cost.delays, p_delays, cost.forced, p_forced)
    return rows


def doc_rows() -> dict[Key, Row]:
    """The docs' measured table: ``| protocol | N | F | messages | counted | G&L | delays | G&L | forced | G&L |``"""
    rows: dict[Key, Row] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 10 or cells[0] not in ROW_NAMES:
            continue
        num = [None if c in ("-", "—") else int(re.sub(r"[*]", "", c)) for c in cells[1:]]
        rows[(cells[0], num[0], num[1])] = tuple(num[2:])
    return rows


@pytest.fixture(scope="module")
def rows() -> dict[Key, Row]:
    return measured_rows()


def test_measured_costs_match_the_formulas_and_gray_and_lamport_where_the_layouts_agree(rows):
    for (name, n, f), (_, counted, p_msgs, delays, p_delays, forced, p_forced) in rows.items():
        assert delays == p_delays, (name, n, f)  # 4, 2PC + Skeen's 2, and Paxos Commit's 5
        if name != PC_DEFAULT:  # the paper's layout: the same messages, but for how a transaction starts
            assert counted == p_msgs + START, (name, n, f)
        if name == "2PC":
            assert forced == p_forced + n  # N+1 plus the RMs' commit records, forced before the ACK
        if name == PC:
            assert forced == p_forced  # N + F + 1
        if name == PC_DEFAULT:
            # 2F+1 acceptors, each sent every vote and writing and answering per instance: more than the paper's.
            assert counted > p_msgs + START and forced > p_forced


def test_paxos_commit_with_f_0_is_two_phase_commit_in_the_papers_count():
    """Gray & Lamport: two-phase commit is Paxos Commit with F = 0. Measured, the two agree on everything the
    paper counts (the 2PC row's extra N forced writes are R*'s commit records, which the paper does not count)."""
    for n in (3, 5):
        pc = measure(PAXOSCOMMIT, n, 0, **PAPER_LAYOUT)
        twopc = measure(TWOPC, n)
        pc_counted = pc.messages - pc.by_type["TxnOutcome"]
        twopc_counted = twopc.messages - twopc.by_type["TxnOutcome"] - twopc.by_type["Ack"]
        assert pc_counted == twopc_counted == paper("2PC", n, 0)[0] + START == paper(PC, n, 0)[0] + START
        assert pc.delays == twopc.delays == 4
        assert pc.forced == twopc.forced - n == n + 1


def test_the_docs_table_holds_the_measured_rows(rows):
    assert doc_rows() == rows
