"""Experiment specs: typed YAML loading (``schema``), plug-ins by name (``registry``), the spec (``spec``).

May import :mod:`bftlab.core`, :mod:`bftlab.api` and :mod:`bftlab.errors`. Plug-ins
(protocols, crypto schemes, adversaries, oracles) are found through the registry,
never imported by name.
"""
