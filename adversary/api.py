"""The strategy API, re-exported: it lives in the engine as :mod:`bftlab.attack.api`.

Kept so that strategies written against ``bftlab.adversary.api`` keep
importing; new code imports the same names from :mod:`bftlab.adversary`.
"""

from bftlab.attack.api import (
    DELIVER,
    DROP,
    AdversaryContext,
    Controlled,
    Envelope,
    Later,
    NetworkStrategy,
    NodeStrategy,
    NoParams,
    Route,
    strategy_kind,
)

__all__ = [
    "DELIVER",
    "DROP",
    "AdversaryContext",
    "Controlled",
    "Envelope",
    "Later",
    "NetworkStrategy",
    "NoParams",
    "NodeStrategy",
    "Route",
    "strategy_kind",
]
