"""Spec loading: typed validation, line numbers, overrides, two-phase params, round trips."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.api import ProtocolSpec
from bftlab.errors import ConfigError
from bftlab.specs import registry, schema
from bftlab.specs.spec import ExperimentSpec, load_spec, spec_digest, spec_from_dict, spec_to_dict, spec_to_yaml


# ------------------------------------------------------------ a fake protocol
@dataclass(frozen=True)
class FakeParams:
    batch_size_max: int = 16
    """Requests per batch."""
    timeout_s: float = 1.0
    mode: Literal["fast", "slow"] = "fast"
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.batch_size_max < 1:
            raise ValueError(f"batch_size_max must be >= 1, got {self.batch_size_max}")


def _no_node(ctx):  # never called: these tests do not run the protocol
    raise AssertionError("not a runnable protocol")


FAKE = ProtocolSpec(name="fake", params=FakeParams, make_replica=_no_node, make_client=_no_node)
FAKE_PATH = f"{__name__}:FAKE"
NOT_A_PROTOCOL = object()

BASE = f"""\
name: unit
seed: 5
protocol:
  name: {FAKE_PATH}
  params:
    batch_size_max: 8
n: 4
network:
  latency_ms: 20
workload:
  clients: 2
  requests: 10
faults:
  - {{node: 1, crash_at_s: 1.0, recover_at_s: 2.0}}
  - {{node: 2, crash_at_s: 3.0}}
"""


def write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path, text: str = BASE, overrides=(), **kw) -> str:
    with pytest.raises(ConfigError) as info:
        load_spec(write(tmp_path, text), overrides, **kw)
    message = str(info.value)
    assert "\n" not in message  # always one paragraph
    return message


# ------------------------------------------------------------------ resolving
def test_base_spec_resolves_defaults_and_params(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    assert spec.f == 1 and spec.replicas == (0, 1, 2, 3) and spec.clients == (4, 5)
    assert spec.network.latency_ms == 20.0 and isinstance(spec.network.latency_ms, float)
    assert spec.protocol.params == FakeParams(batch_size_max=8)
    assert spec.faults[1].recover_at_s is None
    assert spec.cpu.sign_us > 0 and spec.transport.kind == "sim" and spec.trace.keep is False
    hash(spec)  # hashable: sweeps may put specs in sets


def test_f_defaults_to_n_minus_1_over_3(tmp_path):
    assert load_spec(write(tmp_path, BASE), ["n=7"]).f == 2
    assert load_spec(write(tmp_path, BASE), ["n=1", "faults=[]"]).f == 0


def test_resolved_spec_round_trips(tmp_path):
    spec = load_spec(write(tmp_path, BASE), ["network.partitions=[{start_s: 1, end_s: 2, groups: [[0], [1, 2]]}]"])
    for comments in (False, True):
        text = spec_to_yaml(spec, comments=comments)
        again = spec_from_dict(yaml.safe_load(text), "resolved")
        assert again == spec and spec_digest(again) == spec_digest(spec)
    assert json.loads(json.dumps(spec_to_dict(spec)))["protocol"]["params"]["batch_size_max"] == 8


def test_explain_comments_come_from_field_docstrings(tmp_path):
    text = spec_to_yaml(load_spec(write(tmp_path, BASE)), comments=True)
    assert "# Number of replicas." in text and "# Requests per batch." in text


def test_seed_argument_replaces_the_spec_seed(tmp_path):
    assert load_spec(write(tmp_path, BASE), seed=99).seed == 99


# --------------------------------------------------------------- bad specs
def test_unknown_key_suggests_the_closest_and_gives_the_line(tmp_path):
    msg = error_of(tmp_path, BASE.replace("latency_ms: 20", "latncy_ms: 20"))
    assert "spec.yaml, line 9: network.latncy_ms: unknown key 'latncy_ms'" in msg
    assert "Did you mean 'latency_ms'?" in msg


def test_wrong_type_names_value_and_expectation(tmp_path):
    msg = error_of(tmp_path, BASE.replace("clients: 2", "clients: two"))
    assert msg == f"{tmp_path / 'spec.yaml'}, line 11: workload.clients: expected an integer, got 'two' (a string)."


def test_bool_is_not_an_int_but_int_is_a_float(tmp_path):
    assert "got true (a boolean)" in error_of(tmp_path, BASE.replace("clients: 2", "clients: true"))
    assert load_spec(write(tmp_path, BASE), ["stop.time_limit_s=5"]).stop.time_limit_s == 5.0


def test_list_item_paths_and_lines(tmp_path):
    msg = error_of(tmp_path, BASE.replace("{node: 2, crash_at_s: 3.0}", "{node: 9, crash_at_s: 3.0}"))
    assert "line 15: faults[1].node: must be a replica id 0..3, got 9." in msg


def test_too_few_replicas_for_f(tmp_path):
    msg = error_of(tmp_path, BASE.replace("n: 4", "n: 3\nf: 1"))
    assert msg.endswith("f: n=3 replicas tolerate f=0 Byzantine faults; f=1 needs n >= 4.")


def test_missing_required_key(tmp_path):
    assert "name: missing required key 'name' in the top level" in error_of(tmp_path, BASE.replace("name: unit\n", ""))


def test_literal_suggests_a_choice(tmp_path):
    msg = error_of(tmp_path, overrides=["network.latency_model=lognorml"])
    assert "expected one of 'constant', 'uniform', 'normal', 'lognormal', 'regions'" in msg
    assert "Did you mean 'lognormal'?" in msg and "(--set network.latency_model=lognorml)" in msg


def test_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: spec file not found"):
        load_spec(tmp_path / "missing.yaml")
    assert "line 3, column" in error_of(tmp_path, "name: x\nprotocol: {name: a\n  n: 4\n")
    assert "invalid YAML" in error_of(tmp_path, "name: x\nprotocol: {name: a\n  n: 4\n")
    assert "the spec is empty" in error_of(tmp_path, "# nothing\n")
    assert "must be a YAML mapping" in error_of(tmp_path, "- a\n- b\n")
    assert "line 2: name: duplicate key 'name'" in error_of(tmp_path, "name: a\nname: b\n")


def test_yaml_1_2_floats_are_numbers(tmp_path):
    spec = load_spec(write(tmp_path, BASE), ["workload.mode=open", "workload.rate_rps=1e4"])
    assert spec.workload.rate_rps == 10000.0


# --------------------------------------------------------- two-phase params
def test_bad_param_is_reported_under_protocol_params(tmp_path):
    msg = error_of(tmp_path, BASE.replace("batch_size_max: 8", "batch_size: 8"))
    assert "line 6: protocol.params.batch_size: unknown key 'batch_size'" in msg
    assert "Did you mean 'batch_size_max'?" in msg
    msg = error_of(tmp_path, BASE.replace("batch_size_max: 8", "batch_size_max: 0"))
    assert "line 5: protocol.params: batch_size_max must be >= 1, got 0" in msg


def test_unknown_protocol_lists_available_names(tmp_path):
    msg = error_of(tmp_path, overrides=["protocol.name=nosuch"])
    assert "protocol.name: unknown protocol 'nosuch'." in msg
    assert "Available protocol names: " in msg and ", pbft, pow, raft," in msg


def test_dotted_paths_that_do_not_resolve(tmp_path):
    assert "cannot import module 'no_such_mod'" in error_of(tmp_path, overrides=["protocol.name=no_such_mod:X"])
    assert "has no attribute 'NOPE'" in error_of(tmp_path, overrides=[f"protocol.name={__name__}:NOPE"])
    msg = error_of(tmp_path, overrides=[f"protocol.name={__name__}:NOT_A_PROTOCOL"])
    assert "not a bftlab.api.ProtocolSpec" in msg


def test_registry_resolves_names_and_paths():
    assert callable(registry.load_crypto("ideal"))
    assert registry.load_protocol(FAKE_PATH) is FAKE
    with pytest.raises(ConfigError, match=r"unknown crypto scheme 'idael'\. Did you mean 'ideal'\?"):
        registry.load_crypto("idael")
    with pytest.raises(ConfigError, match="Available widget names: none"):
        registry.resolve("bftlab.no-such-group", "x", "widget")


# -------------------------------------------------------- cross-field checks
@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["network.latency_model=regions"], "network.regions: latency_model: regions needs a regions section"),
        (["network.regions={names: [eu], nodes: [eu], clients: eu, latency_ms: [[1]]}"], "is set but latency_model is"),
        (["network.latency_model=regions", "network.regions={names: [eu, us], nodes: [eu, eu], clients: eu, "
          "latency_ms: [[1, 80], [80, 1]]}"], "network.regions.nodes: needs one region per replica (n=4), got 2"),
        (["network.latency_model=regions", "network.regions={names: [eu, us], nodes: [eu, eu, us, asia], "
          "clients: eu, latency_ms: [[1, 80], [80, 1]]}"], "network.regions.nodes[3]: unknown region 'asia'"),
        (["network.latency_model=regions", "network.regions={names: [eu, us], nodes: [eu, eu, us, us], "
          "clients: eu, latency_ms: [[1, 80]]}"], "network.regions.latency_ms: must be a 2x2 matrix"),
        (["network.partitions=[{start_s: 0, end_s: 2, groups: [[0]]}, {start_s: 1, end_s: 3, groups: [[1]]}]"],
         "network.partitions[1]: overlaps partitions[0]"),
        (["network.partitions=[{start_s: 0, end_s: 2, groups: [[0, 6]]}]"],
         "network.partitions[0].groups[0]: node id 6 does not exist: replicas are 0..3 and clients 4..5"),
        (["network.loss=1"], "network.loss: must be in [0, 1), got 1.0"),
        (["network.latency_model=uniform", "network.jitter_ms=30"], "network.jitter_ms: uniform latency is"),
        (["workload.mode=open"], "workload.rate_rps: open mode needs an arrival rate"),
        (["workload.requests=0"], "workload.requests: 0 means no request limit"),
        (["faults[1].crash_at_s=1.5"],
         "faults[1]: at 1.5 s replicas [1, 2] are crashed or Byzantine at once, more than f=1"),
        (["faults[1].node=1", "faults[1].crash_at_s=1.5"],
         "faults[1]: replica 1 crashes at 1.5 s while it is already down"),
        (["cpu.sign_us=-1"], "cpu.sign_us: must be a number >= 0"),
        (["name=has space"], "name: must be letters, digits"),
    ],
)
def test_cross_field_errors(tmp_path, overrides, expected):
    assert expected in error_of(tmp_path, overrides=overrides)


def test_valid_regions_and_deliberate_excess_faults(tmp_path):
    spec = load_spec(
        write(tmp_path, BASE),
        ["network.latency_model=regions",
         "network.regions={names: [eu, us], nodes: [eu, eu, us, us], clients: eu, latency_ms: [[1, 80], [80, 1]]}",
         "faults[1].crash_at_s=1.5", "allow_exceeding_f=true"],
    )
    assert spec.network.regions.latency_ms == ((1.0, 80.0), (80.0, 1.0))


# ---------------------------------------------------------------- overrides
def test_overrides_create_sections_and_index_lists():
    data = schema.apply_overrides({"a": {"b": 1}, "xs": [{"k": 1}]}, ["a.c.d=[1, 2]", "xs[0].k=null", "s="])
    assert data == {"a": {"b": 1, "c": {"d": [1, 2]}}, "xs": [{"k": None}], "s": ""}


@pytest.mark.parametrize(
    "override, expected",
    [
        ("nokey", "expected KEY=VALUE"),
        ("a..b=1", "is not a valid key path"),
        ("n.x=1", "n is 4 (an integer), not a section, so it has no key 'x'"),
        ("faults[5].node=1", "faults has 2 items, so there is no item [5]"),
        ("n=[1", "the value is not valid YAML"),
    ],
)
def test_override_syntax_errors_name_the_override(tmp_path, override, expected):
    msg = error_of(tmp_path, overrides=[override])
    assert f"(--set {override})" in msg and expected in msg


def test_override_of_unknown_section_names_the_override(tmp_path):
    msg = error_of(tmp_path, overrides=["netwrk.latency_ms=5"])
    assert "(--set netwrk.latency_ms=5): netwrk: unknown key 'netwrk' in the top level. Did you mean 'network'?" in msg


def test_overrides_replace_lists(tmp_path):
    assert load_spec(write(tmp_path, BASE), ["faults=[]"]).faults == ()


# ------------------------------------------------------- generic schema types
@dataclass(frozen=True)
class Item:
    k: int


@dataclass(frozen=True)
class Kitchen:
    pair: tuple[int, str]
    table: dict[str, float] = field(default_factory=dict)
    maybe: int | None = None
    either: int | str = 0
    items: list[Item] = field(default_factory=list)


def test_generic_types_convert_and_fail_clearly():
    k = schema.load(Kitchen, {"pair": [1, "a"], "table": {"x": 1}, "either": "s", "items": [{"k": 2}]}, source="k")
    assert k == Kitchen(pair=(1, "a"), table={"x": 1.0}, either="s", items=[Item(2)])
    assert schema.dump(k) == {"pair": [1, "a"], "table": {"x": 1.0}, "maybe": None, "either": "s", "items": [{"k": 2}]}
    cases = [
        ({"pair": [1]}, "k: pair: expected a list of 2 items (an integer, a string), got 1 items"),
        ({"pair": [1, "a"], "table": {"x": "y"}}, "table.x: expected a number, got 'y'"),
        ({"pair": [1, "a"], "either": 1.5}, "either: expected an integer or a string, got 1.5 (a number)"),
        ({"pair": [1, "a"], "items": [{"k": 1}, {"j": 1}]}, "items[1].j: unknown key 'j' in items[1]"),
        ({"pair": [1, "a"], "maybe": float("nan")}, "maybe: expected an integer, got nan"),
    ]
    for data, expected in cases:
        with pytest.raises(ConfigError) as info:
            schema.load(Kitchen, data, source="k")
        assert expected in str(info.value)


# --------------------------------------------------------------- properties
_FLOAT = dict(allow_nan=False, allow_infinity=False)
OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "seed": st.integers(0, 2**63),
        "n": st.integers(1, 40),
        "description": st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=20),
        "network.latency_ms": st.floats(0, 1e4, **_FLOAT),
        "network.lognormal_sigma": st.floats(0, 5, **_FLOAT),
        "network.bandwidth_mbps": st.floats(0, 1e6, **_FLOAT),
        "network.loss": st.floats(0, 0.999, **_FLOAT),
        "workload.clients": st.integers(1, 100),
        "workload.requests": st.integers(1, 10**7),
        "workload.read_fraction": st.floats(0, 1, **_FLOAT),
        "cpu.verify_us": st.floats(0, 1e3, **_FLOAT),
        "stop.time_limit_s": st.floats(1e-3, 1e6, **_FLOAT),
        "trace.keep": st.booleans(),
        "protocol.params.timeout_s": st.floats(-1e3, 1e3, **_FLOAT),
        "protocol.params.mode": st.sampled_from(["fast", "slow"]),
        "protocol.params.weights": st.lists(st.floats(-1e9, 1e9, **_FLOAT), max_size=4),
    },
)
PLAIN = f"name: prop\nprotocol: {{name: {FAKE_PATH}}}\n"


@settings(max_examples=60, deadline=None)
@given(OVERRIDES)
def test_random_valid_overrides_round_trip(values):
    data, lines = schema.parse_yaml(PLAIN, "prop.yaml")
    # JSON text is YAML flow syntax, so it exercises the override parser on any value.
    overrides = [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in values.items()]
    data = schema.apply_overrides(data, overrides, lines=lines)
    spec = spec_from_dict(data, "prop.yaml", lines)
    plain = spec_to_dict(spec)
    for key, value in values.items():
        node = plain
        for part in key.split("."):
            node = node[part]
        assert node == value
    assert spec_from_dict(yaml.safe_load(spec_to_yaml(spec)), "again") == spec
    assert isinstance(spec, ExperimentSpec)
