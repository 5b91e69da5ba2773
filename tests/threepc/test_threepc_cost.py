"""Three-phase commit's cost per transaction: two-phase commit plus Skeen's extra round.

Skeen ("Nonblocking Commit Protocols", SIGMOD 1981) inserts the PreCommit/ACK round between the votes and
the commit, so with N participants and a separate coordinator (the variant of
tests/twopc/test_twopc_cost.py, which states Gray & Lamport's §4 count for 2PC):
1 TxnSubmit + N CanCommit + N Vote + N PreCommit + N PreAck + N Decision (DoCommit) + 1 TxnOutcome
= 5N + 2 messages, i.e. Gray & Lamport's 3N + 1 for 2PC plus 2N plus the answer (3PC has no ACKs of the
commit); the client has its answer after 6 message delays, 2PC's 4 plus 2.
"""

from __future__ import annotations

import pytest

from tests.twopc.helpers import THREEPC, TWOPC
from tests.twopc.test_twopc_cost import DELTA, TX, one_transaction


@pytest.mark.parametrize("n_parts", [1, 2, 3, 5])
def test_three_phase_commit_adds_skeens_round_2n_messages_and_2_delays(n_parts):
    rep = one_transaction(THREEPC, n_parts)
    msgs = rep["metrics"]["messages"]
    assert msgs["by_type"] == {"TxnSubmit": 1, "CanCommit": n_parts, "Vote": n_parts, "PreCommit": n_parts,
                               "PreAck": n_parts, "Decision": n_parts, "TxnOutcome": 1}
    assert msgs["total"] == 5 * n_parts + 2
    two = one_transaction(TWOPC, n_parts)["metrics"]
    assert msgs["total"] - (two["messages"]["total"] - n_parts) == 2 * n_parts  # vs 2PC without its ACKs
    assert rep["metrics"]["latency_s"]["max"] == pytest.approx(6 * DELTA, abs=TX)
    assert rep["metrics"]["latency_s"]["max"] - two["latency_s"]["max"] == pytest.approx(2 * DELTA, abs=TX)
