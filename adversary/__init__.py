"""Adversaries for bftlab experiments: a strategy API, a built-in attack library, a fuzzer's building blocks.

The strategy API and its wiring into a run belong to the engine
(:mod:`bftlab.attack`: the seams in :mod:`bftlab.attack.api`, spec phase two in
:mod:`bftlab.attack.config`, the one wiring for the simulator and the real
transport in :mod:`bftlab.attack.wiring`); this package re-exports the API, so
a strategy imports everything it needs from ``bftlab.adversary``, and holds the
built-in strategies, which import the engine and never the reverse.

Layering: :mod:`bftlab.attack` < :mod:`bftlab.adversary.checks` (range checks
for ``Params``) < :mod:`bftlab.adversary.network`, :mod:`bftlab.adversary.node`,
:mod:`bftlab.adversary.pbft`, :mod:`bftlab.adversary.pow`, :mod:`bftlab.adversary.scripted` (built-in
strategies; ``pow`` holds the proof-of-work attackers and their base class
:class:`~bftlab.adversary.pow.PowAttacker`, exported here lazily so that importing
``adversary`` does not import the PoW protocol; likewise the PBFT helpers
:func:`~bftlab.adversary.pbft.reseal`, :func:`~bftlab.adversary.pbft.conflicting_pre_prepare`,
:func:`~bftlab.adversary.pbft.other_digest`, :func:`~bftlab.adversary.pbft.corrupt_auth` and
:func:`~bftlab.adversary.pbft.pbft_auth` that a Byzantine strategy uses to
re-authenticate what it changes). Built-ins are registered under the entry point group
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

from bftlab.adversary.checks import FieldError, nonempty, nonnegative, positive, probability, time_window
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
)

_PBFT_HELPERS = ("conflicting_pre_prepare", "corrupt_auth", "other_digest", "pbft_auth", "reseal")

__all__ = [
    "DELIVER",
    "DROP",
    "AdversaryContext",
    "Controlled",
    "Envelope",
    "FieldError",
    "Later",
    "NetworkStrategy",
    "NoParams",
    "NodeStrategy",
    "PowAttacker",
    "Route",
    "conflicting_pre_prepare",
    "corrupt_auth",
    "nonempty",
    "nonnegative",
    "other_digest",
    "pbft_auth",
    "positive",
    "probability",
    "reseal",
    "time_window",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that importing the adversary package imports no protocol.
    if name == "PowAttacker":
        from bftlab.adversary.pow import PowAttacker

        return PowAttacker
    if name in _PBFT_HELPERS:
        from bftlab.adversary import pbft

        return getattr(pbft, name)
    raise AttributeError(f"module 'bftlab.adversary' has no attribute {name!r}")
