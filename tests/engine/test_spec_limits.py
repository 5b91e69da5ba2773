"""Specs that cannot exhaust the machine: every case a user reported ends with exit 2 and one paragraph.

Each case is a spec (or an override) that used to crash or exhaust memory:
an alias bomb, deep nesting, integers and times beyond 64 bits, sizes of 10^9,
plug-in paths to objects of the wrong kind, a PoW attacker on PBFT, a PoW run
of 10^6 nodes, a real-transport run of 100,000 processes. ``validate`` must
refuse each with the paragraph ``run`` gives, naming the file, the line (or
the ``--set`` override) and the key, before anything is allocated.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bftlab import cli
from bftlab.specs import schema, spec
from bftlab.specs.schema import MAX_DEPTH, MAX_SPEC_BYTES, MAX_YAML_NODES

PBFT = """\
name: limits
protocol: {name: pbft}
n: 4
workload: {clients: 2, requests: 20}
stop: {time_limit_s: 5}
"""

POW = """\
name: limits-pow
n: 10
protocol: {name: pow, params: {blocks: 10, degree: 4}}
"""


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic alias bomb: each level lists the previous one ``width`` times (9^9 values)."""
    lines = ["name: laughs", "protocol: {name: pbft}", "lol0: &lol0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cli_error(capsys, tmp_path: Path, command: str, path: Path, *overrides: str) -> str:
    """Run ``bftlab COMMAND``; assert exit 2 and one ``error:`` paragraph on stderr; return it."""
    argv = [command, str(path), *[a for o in overrides for a in ("--set", o)]]
    if command == "run":
        argv += ["--out", str(tmp_path / "out"), "--quiet"]
    status = cli.main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out" / "report.json").exists()
    return captured.err


# ------------------------------------------------------------ the YAML text
def test_alias_bomb_is_refused_without_expanding_it(capsys, tmp_path):
    path = write(tmp_path, billion_laughs())
    for command in ("validate", "run"):
        err = cli_error(capsys, tmp_path, command, path)
        assert str(path) in err and ", line 8: lol5:" in err  # the first key whose value alone is over the limit
        assert f"more than the limit of {MAX_YAML_NODES:,}" in err


def test_a_few_aliases_are_still_fine(tmp_path):
    text = "name: a\nprotocol: {name: pbft}\nn: &n 4\nworkload: {clients: *n, requests: 10}\n"
    assert spec.load_spec(write(tmp_path, text)).workload.clients == 4


def test_recursive_alias_is_refused(capsys, tmp_path):
    path = write(tmp_path, PBFT + "description: &d [*d]\n")
    err = cli_error(capsys, tmp_path, "validate", path)
    assert ", line 6" in err and "recursive alias" in err


def test_deep_nesting_is_refused_with_its_key(capsys, tmp_path):
    path = write(tmp_path, PBFT + "description: " + "[" * 500 + "]" * 500 + "\n")
    for command in ("validate", "run"):
        err = cli_error(capsys, tmp_path, command, path)
        assert ", line 6, column" in err and "description[0][0]" in err
        assert f"nested more than {MAX_DEPTH} levels deep" in err


def test_deep_override_is_refused(capsys, tmp_path):
    path = write(tmp_path, PBFT)
    err = cli_error(capsys, tmp_path, "validate", path, "description=" + "{a: " * 100 + "1" + "}" * 100)
    assert "--set description=" in err and f"nested more than {MAX_DEPTH} levels deep" in err
    err = cli_error(capsys, tmp_path, "validate", path, ".".join(["a"] * 100) + "=1")
    assert f"nested more than {MAX_DEPTH} levels deep" in err


def test_oversized_file_is_refused_unread(capsys, tmp_path):
    path = write(tmp_path, PBFT + "description: '" + "x" * MAX_SPEC_BYTES + "'\n")
    err = cli_error(capsys, tmp_path, "validate", path)
    assert str(path) in err and f"larger than {MAX_SPEC_BYTES:,} bytes" in err


def test_integer_literal_beyond_python_parsing_is_refused(capsys, tmp_path):
    path = write(tmp_path, PBFT.replace("n: 4", "n: " + "9" * 5000))
    err = cli_error(capsys, tmp_path, "validate", path)
    assert ", line 3, column 4" in err and "far beyond the 64 bits" in err


# ----------------------------------------------------------------- numbers
def test_integer_beyond_64_bits_on_pow(capsys, tmp_path):
    path = write(tmp_path, POW)
    for command in ("validate", "run"):
        err = cli_error(capsys, tmp_path, command, path, "n=9223372036854775808")
        assert "(--set n=9223372036854775808): n: must be at most 100,000" in err
    err = cli_error(capsys, tmp_path, "validate", path, "protocol.params.blocks=" + str(2**70))
    assert "protocol.params.blocks: expected an integer of at most 64 bits" in err


@pytest.mark.parametrize("override, key, text", [
    ("n=1000000000", "n", "must be at most 100,000"),
    ("workload.clients=1000000000", "workload.clients", "must be at most 10,000"),
    ("workload.request_size_bytes=1000000000", "workload.request_size_bytes", "must be at most 1,048,576"),
    ("n=513", "n", "must be at most 512 for protocol 'pbft' on the message-level simulator"),
    ("transport.max_frame_bytes=10000000000", "transport.max_frame_bytes", "must be at most 268,435,456"),
])
def test_sizes_have_caps(capsys, tmp_path, override, key, text):
    path = write(tmp_path, PBFT)
    for command in ("validate", "run"):
        err = cli_error(capsys, tmp_path, command, path, override)
        assert f"(--set {override}): {key}: {text}" in err


@pytest.mark.parametrize("override, key", [
    ("stop.time_limit_s=1e308", "stop.time_limit_s"),
    ("network.latency_ms=1e308", "network.latency_ms"),
    ("faults=[{node: 0, crash_at_s: 1e308}]", "faults[0].crash_at_s"),
    ("protocol.params.view_change_timeout_s=1e308", "protocol.params.view_change_timeout_s"),
    ("protocol.params.batch_timeout_s=-1e300", "protocol.params.batch_timeout_s"),
    ("stop.time_limit_s=2000000000", "stop.time_limit_s"),  # an int in a float field is bounded as well
])
def test_times_are_bounded_by_their_unit(capsys, tmp_path, override, key):
    path = write(tmp_path, PBFT)
    for command in ("validate", "run"):
        err = cli_error(capsys, tmp_path, command, path, override)
        assert f": {key}: must be at most 1e+" in err and "in magnitude" in err


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999"])
def test_nan_and_infinity_are_refused(capsys, tmp_path, value):
    path = write(tmp_path, PBFT)
    err = cli_error(capsys, tmp_path, "validate", path, f"network.loss={value}")
    assert "network.loss: expected a finite number" in err
    err = cli_error(capsys, tmp_path, "validate", path, f"adversary={{strategy: gst, params: {{gst_s: {value}}}}}")
    assert "adversary[0].params.gst_s: expected a finite number" in err


def test_a_huge_integer_in_a_float_field_does_not_overflow(capsys, tmp_path):
    path = write(tmp_path, PBFT)
    err = cli_error(capsys, tmp_path, "validate", path, "network.bandwidth_mbps=" + str(10**30))
    assert "network.bandwidth_mbps: expected an integer of at most 64 bits" not in err  # a float field
    assert "network.bandwidth_mbps: expected a number of magnitude at most 1e+15" in err


# ----------------------------------------------------------------- plug-ins
@pytest.mark.parametrize("path, text", [
    ("collections:OrderedDict", "calling it with one node failed (TypeError"),
    ("builtins:dict", "calling it with one node failed (TypeError"),
    ("math:pi", "is float, not a callable factory"),
    ("bftlab.specs.spec:spec_digest", "calling it with one node failed"),
    ("operator:setitem", "for one node it returned a NoneType"),
    ("tests.engine.test_spec_limits:make_without_methods", "node 0 -> a object without digest, sign, verify"),
])
def test_crypto_path_of_the_wrong_kind(capsys, tmp_path, path, text):
    spec_path = write(tmp_path, PBFT)
    for command in ("validate", "run"):
        err = cli_error(capsys, tmp_path, command, spec_path, f"crypto={path}")
        assert f"(--set crypto={path}): crypto: crypto scheme {path!r}" in err and text in err


def make_without_methods(node_ids, seed, costs):
    """Has the factory's signature but builds no NodeCrypto."""
    return {i: object() for i in node_ids}


def test_real_crypto_factories_pass_the_check(tmp_path):
    for name in ("ideal", "ed25519", "crypto.ideal:make"):
        assert spec.load_spec(write(tmp_path, PBFT), [f"crypto={name}"]).crypto == name


def test_strategy_path_of_the_wrong_kind(capsys, tmp_path):
    path = write(tmp_path, PBFT)
    err = cli_error(capsys, tmp_path, "validate", path, "adversary={strategy: 'collections:OrderedDict'}")
    assert "adversary[0].strategy: adversary strategy 'collections:OrderedDict' is type, not a strategy class" in err


def test_pow_attacker_on_pbft_validate_says_what_run_says(capsys, tmp_path):
    path = write(tmp_path, PBFT + "adversary: {strategy: eclipse, byzantine: [0]}\n")
    errors = {command: cli_error(capsys, tmp_path, command, path) for command in ("validate", "run")}
    assert errors["validate"] == errors["run"]
    assert ", line 6: adversary[0].strategy: 'eclipse'" in errors["run"]
    assert "attacks protocol 'pow' only, so it cannot run with protocol 'pbft'" in errors["run"]


# ---------------------------------------------------------------- PoW, real
@pytest.mark.parametrize("override, key, text", [
    ("n=1000000", "n", "must be at most 100,000"),
    ("protocol.params.degree=1000", "protocol.params.degree", "must be at most 125"),
    ("protocol.params.blocks=100000000", "protocol.params.blocks", "must be at most 1,000,000"),
    ("protocol.params.tx_rate_tps=100000", "protocol.params.tx_rate_tps", "100000 tx/s over the expected run"),
    ("protocol.params.block_interval_s=1e7", "protocol.params.block_interval_s", "must be at most 86,400"),
])
def test_pow_sizes_have_caps(capsys, tmp_path, override, key, text):
    err = cli_error(capsys, tmp_path, "validate", write(tmp_path, POW), override)
    assert f"{key}: {text}" in err


def test_pow_cap_is_checked_against_n(capsys, tmp_path):
    path = write(tmp_path, POW)
    err = cli_error(capsys, tmp_path, "validate", path, "n=10000", "protocol.params.topology=complete")
    assert "protocol.params.topology: complete needs n^2/2 links; n must be at most 2,000" in err
    err = cli_error(capsys, tmp_path, "validate", path, "n=100000", "protocol.params.degree=100")
    assert "protocol.params.degree: n x degree must be at most 2,000,000" in err
    assert spec.load_spec(path, ["n=100000"]).n == 100_000  # the cap itself is allowed


def test_real_transport_caps_replicas_and_clients(capsys, tmp_path):
    path = write(tmp_path, PBFT.replace("n: 4\n", "n: 4\ntransport: {kind: real}\n"))
    err = cli_error(capsys, tmp_path, "validate", path, "n=100000")
    assert "n: must be at most 64 on the real transport" in err
    err = cli_error(capsys, tmp_path, "validate", path, "workload.clients=2000")
    assert "workload.clients: must be at most 1,024 on the real transport" in err
    assert spec.load_spec(path, ["n=64", "workload.clients=1024"]).n == 64


def test_the_real_transport_refuses_simulated_faults_it_would_not_apply(capsys, tmp_path):
    path = write(tmp_path, PBFT.replace("n: 4\n", "n: 4\ntransport: {kind: real}\n"))
    err = cli_error(capsys, tmp_path, "validate", path, "network.loss=0.1")
    assert "network.loss: is the simulated network's message loss, which the real transport" in err
    err = cli_error(capsys, tmp_path, "validate", path,
                    "network.partitions=[{start_s: 1.0, end_s: 2.0, groups: [[0]]}]")
    assert "network.partitions: is the simulated network's partition schedule" in err
    assert "strategy: partition" in err
    assert spec.load_spec(path, ["network.latency_ms=50"]).network.latency_ms == 50  # the model is just unused


# ------------------------------------------------------------------ the CLI
def test_ctrl_c_while_loading_exits_130_with_one_line(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(spec, "load_spec", interrupted)
    path = write(tmp_path, PBFT)
    for argv in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        assert cli.main(argv) == 130
        err = capsys.readouterr().err
        assert err == f"error: interrupted while loading {path}; nothing was run.\n"


def test_explain_prints_the_caps(capsys, tmp_path):
    assert cli.main(["validate", str(write(tmp_path, PBFT)), "--explain"]) == 0
    out = " ".join(line.lstrip("# ") for line in capsys.readouterr().out.splitlines())
    for cap in ("at most 1,048,576 (1 MiB)", "1 .. 10,000 (at most 1,024 on the real transport)",
                "At most 512 on the message-level simulator", "At most 3,600,000 (one hour)"):
        assert cap in out


def test_unit_of_a_field_comes_from_its_last_name():
    assert [schema._unit(p) for p in ("a.latency_ms[0][1]", "timeout_s", "faults[2].crash_at_s", "n", "x.y_bytes")] \
        == ["ms", "s", "s", "", "bytes"]
