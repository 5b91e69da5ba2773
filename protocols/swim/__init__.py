"""SWIM group membership and failure detection (Das, Gupta & Motivala, "SWIM: Scalable Weakly-consistent
Infection-style Process Group Membership Protocol", DSN 2002).

Theory of operation. Each member probes one member per protocol period T'
(section 3.1): a direct ping, and when its ack is late, ping-req through k
others; a target that answers neither by the end of the period has failed the
probe. The failure detector is separate from dissemination: membership updates
(Alive, Suspect, Confirm/Dead, Left) ride piggybacked on the probe traffic
(infection-style, section 4.1), each retransmitted about lambda log n times.
With the suspicion mechanism (section 4.2) a failed probe only makes the target
Suspect; the suspect refutes by raising its incarnation, and only a suspicion
that outlives its timeout becomes a Confirm. Targets come round-robin from a
list shuffled at each traversal (section 4.3), which bounds the worst-case
detection time. What SWIM guarantees (and the tests check): every crashed
member is eventually held dead by every live member (strong completeness,
with probability 1 while any message gets through), and the time to first
detection has mean 1/(1 - e^(-q_f)) periods; accuracy is probabilistic, and
with suspicion a member that is up and connected is not removed for good: once
messages flow it refutes any claim of its death.

Layout:

* :mod:`~bftlab.protocols.swim.params`: the spec's ``protocol.params`` (validated);
* :mod:`~bftlab.protocols.swim.view`: statuses, update precedence, the piggyback buffer;
* :mod:`~bftlab.protocols.swim.messages`: wire messages (codes 0x470-0x48F);
* :mod:`~bftlab.protocols.swim.member`: the sans-IO member; :mod:`~bftlab.protocols.swim.client`: inert clients;
* :mod:`~bftlab.protocols.swim.theory`: the closed forms of sections 3.1 and 5;
* :mod:`~bftlab.protocols.swim.periods`: the fast path (``engine: periods``), the paper's round model with
  numpy arrays, first detection and dissemination for n up to 100,000;
* :mod:`~bftlab.protocols.swim.run`: both run paths (``ProtocolSpec.run``) and the measurements (``metrics.swim``);
  :mod:`~bftlab.protocols.swim.figures`: closed forms drawn over sweep results;
  :mod:`~bftlab.protocols.swim.oracle`: the membership oracle (final views).

Deviations from the paper:

* Alive with a higher incarnation overrides Dead (a restarted or wrongly removed member comes back under its own
  id; the paper's Confirm overrides everything and the member would rejoin as new); Dead overrides only claims
  at the same or a lower incarnation;
* a member pinged by one it holds dead tells it so on the ack, and every ``sync_periods`` periods members swap
  whole views with anyone they know, dead members included (memberlist's push-pull): without it the two sides
  of a healed partition never probe each other again. ``sync_periods: 0`` is the paper's protocol;
* joins go through an introducer member (the paper's well-known server or multicast); restarted members rejoin
  through any member they know; crashes keep memory, so the protocol is not ``durable``;
* the suspicion timeout is ``suspicion_mult * log10(max(n, 10))`` periods unless set (the paper leaves it open);
  the retransmission limit is ``ceil(lambda * ln(n + 1))``;
* the message-level engine runs on the simulator only (n <= 512; the real transport is refused, since the
  measurements read what each member recorded); the fast path models first detection and dissemination of one
  update only (no ping-reqs, suspicion timeouts or piggyback cap, uniform targets).
"""

from __future__ import annotations

from typing import Any

from bftlab.api import FaultModel, NodeContext, ProtocolSpec, RunOptions

from .client import InertClient
from .member import SwimMember
from .messages import MESSAGE_TYPES
from .params import SwimParams
from .report import SECTION

SWIM_FAULTS = FaultModel("crash (any number)", 0, counted=False)
"""Any number of members may crash, leave or be cut off: the others go on detecting and disseminating."""


def _params(ctx: NodeContext) -> SwimParams:
    return ctx.params if ctx.params is not None else SwimParams()


def make_replica(ctx: NodeContext) -> SwimMember:
    return SwimMember(ctx, _params(ctx))


def make_client(ctx: NodeContext) -> InertClient:
    return InertClient(ctx)


def final_state(member: Any) -> dict[str, Any]:
    """The member's view: member id -> [status, incarnation] (the layout the membership oracle reads)."""
    return member.final_state()


def _run(spec: Any, options: RunOptions) -> dict[str, Any]:
    from .run import run

    return run(spec, options)


def _check_spec(spec: Any) -> None:
    from .run import check_spec

    check_spec(spec)


PROTOCOL = ProtocolSpec(
    name="swim",
    params=SwimParams,
    make_replica=make_replica,
    make_client=make_client,
    message_types=MESSAGE_TYPES,
    description="SWIM membership and failure detection: ping, ping-req, suspicion with incarnations, "
                "piggybacked infection-style dissemination (Das, Gupta & Motivala 2002).",
    fault_model=SWIM_FAULTS,
    oracles=("membership",),
    check_spec=_check_spec,
    run=_run,
    report_sections=(SECTION,),
    final_state=final_state,
)

__all__ = ["PROTOCOL", "SWIM_FAULTS", "SwimMember", "SwimParams", "final_state", "make_client", "make_replica"]
