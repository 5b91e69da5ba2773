"""Protocol packages shipped with bftlab, installed as ``bftlab.protocols``.

Each sub-package is one protocol: a sans-IO core that imports only the small
public APIs of :mod:`bftlab` (``bftlab.api``, ``bftlab.errors``, ``bftlab.core``)
and registers a :class:`~bftlab.api.ProtocolSpec` under the entry-point group
``bftlab.protocols``. The engine never imports these packages by name.
"""
