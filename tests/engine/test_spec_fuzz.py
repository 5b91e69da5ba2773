"""A spec fuzzer: mutated shipped configs must load or fail with one paragraph, never anything else.

Each example starts from a spec in ``configs/`` (shrunk to a tiny workload so a
valid one can be run), applies a few mutations (a value replaced by another
type, a huge, negative, NaN or infinite number, a long string, deep nesting,
an alias bomb, a dotted path to some stdlib object, an unknown key) and then:

1. validates it in this process, under a memory cap and an alarm: it must give
   a spec or a ConfigError/UsageError whose message is one paragraph naming the
   file (and, unless the whole document is refused, a key);
2. if it is valid and small, runs it with ``bftlab run`` in a child process
   under ``RLIMIT_AS`` and a timeout: exit 0, or exit 2 with one ``error:`` line.

The judge is tested on planted failures first, so a broken judge cannot pass
everything. Examples are derandomised so CI sees the same ones every time.
"""

from __future__ import annotations

import copy
import re
import resource
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bftlab.errors import ConfigError, UsageError
from bftlab.specs.spec import ExperimentSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
MEMORY_CAP = 2 << 30  # bytes of address space for a run (and headroom for validation)
RUN_TIMEOUT_S = 20
VALIDATE_ALARM_S = 20

TINY = {  # what makes a shipped config cheap enough to run after mutation
    "pbft": {"workload": {"requests": 20, "clients": 2}, "stop": {"time_limit_s": 5}},
    "pow": {"protocol": {"params": {"blocks": 5}}},
}

# Stdlib objects that are harmless to import and to call with three arguments (the crypto check does).
DOTTED = ["collections:OrderedDict", "math:pi", "os:getcwd", "builtins:dict", "json:dumps", "operator:add",
          "string:Template", "fractions:Fraction", "random:Random", "itertools:count", "os:path",
          "no.such.module:thing", "collections:nothere", "operator:setitem", "bftlab.api:ProtocolSpec"]
PLUGIN_KEYS = ["crypto", "protocol.name", "adversary", "oracles"]


def base(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    tiny = TINY.get(data["protocol"]["name"], {})
    return merge(data, tiny)


def merge(data: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for key, value in extra.items():
        out[key] = merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def key_paths(data: Any, prefix: str = "") -> list[str]:
    """Every key path of ``data`` (``network.latency_ms``, ``faults[0].node``)."""
    out: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            sub = f"{prefix}.{k}" if prefix else str(k)
            out += [sub, *key_paths(v, sub)]
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += key_paths(v, f"{prefix}[{i}]")
    return out


def put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``data`` (creating sections on the way)."""
    steps = [int(s) if s.isdigit() else s for s in re.findall(r"[^.\[\]]+", path)]
    node: Any = data
    for step in steps[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(step, {}) if not isinstance(node.get(step), (dict, list)) else node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return
    if isinstance(node, dict):
        node[steps[-1]] = value
    elif isinstance(node, list) and isinstance(steps[-1], int) and steps[-1] < len(node):
        node[steps[-1]] = value


def get(data: Any, path: str) -> Any:
    for step in re.findall(r"[^.\[\]]+", path):
        data = data[int(step)] if isinstance(data, list) else data[step]
    return data


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


VALUES = st.one_of(
    st.sampled_from([None, True, "fast", "", [], {}, [1, 2], {"a": 1}, 0, -1, -(10**6), 2**63, -(2**63) - 1,
                     10**9, 10**30, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), 1e-300, 0.5]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.integers(1000, 20000).map(lambda k: "x" * k),
    st.integers(1, 120).map(nested),
)

ALIAS_BOMB = textwrap.dedent("""\
    bomb0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    bomb1: &b1 [*b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0]
    bomb2: &b2 [*b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1]
    bomb3: &b3 [*b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2]
    bomb4: &b4 [*b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3]
    bomb5: &b5 [*b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4]
    bomb6: &b6 [*b5, *b5, *b5, *b5, *b5, *b5, *b5, *b5, *b5]
    bomb7: &b7 [*b6, *b6, *b6, *b6, *b6, *b6, *b6, *b6, *b6]
    bomb8: &b8 [*b7, *b7, *b7, *b7, *b7, *b7, *b7, *b7, *b7]
    """)


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """YAML text of a shipped config after one to three mutations."""
    data = base(draw(st.sampled_from(CONFIGS)))
    tail = ""
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["near", "near", "near", "value", "value", "plugin", "unknown", "bomb", "text"]))
        numbers = [k for k in key_paths(data) if type(get(data, k)) in (int, float)]
        if kind == "near" and numbers:  # a plausible edit, so that some mutants are valid and get run
            path = draw(st.sampled_from(numbers))
            v = get(data, path)
            put(data, path, type(v)(draw(st.sampled_from([0, 1, 2, v / 2, v * 2, v + 1, v - 1]))))
        elif kind in ("value", "near"):
            put(data, draw(st.sampled_from(key_paths(data))), draw(VALUES))
        elif kind == "plugin":
            key, path = draw(st.sampled_from(PLUGIN_KEYS)), draw(st.sampled_from(DOTTED))
            put(data, key, {"strategy": path} if key == "adversary" else [path] if key == "oracles" else path)
        elif kind == "unknown":
            section = draw(st.sampled_from(["", "network.", "workload.", "protocol.params.", "stop."]))
            put(data, section + draw(st.sampled_from(["latency", "nodes", "clientz", "zzz"])), 1)
        elif kind == "bomb":
            tail = ALIAS_BOMB
        else:
            tail = draw(st.sampled_from(["description: " + "[" * 300 + "]" * 300 + "\n",
                                         "description: &d [*d]\n", "n: " + "7" * 5000 + "\n",
                                         "seed: 0x" + "f" * 40 + "\n", "\t- broken: [\n"]))
    return yaml.safe_dump(data, sort_keys=False, width=1 << 20) + tail


# ------------------------------------------------------------------ the judge
@contextmanager
def bounded(memory: int = MEMORY_CAP, seconds: int = VALIDATE_ALARM_S) -> Iterator[None]:
    """Run a block under an address-space cap and an alarm; both are restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory + _address_space() if soft == resource.RLIM_INFINITY else min(soft, memory + _address_space())

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"validation took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's current address-space size (the cap is on top of what pytest already maps)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


LOCATED = re.compile(
    r"^(?P<file>\S+?)(, line \d+(, column \d+)?| \(--set [^)]*\)|, line \d+ \(as changed by [^)]*\))?: ")
WHOLE_DOCUMENT = ("invalid YAML", "the spec is", "larger than", "is not a file", "the YAML text is")


def judge_error(exc: BaseException, source: str) -> str | None:
    """Why ``exc`` is not an acceptable answer to a bad spec (None when it is)."""
    if not isinstance(exc, (ConfigError, UsageError)):
        return f"raised {type(exc).__name__}: {exc}"
    message = str(exc)
    if "\n" in message:
        return f"message is not one paragraph: {message!r}"
    m = LOCATED.match(message)
    if not m or m.group("file") != source:
        return f"message does not start with the file {source}: {message!r}"
    if any(w in message for w in WHOLE_DOCUMENT):
        return None
    if not re.match(r"[A-Za-z_][\w\-]*(\[\d+\])*(\.[\w\-?]+(\[\d+\])*)*: ", message[m.end():]):
        return f"message names no key: {message!r}"
    return None


def small(spec: ExperimentSpec) -> bool:
    """Cheap enough to run in the test: a tiny workload on the simulator, or a short PoW chain."""
    if spec.protocol.name == "pow":
        p = spec.protocol.params
        return spec.n <= 300 and p.blocks <= 20 and p.engine == "fast" and p.tx_rate_tps <= 100
    if spec.transport.kind != "sim" or spec.n > 64:
        return False
    wl = spec.workload
    return (wl.clients <= 8 and 0 < wl.requests <= 200 and spec.stop.time_limit_s <= 10
            and wl.request_size_bytes <= 4096 and spec.stop.max_events <= 50_000_000 and not spec.trace.keep)


RUNNER = textwrap.dedent("""\
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    from bftlab import cli
    sys.exit(cli.main(["run", sys.argv[1], "--out", sys.argv[2], "--quiet"]))
    """)


def run_in_child(path: Path, out: Path, code: str = RUNNER, timeout: float = RUN_TIMEOUT_S) -> str | None:
    """Run ``bftlab run`` on ``path`` in a child with a memory cap and a timeout; why it failed, or None."""
    try:
        proc = subprocess.run([sys.executable, "-c", code.format(cap=MEMORY_CAP), str(path), str(out)],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:  # subprocess.run kills and reaps the child before raising
        return f"the run took more than {timeout} s"
    if proc.returncode == 0:
        return None
    if proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1:
        return None
    return f"exit {proc.returncode}: {proc.stderr[-2000:]}"


def check(text: str, tmp: Path, runs: list[int]) -> None:
    path = tmp / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        with bounded():
            spec = load_spec(path)
    except Exception as exc:  # judged: only a one-paragraph ConfigError/UsageError is acceptable
        problem = judge_error(exc, str(path))
        assert problem is None, f"{problem}\n--- spec ---\n{text[:3000]}"
        return
    if small(spec) and runs[0] > 0:
        runs[0] -= 1
        problem = run_in_child(path, tmp / "out")
        assert problem is None, f"{problem}\n--- spec ---\n{text[:3000]}"


# ------------------------------------------------------------------- tests
def test_judge_catches_planted_failures(tmp_path):
    source = str(tmp_path / "fuzzed.yaml")
    good = ConfigError(f"{source}, line 3: network.latency_ms: must be >= 0, got -1.0.")
    assert judge_error(good, source) is None
    assert judge_error(ConfigError(f"{source}: invalid YAML: found a tab."), source) is None
    assert "raised OverflowError" in judge_error(OverflowError("cannot convert float infinity"), source)
    assert "not one paragraph" in judge_error(ConfigError(f"{source}, line 3: n: bad\nsecond"), source)
    assert "names no key" in judge_error(ConfigError(f"{source}, line 3: something went wrong."), source)
    assert "does not start with the file" in judge_error(ConfigError("n: bad."), source)


def test_bounded_stops_runaway_memory_and_time():
    with pytest.raises(MemoryError), bounded(memory=256 << 20):
        bytearray(1 << 30)
    with pytest.raises(TimeoutError), bounded(seconds=1):
        while True:
            pass
    bytearray(300 << 20)  # the cap is lifted afterwards


def test_child_runs_are_judged(tmp_path):
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: ok\nprotocol: {name: pbft}\nworkload: {requests: 5, clients: 1}\nstop: {time_limit_s: 2}\n")
    assert run_in_child(ok, tmp_path / "out") is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nprotocol: {name: pbft}\ncrypto: 'collections:OrderedDict'\n")
    assert run_in_child(bad, tmp_path / "out") is None  # refused: exit 2 with one error line
    # Planted runaways: a child that allocates past the cap, and one that never ends.
    hog = "import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))\nx = bytearray(4 << 30)\n"
    assert "MemoryError" in run_in_child(ok, tmp_path / "out", code=hog)
    assert run_in_child(ok, tmp_path / "out", code="while True: pass", timeout=2) == "the run took more than 2 s"


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=mutated_specs())
def test_mutated_shipped_configs_load_or_fail_with_one_paragraph(text, tmp_path):
    check(text, tmp_path, RUN_BUDGET)


RUN_BUDGET = [12]
"""At most this many valid mutants are run in a child process (each costs about a second)."""
