"""Oracles: judges of a run that read only its history events, never protocol internals.

``smr`` checks state-machine replication (agreement, order, validity,
exactly-once, client consistency, liveness). May import :mod:`bftlab.api`,
:mod:`bftlab.core` and :mod:`bftlab.errors`.
"""
