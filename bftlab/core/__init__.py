"""The engine's bottom layer: event kernel, seed derivation, CPU cost model, wire codec.

May import only the standard library, third-party libraries and :mod:`bftlab.errors`
/ :mod:`bftlab.api`. Protocol, crypto and adversary packages use these modules
directly (``bftlab.core.wire.message``, ``bftlab.core.seeds.derive``).
"""
