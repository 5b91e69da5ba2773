"""The deterministic simulator: network model, simulated runtime, workload, and the run builder.

May import :mod:`bftlab.core`, :mod:`bftlab.specs`, :mod:`bftlab.oracles` and
:mod:`bftlab.reports`. Nothing here reads a wall clock in the simulated path.
"""
