"""The adversary spec section, its validation (exit 2 with a clear message) and its wiring into a run."""

from __future__ import annotations

import json
import math

import pytest

from bftlab import cli, pipeline
from bftlab.adversary import DROP, FieldError, NetworkStrategy, NodeStrategy
from bftlab.api import Send
from bftlab.errors import ConfigError
from bftlab.sim import runner
from bftlab.specs.spec import load_spec, spec_from_dict, spec_to_yaml

TOY = "tests.engine.toyproto:TOY"


class DropAll(NetworkStrategy):
    """A user's strategy, found by dotted path: the network loses everything."""

    def route(self, env):
        return DROP


def data(**over):
    d = {"name": "adv", "protocol": {"name": TOY, "params": {"retry_s": 0.25}}, "n": 4, "seed": 3,
         "workload": {"clients": 3, "requests": 60}, "stop": {"time_limit_s": 30}}
    d.update(over)
    return d


def test_single_mapping_is_a_one_item_list_and_round_trips(tmp_path):
    spec = spec_from_dict(data(adversary={"strategy": "gst", "params": {"gst_s": 1.0}}))
    assert len(spec.adversary) == 1 and spec.adversary[0].params.gst_s == 1.0
    assert spec.adversary[0].params.bound_s == 0.01  # default filled in
    path = tmp_path / "s.yaml"
    path.write_text(spec_to_yaml(spec))
    assert load_spec(path) == spec


def test_network_and_node_strategies_together():
    spec = spec_from_dict(data(adversary=[{"strategy": "reorder"}, {"strategy": "silent", "byzantine": [2]}]))
    sim = runner.build(spec)
    assert sim.byzantine == (2,)
    sim.run()
    rep = sim.report(1.0)
    assert rep["safety"]["ok"] and rep["liveness"]["ok"]
    assert rep["adversary"]["byzantine"] == [2] and rep["adversary"]["network"]["delayed"] > 0


def test_dotted_path_strategy_from_outside_the_project():
    spec = spec_from_dict(data(adversary={"strategy": "tests.adversary.test_spec_and_wiring:DropAll"}))
    rep = pipeline.execute(spec)
    assert rep["metrics"]["dropped"]["adversary"] > 0 and rep["metrics"]["committed"] == 0


BAD = [
    ({"strategy": "no-such-attack"}, "adversary[0].strategy", "unknown adversary strategy 'no-such-attack'"),
    ({"strategy": "gts"}, "adversary[0].strategy", "Did you mean 'gst'?"),
    ({"strategy": "gst", "params": {"gst_s": "soon"}}, "adversary[0].params.gst_s", "expected a number"),
    ({"strategy": "gst", "params": {"gst": 1}}, "adversary[0].params.gst", "unknown key 'gst'"),
    ({"strategy": "random-delay", "params": {"drop": 2.0}}, "adversary[0].params.drop", "probability"),
    ({"strategy": "silent", "byzantine": [4]}, "adversary[0].byzantine", "replica ids 0..3, got 4"),
    ({"strategy": "silent"}, "adversary[0].byzantine", "node strategy: list the replicas"),
    ({"strategy": "gst", "byzantine": [1]}, "adversary[0].byzantine", "network strategy"),
    ({"strategy": "silent", "byzantine": [0, 1]}, "adversary", "exceed f=1"),
    ([{"strategy": "silent", "byzantine": [0]}, {"strategy": "twins", "byzantine": [0]}], "adversary[1].byzantine",
     "already controlled"),
    ({"strategy": "bftlab.specs.spec:ExperimentSpec"}, "adversary[0].strategy", "not a strategy class"),
]


@pytest.mark.parametrize("adv,path,text", BAD)
def test_bad_adversary_specs_are_refused_with_the_key_path(adv, path, text):
    with pytest.raises(ConfigError) as err:
        spec_from_dict(data(adversary=adv))
    assert f"{path}:" in str(err.value) and text in str(err.value)


def test_crashed_and_byzantine_replicas_count_together():
    with pytest.raises(ConfigError, match="crashed or Byzantine at once, more than f=1"):
        spec_from_dict(data(adversary={"strategy": "silent", "byzantine": [1]},
                            faults=[{"node": 2, "crash_at_s": 1.0}]))
    spec = spec_from_dict(data(adversary={"strategy": "silent", "byzantine": [1]}, allow_exceeding_f=True,
                               faults=[{"node": 2, "crash_at_s": 1.0}]))
    assert spec.byzantine == (1,)


@pytest.mark.parametrize("adv,text", [
    ("{strategy: no-such-attack}", "unknown adversary strategy"),
    ("{strategy: gst, params: {max_delay_s: -1}}", "max_delay_s: must be a finite number >= 0"),
    ("{strategy: silent, byzantine: [9]}", "got 9"),
    ("{strategy: silent, byzantine: [0, 1]}", "exceed f=1"),
])
def test_cli_exit_status_2_and_one_error_line(tmp_path, capsys, adv, text):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: x\nprotocol: {{name: '{TOY}'}}\nn: 4\nadversary: {adv}\n")
    for cmd in ("validate", "run", "fuzz"):
        assert cli.main([cmd, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and text in err and err.count("\n") == 1


# ------------------------------------------------------------ range checks
RANGES = [
    # (strategy, byzantine, params as YAML lines, the key blamed, text)
    ("slow-primary", [0], ["delay_s: -1"], "delay_s", "must be a finite number >= 0, got -1.0"),
    ("targeted-delay", [], ["node: 0", "delay_s: -0.5"], "delay_s", "must be a finite number >= 0"),
    ("reorder", [], ["max_hold_s: -0.1"], "max_hold_s", "must be a finite number >= 0"),
    ("random-delay", [], ["drop: 1.5"], "drop", "probability in [0, 1], got 1.5"),
    ("random-delay", [], ["delay_max_s: .nan"], "delay_max_s", "expected a finite number"),
    ("gst", [], ["bound_s: .inf"], "bound_s", "expected a finite number"),
    ("forged-auth", [0], ["fraction: -0.2"], "fraction", "probability in [0, 1]"),
    ("stale-replay", [0], ["probability: 2"], "probability", "probability in [0, 1]"),
    ("stale-replay", [0], ["history: 0"], "history", "must be >= 1"),
    ("needless-view-change", [0], ["period_s: 0"], "period_s", "must be a finite number > 0"),
    ("silent", [0], ["start_s: -1"], "start_s", "must be a finite number >= 0"),
    ("silent", [0], ["start_s: 2", "end_s: 1"], "end_s", "must be after start_s"),
    ("twins", [0], ["end_s: -3"], "end_s", "must be a finite number >= 0"),
    ("crash-recover", [0], ["windows: []"], "windows", "is empty"),
    ("partition", [], ["partitions: []"], "partitions", "is empty"),
    ("censoring-primary", [0], ["client: -1"], "client", "counts clients from 0"),
]


@pytest.mark.parametrize("strategy,byz,params,key,text", RANGES, ids=[f"{r[0]}.{r[3]}" for r in RANGES])
def test_out_of_range_params_exit_2_naming_file_line_and_key(tmp_path, capsys, strategy, byz, params, key, text):
    lines = ["name: x", "protocol: {name: pbft}", "n: 4", "adversary:", f"  - strategy: {strategy}",
             f"    byzantine: {byz}", "    params:", *(f"      {p}" for p in params)]
    path = tmp_path / "s.yaml"
    path.write_text("\n".join(lines) + "\n")
    line = next(i for i, t in enumerate(lines, 1) if t.strip().startswith(f"{key}:"))
    assert cli.main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {path}, line {line}: adversary[0].params.{key}: ") and text in err, err


def test_params_built_in_python_are_range_checked_too():
    """The YAML loader refuses NaN and infinities itself; a fuzzer or a test building Params does not go through it."""
    from bftlab.adversary.network import ReorderParams, RotatingPartitionParams, TargetedDelayParams
    from bftlab.adversary.node import CrashRecoverParams
    from bftlab.adversary.pbft import SlowPrimaryParams

    cases = [(lambda: ReorderParams(max_hold_s=math.nan), "max_hold_s"),
             (lambda: SlowPrimaryParams(delay_s=math.inf), "delay_s"),
             (lambda: TargetedDelayParams(node=1, delay_s=math.nan), "delay_s"),
             (lambda: RotatingPartitionParams(period_s=math.nan), "period_s"),
             (lambda: CrashRecoverParams(windows=((1.0, math.inf),)), "windows[0][1]")]
    for make, field in cases:
        with pytest.raises(FieldError) as err:
            make()
        assert err.value.field == field
    assert SlowPrimaryParams(delay_s=0.0).delay_s == 0.0  # the edges of the ranges are allowed
    assert ReorderParams(fraction=1.0, max_hold_s=0.0).fraction == 1.0


# --------------------------------------------------------- strategy counters
class Withhold(NodeStrategy):
    """A user's node strategy: its replicas never reply to clients, and it counts the replies it kept."""

    def control(self, c):
        super().control(c)
        self.ctx.count("withheld", 0)  # listed even if nothing is ever withheld

    def on_actions(self, nid, now, inp, actions):
        kept = [a for a in actions if not (type(a) is Send and type(a.msg).__name__ == "Rep")]
        self.ctx.count("withheld", len(actions) - len(kept))
        return kept


def test_node_strategy_counters_reach_the_report_json_markdown_and_terminal(tmp_path, capsys):
    name = "tests.adversary.test_spec_and_wiring:Withhold"
    spec = spec_from_dict(data(allow_exceeding_f=True, adversary=[
        {"strategy": name, "byzantine": [1]}, {"strategy": name, "byzantine": [2]}]))
    path = tmp_path / "s.yaml"
    path.write_text(spec_to_yaml(spec))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    terminal = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    # replicas 0 and 3 reply to every executed request, 1 and 2 reply to none: each withheld as many as 0 and 3 sent
    k = report["metrics"]["messages"]["by_type"]["Rep"] // 2
    assert k >= 60 and report["liveness"]["ok"]
    assert report["adversary"]["counters"] == {name: {"withheld": k}, f"{name}#2": {"withheld": k}}
    assert f"`{name}` withheld {k}; `{name}#2` withheld {k}" in (tmp_path / "out" / "report.md").read_text()
    assert f"{name} withheld {k}; {name}#2 withheld {k}" in terminal


def test_counters_are_per_strategy_and_checked():
    from bftlab.attack.wiring import Attack
    from bftlab.errors import UsageError

    attack = Attack(spec_from_dict(data(adversary=[{"strategy": "reorder"}, {"strategy": "reorder"}])))
    first, second = attack.network
    first.ctx.count("held")
    first.ctx.count("held", 2)
    assert first.ctx.counters == {"held": 3} and second.ctx.counters == {}
    assert attack.summary()["counters"] == {"reorder": {"held": 3}}  # a strategy that counted nothing is left out
    for bad in [("", 1), ("held", 1.5), (None, 1)]:
        with pytest.raises(UsageError):
            first.ctx.count(*bad)


def test_one_process_of_a_real_run_builds_its_share_and_the_report_sums_the_shares():
    """The real transport's wiring is this one: per process, only the node strategies it hosts, its own streams."""
    from bftlab.attack.wiring import Attack, summarize
    from bftlab.core import seeds

    spec = spec_from_dict(data(adversary=[{"strategy": "reorder"}, {"strategy": "silent", "byzantine": [0, 1]}],
                               allow_exceeding_f=True))
    sim = Attack(spec)
    p0, p2 = Attack(spec, hosted=[0], process="0"), Attack(spec, hosted=[2], process="2")
    assert sim.byzantine == (0, 1) and p0.byzantine == (0,) and p2.byzantine == ()
    assert [s.ctx.name for s in p2.strategies] == ["reorder"]  # network strategies act in every sender
    assert p0.network[0].rng.random() == seeds.rng(3, "adversary/reorder/node0").random()
    for attack, k in [(p0, 1), (p2, 2)]:
        attack.network[0].ctx.count("held", k)
        attack.counts["dropped"] += k
    p0.by_node[0].ctx.count("muted", 5)
    total = summarize(spec, [p0.tally(), p2.tally(), None], spec.byzantine)
    assert total == {"strategies": ["reorder", "silent"], "byzantine": [0, 1],
                     "network": {"dropped": 3, "delayed": 0, "copies": 0},
                     "counters": {"reorder": {"held": 3}, "silent": {"muted": 5}}}
    sim.network[0].ctx.count("held", 3)
    sim.by_node[0].ctx.count("muted", 5)
    sim.counts["dropped"] = 3
    assert sim.summary() == total  # the simulator's report shows the same section
