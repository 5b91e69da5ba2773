"""Sweeps over specs, the result store, and the local and Dask executors.

May import every engine layer below the CLI (specs, sim, transport, reports).
"""
