"""Adversaries for bftlab experiments: a strategy API, a built-in attack library, a fuzzer's building blocks.

Layering: :mod:`bftlab.adversary.api` (the two seams, no dependencies beyond
:mod:`bftlab.api`) < :mod:`bftlab.adversary.network`, :mod:`bftlab.adversary.node`,
:mod:`bftlab.adversary.pbft`, :mod:`bftlab.adversary.pow`, :mod:`bftlab.adversary.scripted` (built-in
strategies; ``pow`` holds the proof-of-work attackers and their base class
:class:`~bftlab.adversary.pow.PowAttacker`, exported here lazily so that importing
``adversary`` does not import the PoW protocol) <
:mod:`bftlab.adversary.config` (spec phase two) < :mod:`bftlab.adversary.runtime` (wiring
into a simulated run). Built-ins are registered under the entry point group
``bftlab.adversaries``; a user's own strategy is referenced by dotted path
(``strategy: mypkg.attacks:DelayViewChange``).

In a spec, ``adversary`` is a list of strategies applied together; one
mapping is shorthand for a one-item list::

    adversary:
      - {strategy: gst, params: {gst_s: 2.0}}
      - {strategy: equivocating-primary, byzantine: [0]}

A proof-of-work spec takes one miner strategy, whose ``byzantine`` is the node it mines with::

    adversary: {strategy: selfish-mining, byzantine: [0], params: {gamma: 0.5}}
"""

from typing import Any

from bftlab.adversary.api import (
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
    "PowAttacker",
    "Route",
]


def __getattr__(name: str) -> Any:
    if name == "PowAttacker":
        from bftlab.adversary.pow import PowAttacker

        return PowAttacker
    raise AttributeError(f"module 'adversary' has no attribute {name!r}")
