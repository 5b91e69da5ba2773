"""The bftlab command: exit statuses, error paragraphs, outputs, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bftlab
import bftlab.sim
from bftlab import cli
from bftlab.errors import ConfigError
from tests.engine.test_report import sample_report

TOY = "tests.engine.toyproto:TOY"
REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

SPEC = f"""\
name: cli-test
protocol:
  name: {TOY}
  params: {{retry_s: 0.5}}
n: 4
f: 1
workload: {{clients: 2, requests: 20}}
stop: {{time_limit_s: 10}}
"""


@pytest.fixture
def spec_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default output folders land in the test's own folder
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fake_runner(monkeypatch):
    """Replace bftlab.sim.runner by a stub whose ``run`` returns (or raises) what a test sets."""
    stub = types.SimpleNamespace(result=sample_report(), calls=[])

    def run(spec, out_dir=None, **options):
        stub.calls.append(spec)
        if isinstance(stub.result, BaseException):
            raise stub.result
        return stub.result

    stub.run = run
    monkeypatch.setitem(sys.modules, "bftlab.sim.runner", stub)
    monkeypatch.setattr(bftlab.sim, "runner", stub, raising=False)
    return stub


# ----------------------------------------------------------------- bad specs
BAD = [
    ("unknown key", SPEC.replace("n: 4", "nn: 4"), [], "unknown key 'nn' in the top level. Did you mean 'n'?"),
    ("wrong type", SPEC.replace("n: 4", "n: four"), [], "n: expected an integer, got 'four' (a string)."),
    ("n < 3f+1", SPEC.replace("f: 1", "f: 2"), [], "n=4 replicas tolerate f=1"),
    ("invalid YAML", SPEC.replace("n: 4", "n: [4"), [], "invalid YAML"),
    ("bad --set path", SPEC, ["--set", "workload.clientz=3"],
     "(--set workload.clientz=3): workload.clientz: unknown key"),
    ("bad --set value", SPEC, ["--set", "n=x"], "(--set n=x): n: expected an integer, got 'x' (a string)."),
    ("bad protocol param", SPEC, ["--set", "protocol.params.retry_s=soon"],
     "protocol.params.retry_s: expected a number, got 'soon' (a string)."),
    ("unknown protocol", SPEC, ["--set", "protocol.name=hotstuff"],
     "unknown protocol 'hotstuff'. Available protocol names: "),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("label, text, extra, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_specs_exit_2_with_one_error_paragraph(capsys, spec_file, fake_runner, command, label, text, extra,
                                                   expected):
    spec_file.write_text(text)
    code, out, err = run_cli(capsys, command, spec_file, *extra)
    assert code == 2, err
    assert err.startswith(f"error: {spec_file}") and err.count("\n") == 1, err
    assert expected in err and "Traceback" not in err
    assert out == "" and fake_runner.calls == []


def test_missing_file(capsys, tmp_path):
    code, out, err = run_cli(capsys, "validate", tmp_path / "nope.yaml")
    assert code == 2 and err == f"error: {tmp_path / 'nope.yaml'}: spec file not found.\n"


def test_usage_errors_exit_2(capsys, spec_file):
    assert run_cli(capsys, "run")[0] == 2
    assert run_cli(capsys, "run", spec_file, "--seed", "x")[0] == 2
    assert run_cli(capsys, "frobnicate")[0] == 2
    code, out, err = run_cli(capsys)
    assert code == 2 and "commands:" in err
    code, _, err = run_cli(capsys, "validate", spec_file, "--set", "novalue")
    assert code == 2 and "expected KEY=VALUE" in err


# ------------------------------------------------------------------ validate
def test_validate_ok_and_resolved(capsys, spec_file):
    code, out, err = run_cli(capsys, "validate", spec_file, "--set", "n=7")
    assert code == 0 and out == f"ok: {spec_file} ({TOY}, n=7, f=1)\n"
    code, out, err = run_cli(capsys, "validate", spec_file, "--explain")
    assert code == 0 and "# Number of replicas." in out and err.startswith("ok: ")


# ----------------------------------------------------------------------- run
def test_run_writes_outputs_to_the_default_folder(capsys, spec_file, fake_runner):
    code, out, err = run_cli(capsys, "run", spec_file, "--seed", "7", "--set", "workload.clients=3")
    assert code == 0, err
    folder = Path("results/cli-test-seed7")
    assert sorted(p.name for p in folder.iterdir()) == ["report.json", "report.md", "spec.yaml"]
    assert fake_runner.calls[0].seed == 7 and fake_runner.calls[0].workload.clients == 3
    assert "safety" in out and out.rstrip().endswith(f"results: {folder}")
    assert "bftlab run results/cli-test-seed7/spec.yaml --seed 7" in (folder / "report.md").read_text()


def test_unsafe_run_exits_0_unless_asked(capsys, spec_file, fake_runner, tmp_path):
    assert run_cli(capsys, "run", spec_file, "--out", tmp_path / "a")[0] == 0
    code, out, err = run_cli(capsys, "run", spec_file, "--out", tmp_path / "b", "--fail-on-unsafe", "--quiet")
    assert code == 3 and out == "" and err == ""
    fake_runner.result = sample_report(safety={"ok": True, "violations": []})
    assert run_cli(capsys, "run", spec_file, "--out", tmp_path / "c", "--fail-on-unsafe")[0] == 0


def test_internal_error_prints_seed_and_replay(capsys, spec_file, fake_runner, tmp_path):
    fake_runner.result = RuntimeError("kernel exploded")
    code, out, err = run_cli(capsys, "run", spec_file, "--out", tmp_path / "x", "--seed", "42")
    assert code == 1 and "kernel exploded" in err
    replay = f"bftlab run {tmp_path / 'x' / 'spec.yaml'} --seed 42"
    assert f"seed 42; this is a bug in bftlab. Replay it with: {replay}" in err
    assert (tmp_path / "x" / "spec.yaml").exists()  # written before the run, so the replay works


def test_config_error_from_the_runner_exits_2(capsys, spec_file, fake_runner, tmp_path):
    fake_runner.result = ConfigError("transport.kind 'real' is not available yet; use 'sim'")
    code, out, err = run_cli(capsys, "run", spec_file, "--out", tmp_path / "x")
    assert code == 2 and err == "error: transport.kind 'real' is not available yet; use 'sim'\n"


def test_run_end_to_end_with_the_real_runner(capsys, spec_file, tmp_path):
    code, out, err = run_cli(capsys, "run", spec_file, "--out", tmp_path / "e2e")
    assert code == 0, err
    report = json.loads((tmp_path / "e2e" / "report.json").read_text())
    assert report["metrics"]["committed"] == 20 and report["safety"]["ok"] and report["seed"] == 1


# --------------------------------------------------------------------- help
def test_version_and_help(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out == f"bftlab {bftlab.__version__}\n"
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "run" in out and "validate" in out and "exit status:" in out
    code, out, _ = run_cli(capsys, "run", "--help")
    for text in ("--set KEY=VALUE", "--seed N", "--out DIR", "--fail-on-unsafe", "--quiet", "examples:", "3  safety"):
        assert text in out
    code, out, _ = run_cli(capsys, "validate", "--help")
    assert code == 0 and "--explain" in out and "examples:" in out


# ---------------------------------------------------------- shipped configs
@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(capsys, path):
    code, out, err = run_cli(capsys, "validate", path)
    assert code == 0, err


# ----------------------------------------------------------------- processes
def test_installed_script_and_module(tmp_path):
    script = Path(sys.executable).with_name("bftlab")
    if not script.exists():
        pytest.skip("the bftlab script is not installed in this environment")
    (tmp_path / "bad.yaml").write_text(SPEC.replace("n: 4", "n: 4.5"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([script, "validate", "bad.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: bad.yaml, line 5: n: expected an integer, got 4.5 (a number).\n"
    proc = subprocess.run([sys.executable, "-m", "bftlab", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("bftlab ")


@pytest.mark.parametrize("reader", ["head -1", "true"])
@pytest.mark.parametrize("argv", [["run", "spec.yaml", "--out", "out"], ["validate", "spec.yaml", "--explain"]],
                         ids=["run", "validate"])
def test_a_closed_stdout_ends_quietly(tmp_path, reader, argv):
    """`bftlab run SPEC | head -1`: the reader may go away before bftlab writes (``true`` always does)."""
    script = Path(sys.executable).with_name("bftlab")
    if not script.exists():
        pytest.skip("the bftlab script is not installed in this environment")
    (tmp_path / "spec.yaml").write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    line = " ".join([str(script), *argv]) + f' | {reader}; echo "bftlab exit ${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert "BrokenPipeError" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().endswith("bftlab exit 0"), proc.stderr
    if argv[0] == "run":  # the run itself finished: only its summary was cut off
        assert json.loads((tmp_path / "out" / "report.json").read_text())["metrics"]["committed"] == 20
    if reader.startswith("head"):
        assert proc.stdout.count("\n") == 1
