"""The adversary spec section, its validation (exit 2 with a clear message) and its wiring into a run."""

from __future__ import annotations

import pytest

from bftlab.adversary import DROP, NetworkStrategy
from bftlab import cli
from bftlab.sim import runner
from bftlab.errors import ConfigError
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
    rep = runner.run(spec)
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
    ({"strategy": "silent", "byzantine": [0, 1]}, "adversary", "exceed f=1; set allow_exceeding_f"),
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
    ("{strategy: gst, params: {max_delay_s: -1}}", "max_delay_s: must be >= 0"),
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
