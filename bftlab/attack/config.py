"""Phase two of spec loading for the ``adversary`` section.

The spec checks the shape of each entry (strategy name, replica ids, the fault
budget); here each strategy is looked up (entry point group
``bftlab.adversaries`` or a dotted path), its kind is checked against
``byzantine``, and ``params`` is validated against the strategy's ``Params``
frozen dataclass, so a bad parameter names its YAML line like any other field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

from bftlab.attack.api import NetworkStrategy, NodeStrategy, strategy_kind
from bftlab.errors import ConfigError
from bftlab.specs import registry, schema

StrategyClass = type[NetworkStrategy] | type[NodeStrategy]
"""A strategy class (or one that only quacks like it: ``kind`` and ``Params``, checked here)."""


def load_strategy(name: str) -> StrategyClass:
    """The strategy class registered as ``name`` (or at dotted path ``name``)."""
    obj = registry.resolve(registry.GROUPS["adversary"], name, "adversary strategy")
    kind = strategy_kind(obj)
    if kind is None:
        raise ConfigError(
            f"adversary strategy {name!r} is {type(obj).__name__}, not a strategy class; subclass "
            f"bftlab.adversary.NetworkStrategy or bftlab.adversary.NodeStrategy (or set kind = 'network' / 'node')."
        )
    params = getattr(obj, "Params", None)
    frozen = getattr(getattr(params, "__dataclass_params__", None), "frozen", False)
    if not (isinstance(params, type) and dataclasses.is_dataclass(params) and frozen):
        raise ConfigError(f"adversary strategy {name!r}: its Params must be a frozen dataclass type, got {params!r}.")
    return cast(StrategyClass, obj)


def resolve_adversary(entries: Sequence[Any], source: str, lines: schema.Lines | None) -> tuple[Any, ...]:
    """Validate each entry's strategy and params; return the entries with params resolved."""
    out = []
    for i, entry in enumerate(entries):
        path = f"adversary[{i}]"
        try:
            cls = load_strategy(entry.strategy)
        except ConfigError as exc:
            raise schema.error(source, lines, f"{path}.strategy", str(exc)) from None
        if cls.kind == "network" and entry.byzantine:
            raise schema.error(source, lines, f"{path}.byzantine",
                               f"{entry.strategy!r} is a network strategy: it controls no replicas, so "
                               f"byzantine must be empty, got {list(entry.byzantine)}.")
        if cls.kind == "node" and not entry.byzantine:
            raise schema.error(source, lines, f"{path}.byzantine",
                               f"{entry.strategy!r} is a node strategy: list the replicas it controls, "
                               f"e.g. byzantine: [0].")
        params = entry.params
        if not isinstance(params, cls.Params):
            params = schema.load(cls.Params, params, source=source, lines=lines, path=f"{path}.params")
        out.append(dataclasses.replace(entry, params=params))
    return tuple(out)
