"""The attacks of docs/write-your-first-attack.md.

DelayViewChange: every VIEW-CHANGE message arrives late, so replacing a failed primary takes longer.
SkimmingPrimary: a Byzantine primary leaves one client's requests out of the batches it proposes.
"""

import dataclasses
from dataclasses import dataclass

from bftlab.adversary import DELIVER, Envelope, FieldError, NetworkStrategy, NodeStrategy, Route, reseal
from bftlab.protocols.pbft.messages import PrePrepare, batch_bytes


@dataclass(frozen=True)
class DelayParams:
    delay_s: float = 1.0
    """How long each VIEW-CHANGE message is held back."""

    def __post_init__(self) -> None:
        if not 0 <= self.delay_s < float("inf"):  # also false for NaN
            raise FieldError("delay_s", f"must be a finite number >= 0, got {self.delay_s!r}.")


class DelayViewChange(NetworkStrategy):
    """Hold back VIEW-CHANGE messages; everything else flows normally."""

    Params = DelayParams

    def route(self, env: Envelope) -> Route:
        if env.kind == "ViewChange":
            return (self.params.delay_s,)  # one copy, delay_s later than the network would deliver it
        return DELIVER


@dataclass(frozen=True)
class SkimParams:
    reseal: bool = True
    """Re-authenticate the changed PRE-PREPARE (false: send it with the old, now wrong, authenticator)."""


class SkimmingPrimary(NodeStrategy):
    """As primary, leave the first client's requests out of every batch it proposes."""

    Params = SkimParams

    def on_actions(self, nid, now, inp, actions):
        victim = self.ctx.clients[0]
        out = []
        for action in actions:
            msg = getattr(action, "msg", None)
            if type(msg) is PrePrepare and any(r.client == victim for r in msg.batch):
                batch = tuple(r for r in msg.batch if r.client != victim)
                self.ctx.count("skimmed", len(msg.batch) - len(batch))  # requests left out; shown in the report
                me = self.nodes[nid]
                msg = dataclasses.replace(msg, batch=batch, digest=me.crypto.digest(batch_bytes(batch)))
                if self.params.reseal:
                    msg = reseal(me, msg)  # authenticate the new digest with this replica's own keys
                action = dataclasses.replace(action, msg=msg)
            out.append(action)
        return out
