"""The adversary seam of the engine: what a strategy is, how a spec names one, how a run wires it in.

Layering (each module imports only those before it):

- :mod:`bftlab.attack.api`: the two seams, :class:`NetworkStrategy` (sees
  :class:`Envelope`, returns a :data:`Route`) and :class:`NodeStrategy` (wraps or
  replaces the :class:`Controlled` replicas), with :class:`AdversaryContext` and
  the :class:`Later` pseudo-action. Imports :mod:`bftlab.api` and
  :mod:`bftlab.errors` only.
- :mod:`bftlab.attack.config`: phase two of spec loading for ``adversary``
  (:func:`load_strategy`, :func:`resolve_adversary`). Adds :mod:`bftlab.specs`.
- :mod:`bftlab.attack.wiring`: :class:`Attack`, the one wiring of a run's
  strategies, shared by the simulator (:mod:`bftlab.sim.runner`) and the real
  transport (:mod:`bftlab.transport.adversary`), which pass in what differs
  (the network model, which replicas a process hosts, the clock's unit).
  Adds :mod:`bftlab.core`.

This package never imports a plug-in package (``bftlab.adversary``,
``bftlab.protocols``, ``bftlab.crypto``): strategies are found only through
the registry, by entry point (group ``bftlab.adversaries``) or dotted path, and
they import this package, not the reverse. Users write strategies against the
same names re-exported by :mod:`bftlab.adversary`, next to the built-in ones.
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
