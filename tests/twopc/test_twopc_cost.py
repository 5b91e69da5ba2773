"""Messages and message delays per transaction, against Gray & Lamport, "Consensus on Transaction Commit"
(ACM TODS 2006), §4 (two-phase commit) and Skeen's extra round for three-phase commit.

Variant measured: N participants and a *separate* coordinator, one client. Gray & Lamport count 2PC as
3N+1 messages with a separate transaction manager (the client's request, N PREPAREs, N votes, N COMMITs;
3N-1 when the TM is one of the RMs) and 4 message delays including the request. Here, per transaction:

- two-phase commit: 1 TxnSubmit + N Prepare + N Vote + N Decision (COMMIT) + N Ack + 1 TxnOutcome
  = 4N + 2 messages: Gray & Lamport's 3N + 1 plus the N ACKs of presumed abort (which let the coordinator
  forget; off the critical path) and the answer to the client. The client has its answer after 4 delays
  (request, PREPARE, vote, answer), when the participants receive COMMIT;
- three-phase commit (tests/threepc/test_threepc_cost.py): 1 + N CanCommit + N Vote + N PreCommit
  + N PreAck + N Decision (DoCommit) + 1 = 5N + 2 messages: 2PC's 3N + 1 plus Skeen's extra round (2N)
  plus the answer, and no ACKs. The client has its answer after 6 delays (request, CanCommit, vote,
  PreCommit, PreAck, answer).

Constant link latency, zero CPU cost and zero storage latency, so that latency is delays x link latency.
"""

from __future__ import annotations

import pytest

from tests.txn import costs
from tests.txn.costs import DELTA, TX

from .helpers import TWOPC

__all__ = ["DELTA", "TX", "one_transaction"]


def one_transaction(proto: str, n_parts: int) -> dict:
    """The report of one transaction over ``n_parts`` participants (the shared zero-cost run, tests/txn/costs.py)."""
    return costs.one_transaction(proto, n_parts)[1]


@pytest.mark.parametrize("n_parts", [1, 2, 3, 5])
def test_two_phase_commit_costs_4n_plus_2_messages_and_4_delays(n_parts):
    rep = one_transaction(TWOPC, n_parts)
    msgs = rep["metrics"]["messages"]
    assert msgs["by_type"] == {"TxnSubmit": 1, "Prepare": n_parts, "Vote": n_parts, "Decision": n_parts,
                               "Ack": n_parts, "TxnOutcome": 1}
    assert msgs["total"] == 4 * n_parts + 2
    gl = sum(v for k, v in msgs["by_type"].items() if k not in ("Ack", "TxnOutcome"))
    assert gl == 3 * n_parts + 1  # Gray & Lamport's count: no ACKs, no answer to the client
    assert rep["metrics"]["latency_s"]["max"] == pytest.approx(4 * DELTA, abs=TX)
