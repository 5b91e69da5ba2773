"""Plugins by name: protocols, crypto schemes and (later) adversary strategies.

A plugin is found either by the name it registers under an entry point group
(``pbft`` in ``bftlab.protocols``) or by a dotted path ``package.module:object``,
so an experiment can use code that is not installed as a package (a test module,
a notebook helper). Unknown names raise :class:`~bftlab.errors.ConfigError`
listing what is available.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from bftlab.api import ProtocolSpec
from bftlab.errors import ConfigError
from bftlab.oracles.base import OraclePlugin

GROUPS: dict[str, str] = {
    "protocol": "bftlab.protocols",
    "crypto": "bftlab.crypto",
    "adversary": "bftlab.adversaries",
    "oracle": "bftlab.oracles",
}
"""Entry point group for each kind of plugin."""


@functools.cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    # Sorted by value so that, if two distributions claim one name, the choice is stable.
    # Cached: reading every distribution's metadata costs ~30 ms, several times per run, and
    # what is installed does not change while a process runs (callers must not mutate the dict).
    found: dict[str, EntryPoint] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        found.setdefault(ep.name, ep)
    return found


def available(group: str) -> list[str]:
    """Registered names in entry point ``group``, sorted."""
    return sorted(_entry_points(group))


def _describe_exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _import_module(name: str) -> Any:
    """Import ``name``, also looking in the working directory, as ``python -m`` would.

    A researcher's own strategy or protocol lives next to their specs, not in an
    installed package; the console script alone would not find it.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if cwd in sys.path or not (exc.name and name.startswith(exc.name)):
            raise
        sys.path.append(cwd)
        return importlib.import_module(name)


def _import_path(path: str, what: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{what} {path!r}: a dotted path must look like package.module:object.")
    try:
        obj: Any = _import_module(module_name)
    except Exception as exc:  # any import-time failure is reported the same way
        raise ConfigError(f"{what} {path!r}: cannot import module {module_name!r} ({_describe_exc(exc)}).") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{what} {path!r}: module {module_name!r} has no attribute {attr!r}.") from None
    return obj


def resolve(group: str, name_or_path: str, what: str = "protocol") -> Any:
    """The object registered as ``name_or_path`` in entry point ``group``, or at that dotted path.

    ``what`` names the kind of plugin in error messages.
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ConfigError(f"{what} name must be a non-empty string, got {name_or_path!r}.")
    if ":" in name_or_path:
        return _import_path(name_or_path, what)
    eps = _entry_points(group)
    ep = eps.get(name_or_path)
    if ep is None:
        names = sorted(eps)
        close = difflib.get_close_matches(name_or_path, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(names) if names else "none"
        raise ConfigError(
            f"unknown {what} {name_or_path!r}.{hint} Available {what} names: {listed} "
            f"(or give a dotted path package.module:object)."
        )
    try:
        return ep.load()
    except Exception as exc:
        raise ConfigError(f"{what} {name_or_path!r} ({ep.value}) failed to load: {_describe_exc(exc)}.") from None


def load_protocol(name_or_path: str) -> ProtocolSpec:
    """The :class:`~bftlab.api.ProtocolSpec` for a protocol name or dotted path."""
    obj = resolve(GROUPS["protocol"], name_or_path, "protocol")
    if not isinstance(obj, ProtocolSpec):
        raise ConfigError(f"protocol {name_or_path!r} is {type(obj).__name__}, not a bftlab.api.ProtocolSpec.")
    params = obj.params
    frozen = isinstance(params, type) and dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen  # type: ignore[attr-defined]
    if not frozen:
        raise ConfigError(f"protocol {name_or_path!r}: its params must be a frozen dataclass type, got {params!r}.")
    return obj


def load_crypto(name: str) -> Callable[..., Any]:
    """The crypto scheme factory ``make(node_ids, seed, costs)`` for a name or dotted path."""
    obj = resolve(GROUPS["crypto"], name, "crypto scheme")
    if not callable(obj):
        raise ConfigError(f"crypto scheme {name!r} is {type(obj).__name__}, not a callable factory.")
    return obj


_NODE_CRYPTO_METHODS = ("digest", "sign", "verify", "authenticate", "check_mac")


def check_crypto(make: Callable[..., Any], name: str) -> None:
    """Check that ``make`` behaves as a crypto factory: ``make([0], 0, CpuCosts())`` maps node 0 to a NodeCrypto.

    A dotted path can name any callable (``collections:OrderedDict``); calling
    it once with a one-node system is cheap and is what the run would do, so a
    wrong kind of object is refused when the spec is validated, not mid-run.
    Whatever the call raises becomes the error message.
    """
    from bftlab.core.costs import CpuCosts

    signature = "make(node_ids, seed, costs) returning {node id: NodeCrypto}"
    try:
        made = make([0], 0, CpuCosts())
    except Exception as exc:  # a plug-in's failure, whatever it is, is the user's wrong choice of path
        raise ConfigError(f"crypto scheme {name!r} is not a crypto factory {signature}: calling it with one "
                          f"node failed ({_describe_exc(exc)[:200]}).") from None
    node = made.get(0) if isinstance(made, Mapping) else None
    missing = [m for m in _NODE_CRYPTO_METHODS if not callable(getattr(node, m, None))]
    if node is None or missing:
        got = (f"a {type(made).__name__}" if node is None else
               f"node 0 -> a {type(node).__name__} without {', '.join(missing)}")
        raise ConfigError(f"crypto scheme {name!r} is not a crypto factory {signature}: for one node it "
                          f"returned {got} (a NodeCrypto has methods {', '.join(_NODE_CRYPTO_METHODS)}).")


def load_oracles(names: Any) -> list[OraclePlugin]:
    """The oracle plug-ins for ``names`` (registered names or dotted paths), each once, in order."""
    out: list[OraclePlugin] = []
    for name in names:
        obj = resolve(GROUPS["oracle"], name, "oracle")
        if not isinstance(obj, OraclePlugin):
            raise ConfigError(f"oracle {name!r} is {type(obj).__name__}, not a bftlab.oracles.base.OraclePlugin.")
        if all(p.name != obj.name for p in out):
            out.append(obj)
    return out
