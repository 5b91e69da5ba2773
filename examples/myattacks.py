"""My first attack: every VIEW-CHANGE message arrives late, so replacing a failed primary takes longer."""

from dataclasses import dataclass

from bftlab.adversary import DELIVER, Envelope, NetworkStrategy, Route


@dataclass(frozen=True)
class DelayParams:
    delay_s: float = 1.0
    """How long each VIEW-CHANGE message is held back."""


class DelayViewChange(NetworkStrategy):
    """Hold back VIEW-CHANGE messages; everything else flows normally."""

    Params = DelayParams

    def route(self, env: Envelope) -> Route:
        if env.kind == "ViewChange":
            return (self.params.delay_s,)  # one copy, delay_s later than the network would deliver it
        return DELIVER
