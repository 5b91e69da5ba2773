"""The helpers a user's strategy imports from bftlab.adversary: re-authentication of changed PBFT messages."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from bftlab import adversary
from bftlab.adversary import corrupt_auth, other_digest, pbft_auth, reseal
from bftlab.errors import UsageError
from bftlab.protocols.pbft.messages import (
    MESSAGE_TYPES,
    PREPARE,
    Checkpoint,
    FetchLog,
    FetchState,
    LogReply,
    Prepare,
    PrePrepare,
    Request,
    StateReply,
    Status,
    StatusReply,
    ViewChange,
    checkpoint_body,
    pre_prepare_body,
    view_change_body,
    vote_body,
)
from bftlab.sim import runner
from bftlab.specs.spec import spec_from_dict


def controlled(auth: str):
    """Replicas 0 and 1 of a PBFT run, as a node strategy holds them (keys, context)."""
    spec = spec_from_dict({"name": "keys", "protocol": {"name": "pbft", "params": {"auth": auth}}, "n": 4,
                           "allow_exceeding_f": True, "adversary": {"strategy": "silent", "byzantine": [0, 1]}})
    strategy = runner.build(spec).adversary.by_node[0]
    return strategy.nodes[0], strategy.nodes[1]


@pytest.mark.parametrize("auth", ["mac", "sig"])
def test_reseal_makes_a_changed_message_authentic_and_only_for_its_own_keys(auth):
    me, peer = controlled(auth)
    check = pbft_auth(peer)  # what a correct receiver runs
    vote = reseal(me, Prepare(0, 1, b"d" * 32, 0, ()))
    assert check.check(0, vote_body(PREPARE, 0, 1, vote.digest, 0), vote.auth)

    changed = dataclasses.replace(vote, digest=other_digest(vote.digest))
    body = vote_body(PREPARE, 0, 1, changed.digest, 0)
    assert changed.digest != vote.digest and not check.check(0, body, changed.auth)  # the old authenticator
    assert check.check(0, body, reseal(me, changed).auth)
    assert not check.check(0, body, corrupt_auth(reseal(me, changed)).auth)

    pp = reseal(me, PrePrepare(0, 1, b"e" * 32, (), ()))
    assert check.check(0, pre_prepare_body(0, 1, pp.digest), pp.auth)
    vc = reseal(me, ViewChange(1, 0, (), (), 0, b""))
    assert check.verify(0, view_change_body(1, 0, (), (), 0), vc.sig)
    cp = reseal(me, Checkpoint(8, b"s" * 32, 0, b""))
    assert check.verify(0, checkpoint_body(8, b"s" * 32, 0), cp.sig)
    # a replica cannot speak for another: a vote claiming to be replica 2's is sealed with 0's keys
    claim = reseal(me, dataclasses.replace(vote, replica=2))
    assert not check.check(2, vote_body(PREPARE, 0, 1, vote.digest, 2), claim.auth)


def test_reseal_refuses_what_a_replica_cannot_sign():
    me, _ = controlled("mac")
    with pytest.raises(UsageError, match="signed by its client"):
        reseal(me, Request(b"op", 1, 4, ()))
    with pytest.raises(UsageError, match="not a PBFT message"):
        reseal(me, ("not", "pbft"))


def test_reseal_takes_every_message_a_replica_sends_including_the_recovery_queries():
    me, _ = controlled("mac")
    types = [t for t in MESSAGE_TYPES if t.__name__ not in ("Request", "PreparedCert")]
    unsealed = {FetchState, StateReply, Status, StatusReply, FetchLog, LogReply}
    for t in types:
        msg = t(*[_blank(f.type) for f in dataclasses.fields(t)])
        out = reseal(me, msg)
        assert type(out) is t and ((out == msg) if t in unsealed else True)


def _blank(annotation: str):
    """A zero value for a field annotation (the messages use str annotations under __future__)."""
    for name, value in (("tuple", ()), ("bytes", b""), ("bool", False), ("int", 0)):
        if annotation.startswith(name):
            return value
    nested = {t.__name__: t for t in MESSAGE_TYPES}[annotation]  # a message inside a message
    return nested(*[_blank(f.type) for f in dataclasses.fields(nested)])


def test_helpers_are_exported_without_importing_a_protocol():
    helpers = {"reseal", "pbft_auth", "conflicting_pre_prepare", "other_digest", "corrupt_auth"}
    assert adversary.reseal is reseal and helpers <= set(adversary.__all__)
    code = ("import sys, bftlab.adversary as a; a.NodeStrategy; "
            "print(sorted(m for m in sys.modules if m.startswith('bftlab.protocols')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
