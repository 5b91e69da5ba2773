"""Typed YAML loading: plain data in, frozen dataclasses out, one clear error.

A spec section is a dataclass whose fields carry type hints and defaults. This
module turns plain YAML data into such a dataclass and rejects anything else:
unknown keys (with the closest valid key suggested), wrong types, missing
required keys. Errors are :class:`~bftlab.errors.ConfigError` with a single
paragraph naming the file, the YAML line (or the ``--set`` override the value
came from), the key path (``network.latency_ms``, ``faults[1].node``), the bad
value and what was expected.

Supported field types: ``int``, ``float`` (ints accepted), ``str``, ``bool``
(never accepted for ``int``), ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``,
``dict[str, X]``, ``X | None``, other unions, ``Literal[...]``, ``Any`` and
nested dataclasses (also inside lists).

Checks that span several fields live in the dataclass's ``__post_init__``; a
``ValueError`` or ``ConfigError`` raised there is re-raised with the file and
key path. Raise :class:`FieldError` to blame one field rather than the whole
section.

Line numbers come from :func:`parse_yaml`, which records where each key path
starts. :func:`apply_overrides` records ``--set`` overrides in the same map, so
an error in an overridden value names the override instead of a line.

Limits. No spec text, however written, may exhaust the machine while it is
read, so every document (a file or a ``--set`` value) is bounded before it is
built, and every number when it is converted:

- at most :data:`MAX_SPEC_BYTES` bytes of text;
- at most :data:`MAX_DEPTH` levels of nested sections and lists;
- at most :data:`MAX_YAML_NODES` values once aliases are expanded (each use of
  ``*name`` counts the whole anchored value again), which refuses alias bombs
  ("billion laughs") without expanding them; an alias inside its own anchor is
  refused too;
- integers fit 64 bits, signed or unsigned (:data:`INT_MIN` .. :data:`INT_MAX`);
  numbers are finite (no ``.nan``/``.inf``) and at most :data:`MAX_NUMBER` in
  magnitude;
- the unit in a field's name is enforced: a value in seconds (a name ending in
  ``_s``) is at most :data:`MAX_TIME_S` in magnitude, so every time converts to
  integer nanoseconds within 64 bits; ``_ms``, ``_us`` and ``_ns`` fields scale
  accordingly (see :data:`UNIT_LIMITS`). This holds for plug-in parameters as
  well, since they are loaded by this module.

Sections add their own, tighter limits in their ``__post_init__`` and say so
in the field docstring that ``bftlab validate --explain`` prints.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import inspect
import math
import re
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping, MutableMapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from bftlab.errors import ConfigError

Lines = MutableMapping[str, int | str]
"""Key path -> where its value came from: a YAML line number or an override text."""

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "MAX_NUMBER",
    "MAX_SPEC_BYTES",
    "MAX_TIME_S",
    "MAX_YAML_NODES",
    "UNIT_LIMITS",
    "FieldError",
    "Lines",
    "apply_overrides",
    "dump",
    "error",
    "field_docs",
    "load",
    "parse_yaml",
    "show",
]


MAX_SPEC_BYTES = 262_144
"""Largest spec document (a file, or one ``--set`` value) in bytes: 256 KiB (the shipped specs are under 2 KiB)."""
MAX_DEPTH = 40
"""Deepest nesting of sections and lists in a document (a spec needs fewer than 10 levels)."""
MAX_YAML_NODES = 100_000
"""Most values (scalars, lists, mappings) in a document once every alias is expanded."""
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
"""Bounds of every integer field: 64 bits, signed or unsigned (a 64-bit seed fits); sections set tighter ones."""
MAX_NUMBER = 1e15
"""Largest magnitude of a number (float) field; sections and units set tighter ones."""
MAX_TIME_S = 1e9
"""Largest magnitude of a time in seconds (about 31.7 years): 10^18 ns fits a signed 64-bit integer."""
UNIT_LIMITS: Mapping[str, float] = {
    "s": MAX_TIME_S, "ms": MAX_TIME_S * 1e3, "us": MAX_TIME_S * 1e6, "ns": MAX_TIME_S * 1e9,
}
"""Field-name suffix (``timeout_s``) -> largest magnitude of its value; the unit in the name is enforced."""


class FieldError(ConfigError):
    """Raised in a ``__post_init__`` to blame one field (a dotted path below the section)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ------------------------------------------------------------------ YAML text
class _LimitError(yaml.MarkedYAMLError):
    """A document over one of the limits above, found while it is composed; ``path`` is the key path."""

    def __init__(self, path: str, problem: str, mark: Any) -> None:
        super().__init__(None, None, problem, mark)
        self.path = path


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e3`` as a float (YAML 1.2 style) and enforces :data:`MAX_DEPTH`.

    PyYAML follows YAML 1.1, where a float needs a dot, so ``rate_rps: 1e4``
    would otherwise arrive as the string ``'1e4'``. Composition is recursive,
    so nesting is counted here, before Python's own recursion limit is reached.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []  # key path of the node being composed, one entry per level

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)  # an alias adds no nesting of its own
        if isinstance(index, int):
            step = f"[{index}]"
        elif isinstance(index, yaml.ScalarNode):
            step = str(index.value)[:40]
        else:
            step = "?"  # the root, or a mapping key
        self._path.append(step)
        try:
            if len(self._path) > MAX_DEPTH:
                raise _LimitError(self._key_path(), f"nested more than {MAX_DEPTH} levels deep (the limit for a spec)",
                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def _key_path(self) -> str:
        out = ""
        for step in self._path[1:]:
            out = out + step if step.startswith("[") else _join(out, step)
        return out

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # Python refuses to parse integers of more than 4300 digits
            raise _LimitError("", f"an integer of {len(node.value):,} characters, far beyond the 64 bits "
                              f"of spec integers", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    """One-paragraph message with line/column for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if isinstance(exc, _LimitError):
        key = f"{exc.path}: " if exc.path else ""
        return ConfigError(" ".join(f"{source}{where}: {key}{exc.problem}.".split()))
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = "; ".join(p for p in parts if p) or str(exc).splitlines()[0]
    return ConfigError(" ".join(f"{source}{where}: invalid YAML: {what}.".split()))


def read_yaml_file(path: str | Path, what: str) -> tuple[Any, dict[str, int | str]]:
    """Read and parse the YAML file at ``path`` (``what`` names it in errors: "spec", ...).

    Returns the data (None when the file is empty) and the line of every key path.
    A file over :data:`MAX_SPEC_BYTES` is refused without being read.
    """
    source, p = str(path), Path(path)
    if not p.is_file():
        raise ConfigError(f"{source}: {what} file not found." if not p.exists() else
                          f"{source}: is not a file; give the path of a YAML {what}.")
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)  # never more, whatever the file claims to hold
        if len(raw) > MAX_SPEC_BYTES:
            raise ConfigError(f"{source}: the {what} is larger than {MAX_SPEC_BYTES:,} bytes, the limit for a "
                              f"YAML {what}; a spec describes a run, it does not hold data.")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        what_failed = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        raise ConfigError(f"{source}: cannot read the {what} ({what_failed}).") from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int | str]]:
    """Parse YAML ``text``; return the data and the line number of every key path.

    Duplicate keys are an error (YAML would silently keep the last one), and so
    is a document over the limits in the module docstring.
    """
    node, data = _compose_and_construct(text, source)
    lines: dict[str, int | str] = {}
    if node is not None:
        _record_lines(node, "", lines, source)
    return data, lines


def _compose_and_construct(text: str, source: str, path: str = "") -> tuple[Any, Any]:
    """Compose ``text`` once, check its expanded size, then build the data from the same nodes."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise ConfigError(f"{source}: {path + ': ' if path else ''}the YAML text is {size:,} bytes, more than "
                          f"the limit of {MAX_SPEC_BYTES:,} bytes.")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node, source, path)
        return node, loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, source: str, path: str) -> None:
    """Refuse a document whose values, with every alias expanded, exceed :data:`MAX_YAML_NODES`.

    Sizes are memoised per node, so an alias bomb is measured in the time it
    takes to read it, not to expand it. The error names the outermost key whose
    value alone is over the limit.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node, where: str) -> int:  # recursion is bounded by MAX_DEPTH
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise _LimitError(where, "an alias refers to a value that contains it (a recursive alias)",
                              node.start_mark)
        open_.add(key)
        total = 1
        if node.tag == "tag:yaml.org,2002:int" and len(node.value) > 100:  # 2^64 has 20 digits
            raise _LimitError(where, f"an integer of {len(node.value):,} characters, far beyond the 64 bits of "
                              f"spec integers", node.start_mark)
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item, f"{where}[{i}]") for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                name = str(k.value)[:40] if isinstance(k, yaml.ScalarNode) else "?"
                total += size(k, where) + size(v, _join(where, name))
        open_.discard(key)
        sizes[key] = total
        return total

    if size(root, path) <= MAX_YAML_NODES:
        return
    node, where = root, path
    while isinstance(node, yaml.MappingNode):  # descend to the outermost key that is alone too big
        big = [(k, v) for k, v in node.value if sizes[id(v)] > MAX_YAML_NODES]
        if not big:
            break
        key_node, node = big[0]
        where = _join(where, str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?")
    line = node.start_mark.line + 1
    raise ConfigError(
        f"{source}, line {line}: {where + ': ' if where else ''}the value expands to {sizes[id(node)]:,} YAML "
        f"values once its aliases (*name) are expanded, more than the limit of {MAX_YAML_NODES:,}; "
        f"write the value out, or use fewer aliases."
    )


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int | str], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = _join(path, key)
            if key in seen:
                raise ConfigError(
                    f"{source}, line {key_node.start_mark.line + 1}: {sub}: duplicate key {key!r}; "
                    f"each key may appear only once in a section."
                )
            seen.add(key)
            lines[sub] = key_node.start_mark.line + 1
            _record_lines(value_node, sub, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines[sub] = item.start_mark.line + 1
            _record_lines(item, sub, lines, source)


# ------------------------------------------------------------------ messages
def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parent(path: str) -> str:
    """``a.b[2].c`` -> ``a.b[2]`` -> ``a.b`` -> ``a`` -> ``""``."""
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _where(lines: Mapping[str, int | str] | None, path: str) -> str:
    """Where ``path`` came from, as text to put after the file name.

    ``, line 12``; `` (--set a.b=1)``; or ``, line 12 (as changed by --set a.b.c=1)``
    when a section from the file was then changed by an override below it.
    """
    if not lines:
        return ""
    origin = lines.get(path)
    if isinstance(origin, str):
        return f" ({origin})"
    below = [
        o for k, o in lines.items()
        if path and isinstance(o, str) and (k.startswith(path + ".") or k.startswith(path + "["))
    ]
    if origin is None and below:
        return f" ({', '.join(below)})"
    p = path
    while origin is None and p:
        p = _parent(p)
        origin = lines.get(p)
    if isinstance(origin, str):
        return f" ({origin})"
    if origin is None:
        return ""
    if below:
        return f", line {origin} (as changed by {', '.join(below)})"
    return f", line {origin}"


def error(source: str, lines: Mapping[str, int | str] | None, path: str, message: str) -> ConfigError:
    """Build the one-paragraph error for ``path``: ``<file>, line N: <path>: <message>``."""
    head = source + _where(lines, path)
    body = " ".join(message.split())  # always one paragraph
    return ConfigError(f"{head}: {path}: {body}" if path else f"{head}: {body}")


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def show(value: Any) -> str:
    """``'fast' (a string)``; long values are cut so the message stays one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_yaml_kind(value)})"


def _describe(tp: Any) -> str:
    """What a type expects, in YAML words."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        inner = [_describe(a) for a in args if a is not type(None)]
        text = " or ".join(inner)
        return text + " or null" if type(None) in args else text
    if origin in (list, tuple) or tp in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} items ({', '.join(_describe(a) for a in args)})"
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict or tp is dict:
        return f"a mapping of {_describe(args[1])}s" if args else "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping (section)"
    return getattr(tp, "__name__", repr(tp))


def _plural(tp: Any) -> str:
    words = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
    if tp in words:
        return words[tp]
    if dataclasses.is_dataclass(tp):
        return "mappings"
    return f"values ({_describe(tp)})"


# ------------------------------------------------------------------- loading
@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _init_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


class _Ctx:
    __slots__ = ("source", "lines")

    def __init__(self, source: str, lines: Mapping[str, int | str] | None) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: str, message: str) -> ConfigError:
        return error(self.source, self.lines, path, message)

    def expected(self, path: str, tp: Any, value: Any) -> ConfigError:
        return self.fail(path, f"expected {_describe(tp)}, got {show(value)}.")


def load(cls: type, data: Any, *, source: str, lines: Mapping[str, int | str] | None = None, path: str = "") -> Any:
    """Build dataclass ``cls`` from plain ``data``; raise ConfigError naming the first problem.

    ``path`` is where ``data`` sits in the whole document (e.g. ``protocol.params``),
    so a section validated on its own still reports full key paths and lines.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"schema.load needs a dataclass type, got {cls!r}")
    return _convert(cls, data, path, _Ctx(source, lines))


def _convert(tp: Any, value: Any, path: str, ctx: _Ctx) -> Any:
    if tp is Any or tp is object:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return _convert_union(tp, args, value, path, ctx)
    if origin is Literal:
        return _convert_literal(args, value, path, ctx)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ctx.expected(path, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if not INT_MIN <= value <= INT_MAX:
                raise ctx.fail(path, f"expected an integer of at most 64 bits (-2^63 .. 2^64-1), got {show(value)}.")
            _check_unit(path, value, ctx)
            return value
        raise ctx.expected(path, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise ctx.fail(path, f"expected a finite number, got {show(value)}.")
            _check_unit(path, value, ctx)
            if abs(value) > MAX_NUMBER:  # compared before float(): a huge int would overflow
                raise ctx.fail(path, f"expected a number of magnitude at most {MAX_NUMBER:g}, got {show(value)}.")
            return float(value)
        raise ctx.expected(path, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ctx.expected(path, tp, value)
    if origin in (list, tuple) or tp in (list, tuple):
        return _convert_sequence(tp, origin or tp, args, value, path, ctx)
    if origin is dict or tp is dict:
        return _convert_mapping(tp, args, value, path, ctx)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, path, ctx)
    raise TypeError(f"schema: unsupported field type {tp!r} at {path or 'top level'}")


def _unit(path: str) -> str:
    """The unit suffix of the field ``path`` ends in: ``a.latency_ms[0][1]`` -> ``ms``."""
    name = path.split("[", 1)[0] if "." not in path else path.rsplit(".", 1)[1].split("[", 1)[0]
    return name.rsplit("_", 1)[1] if "_" in name else ""


def _check_unit(path: str, value: int | float, ctx: _Ctx) -> None:
    limit = UNIT_LIMITS.get(_unit(path))
    if limit is not None and abs(value) > limit:
        raise ctx.fail(path, f"must be at most {limit:g} {_unit(path)} (about 31.7 years) in magnitude, "
                             f"got {show(value)}; simulated times are integer nanoseconds of 64 bits.")


def _convert_union(tp: Any, args: tuple, value: Any, path: str, ctx: _Ctx) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise ctx.expected(path, tp, value)
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        return _convert(options[0], value, path, ctx)
    for option in options:
        try:
            return _convert(option, value, path, ctx)
        except ConfigError:
            continue
    raise ctx.expected(path, tp, value)


def _convert_literal(args: tuple, value: Any, path: str, ctx: _Ctx) -> Any:
    for allowed in args:
        # type() check: True == 1 must not select Literal[1]
        if type(value) is type(allowed) and value == allowed:
            return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [a for a in args if isinstance(a, str)], n=1)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    choices = ", ".join(repr(a) for a in args)
    raise ctx.fail(path, f"expected one of {choices}, got {show(value)}.{hint}")


def _convert_sequence(tp: Any, kind: type, args: tuple, value: Any, path: str, ctx: _Ctx) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ctx.expected(path, tp, value)
    if kind is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ctx.fail(path, f"expected {_describe(tp)}, got {len(value)} items: {show(value)}.")
        return tuple(_convert(a, v, f"{path}[{i}]", ctx) for i, (a, v) in enumerate(zip(args, value)))
    item = args[0] if args else Any
    items = [_convert(item, v, f"{path}[{i}]", ctx) for i, v in enumerate(value)]
    return tuple(items) if kind is tuple else items


def _convert_mapping(tp: Any, args: tuple, value: Any, path: str, ctx: _Ctx) -> dict:
    if not isinstance(value, dict):
        raise ctx.expected(path, tp, value)
    key_tp, val_tp = args if args else (Any, Any)
    out = {}
    for k, v in value.items():
        sub = _join(path, str(k))
        if key_tp is str and not isinstance(k, str):
            raise ctx.fail(sub, f"keys must be strings, got {show(k)}.")
        out[k] = _convert(val_tp, v, sub, ctx)
    return out


def _convert_dataclass(cls: type, value: Any, path: str, ctx: _Ctx) -> Any:
    if value is None:
        value = {}  # an empty section (`trace:`) means "all defaults"
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a mapping (section) with keys {_keys(cls)}, got {show(value)}.")
    fields = {f.name: f for f in _init_fields(cls)}
    for key in value:
        if not isinstance(key, str) or key not in fields:
            raise _unknown_key(cls, key, path, ctx)
    for name, f in fields.items():
        if name not in value and _required(f):
            raise ctx.fail(
                _join(path, name),
                f"missing required key {name!r} in {path or 'the top level'} "
                f"(expected {_describe(_hints(cls)[name])}).",
            )
    hints = _hints(cls)
    kwargs = {k: _convert(hints[k], v, _join(path, k), ctx) for k, v in value.items()}
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise ctx.fail(_join(path, exc.field), exc.message) from None
    except (ConfigError, ValueError) as exc:
        raise ctx.fail(path, str(exc)) from None


def _keys(cls: type) -> str:
    return ", ".join(f.name for f in _init_fields(cls))


def _unknown_key(cls: type, key: Any, path: str, ctx: _Ctx) -> ConfigError:
    names = [f.name for f in _init_fields(cls)]
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    section = path or "the top level"
    return ctx.fail(_join(path, str(key)), f"unknown key {key!r} in {section}.{hint} Valid keys: {', '.join(names)}.")


# ----------------------------------------------------------------- overrides
_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)")


def _parse_path(key: str, origin: str) -> list[str | int]:
    if key.count(".") + key.count("[") >= MAX_DEPTH:
        raise ConfigError(f"{origin}: the key path is nested more than {MAX_DEPTH} levels deep (the limit for a spec).")
    steps: list[str | int] = []
    for part in key.split("."):
        m = _STEP.fullmatch(part)
        if not m:
            raise ConfigError(
                f"{origin}: {key!r} is not a valid key path; use dotted names with optional list "
                f"indices, e.g. network.latency_ms or faults[0].node."
            )
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return steps


def _path_text(steps: Iterable[str | int]) -> str:
    out = ""
    for s in steps:
        out = f"{out}[{s}]" if isinstance(s, int) else _join(out, s)
    return out


def apply_overrides(
    data: Any, overrides: Iterable[str], *, lines: Lines | None = None, source: str | None = None
) -> dict:
    """Return a copy of ``data`` with each ``KEY=VALUE`` override applied, in order.

    ``VALUE`` is parsed as YAML (``50``, ``true``, ``[]``, ``{a: 1}``, ``null``);
    an empty value is the empty string. Missing sections on the way are created,
    so a misspelt key is reported by validation, naming the override. If
    ``lines`` is given, each overridden path is recorded there as its origin;
    ``source`` names the spec file in errors.
    """
    data = copy.deepcopy(data) if data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"cannot apply overrides: the spec is {show(data)}, not a mapping.")
    for text in overrides:
        origin = f"--set {text}"
        where = f"{source} ({origin})" if source else origin
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{where}: expected KEY=VALUE, e.g. --set network.latency_ms=50.")
        steps = _parse_path(key.strip(), where)
        value = _parse_value(raw, where)
        _assign(data, steps, value, where)
        path = _path_text(steps)
        if lines is not None:
            for k in [k for k in lines if k == path or k.startswith(path + ".") or k.startswith(path + "[")]:
                del lines[k]
            lines[path] = origin
    return data


def _parse_value(raw: str, origin: str) -> Any:
    if raw.strip() == "":
        return ""
    try:
        return _compose_and_construct(raw, origin)[1]
    except ConfigError as exc:
        if "invalid YAML" not in str(exc):
            raise  # a limit: the message already names the override
        what = str(exc).partition("invalid YAML: ")[2].rstrip(".")
        raise ConfigError(f"{origin}: the value is not valid YAML ({what}); "
                          f"quote strings that contain ':' or '#'.") from None


def _assign(data: dict, steps: list[str | int], value: Any, origin: str) -> None:
    node: Any = data
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        here = _path_text(steps[:i]) or "the top level"
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ConfigError(f"{origin}: {here} is {show(node)}, not a list, so it has no item [{step}].")
            if step >= len(node):
                raise ConfigError(f"{origin}: {here} has {len(node)} items, so there is no item [{step}].")
        elif not isinstance(node, dict):
            raise ConfigError(f"{origin}: {here} is {show(node)}, not a section, so it has no key {step!r}.")
        if last:
            node[step] = value
        elif isinstance(step, str) and node.get(step) is None:
            node[step] = {}  # create missing (or null) sections on the way
        node = node[step]


# -------------------------------------------------------------------- output
def dump(obj: Any) -> Any:
    """Plain data (dicts in field order, lists, scalars) for a dataclass tree."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: dump(getattr(obj, f.name)) for f in _init_fields(type(obj))}
    if isinstance(obj, (list, tuple)):
        return [dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"schema.dump: cannot represent {type(obj).__name__} as YAML")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its attribute docstring (the string literal after the field)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for stmt, nxt in zip(body, body[1:]):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs
