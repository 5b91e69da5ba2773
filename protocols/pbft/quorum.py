"""Quorum arithmetic for PBFT (TOCS'02 §4.2-4.5), as pure functions.

With ``n >= 3f + 1`` replicas, any two quorums of ``2f + 1`` intersect in at
least ``f + 1`` replicas, hence in at least one correct replica; ``f + 1``
matching messages contain at least one from a correct replica.
"""

from __future__ import annotations


def max_faulty(n: int) -> int:
    """The largest f with n >= 3f + 1."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return (n - 1) // 3


def primary(view: int, n: int) -> int:
    """The primary of ``view`` is replica ``view mod n`` (§4.1)."""
    return view % n


def prepare_quorum(f: int) -> int:
    """Matching PREPAREs from distinct backups needed (with the PRE-PREPARE) to be prepared."""
    return 2 * f


def commit_quorum(f: int) -> int:
    """Matching COMMITs (own included) needed to be committed-local."""
    return 2 * f + 1


def checkpoint_quorum(f: int) -> int:
    """Matching CHECKPOINTs that make a checkpoint stable (and prove it)."""
    return 2 * f + 1


def view_change_quorum(f: int) -> int:
    """VIEW-CHANGEs (own included) the new primary needs for NEW-VIEW."""
    return 2 * f + 1


def join_quorum(f: int) -> int:
    """VIEW-CHANGEs for higher views that make a replica join a view change (§4.5.2)."""
    return f + 1


def reply_quorum(f: int) -> int:
    """Matching REPLYs a client needs to accept a result (§4.1)."""
    return f + 1


def intersection(n: int, a: int, b: int) -> int:
    """Minimum size of the intersection of two quorums of sizes ``a`` and ``b`` out of ``n``."""
    return max(0, a + b - n)
