"""Bad PoW specs are rejected with the key path; good ones load whatever n is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bftlab.cli import main
from bftlab.errors import ConfigError
from bftlab.protocols.pow.params import PowParams
from tests.pow.helpers import attack, pow_spec


@pytest.mark.parametrize("params,key", [
    ({"hash_shares": [0.5, 0.3]}, "protocol.params.hash_shares"),
    ({"hash_shares": [0.5, -0.2, 0.7]}, "protocol.params.hash_shares[1]"),
    ({"max_block_size_bytes": -1}, "protocol.params.max_block_size_bytes"),
    ({"tx_size_bytes": -5}, "protocol.params.tx_size_bytes"),
    ({"topology": "ring"}, "protocol.params.topology"),
    ({"blocks": 0}, "protocol.params.blocks"),
    ({"block_size": 5}, "protocol.params.block_size"),
    ({"attacker": {"kind": "selfish"}}, "protocol.params.attacker"),  # moved to the adversary section
])
def test_bad_params_name_their_key(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        pow_spec(params)
    assert f"{key}:" in str(exc.value)


@pytest.mark.parametrize("params,n,key", [
    ({"hash_shares": [0.25] * 4}, 3, "protocol.params.hash_shares"),
    ({"degree": 3}, 9, "protocol.params.degree"),
    ({"topology": "edges", "edges": [[0, 12]]}, 10, "protocol.params.edges[0]"),
])
def test_checks_that_need_n_run_when_the_spec_is_loaded(params: dict, n: int, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        pow_spec(params, n=n)
    assert f"{key}:" in str(exc.value)


BAD_ADVERSARY = [
    (attack("selfish-minning"), {}, "adversary[0].strategy", "Did you mean 'selfish-mining'?"),
    (attack("equivocating-primary"), {}, "adversary[0].strategy", "PoW attackers only"),
    ({"strategy": "gst"}, {}, "adversary[0].strategy", "'gst' is a network strategy acting on messages"),
    (attack("silent"), {}, "adversary[0].strategy", "'silent' is a node strategy"),
    (attack("double-spend", z=0), {}, "adversary[0].params.z", "must be >= 1"),
    (attack("double-spend", give_up=3), {}, "adversary[0].params.give_up", "Did you mean 'give_up_deficit'?"),
    (attack("selfish-mining", hash_share=1.2), {}, "adversary[0].params.hash_share", "[0, 1)"),
    (attack("selfish-mining", gamma=1.5), {"mode": "idealised"}, "adversary[0].params.gamma", "[0, 1]"),
    (attack("selfish-mining", gamma=0.5), {}, "adversary[0].params.gamma", "mode: idealised only"),
    (attack("selfish-mining", degree=10), {}, "adversary[0].params.degree", "must be < n=10"),
    (attack("selfish-mining", node=12), {}, "adversary[0].byzantine", "ids 0..9, got 12"),
    ({"strategy": "selfish-mining"}, {}, "adversary[0].byzantine", "list the replicas"),
    ({"strategy": "selfish-mining", "byzantine": [0, 1]}, {}, "adversary[0].byzantine", "controls one node"),
    (attack("selfish-mining", node=8), {"miners": 5}, "adversary[0].byzantine", "node 8 has no hash power"),
    ([attack("selfish-mining"), attack("double-spend", node=1)], {}, "adversary", "one attacker, got 2"),
    (attack("selfish-mining"), {"engine": "events"}, "adversary", "engine: fast only"),
    (attack("eclipse", victim=10), {}, "adversary[0].params.victim", "node id 0..9, got 10"),
    (attack("eclipse", victim=0), {}, "adversary[0].params.victim", "another node than the attacker's"),
    (attack("eclipse"), {"mode": "idealised"}, "adversary[0].strategy", "eclipse needs protocol.params.mode"),
]


@pytest.mark.parametrize("adv,params,key,text", BAD_ADVERSARY)
def test_bad_adversary_sections_name_their_key(adv, params: dict, key: str, text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        pow_spec(params, adversary=adv)
    assert f"{key}:" in str(exc.value) and text in str(exc.value)


def test_the_attackers_budget_is_hash_power_not_f() -> None:
    # n = 3 tolerates f = 0 Byzantine replicas; a PoW attacker is limited by its hash share instead.
    spec = pow_spec({"topology": "complete"}, n=3, adversary=attack("selfish-mining", node=2, hash_share=0.4))
    assert spec.f == 0 and spec.byzantine == (2,)
    with pytest.raises(ConfigError, match="exceed f=0"):  # the budget still applies to other protocols
        pow_spec({}, n=3, protocol={"name": "pbft"}, adversary={"strategy": "silent", "byzantine": [2]})


def test_resolved_params_take_every_default() -> None:
    spec = pow_spec({"mode": "idealised"}, adversary=attack("double-spend", z=3))
    p = spec.adversary[0].params
    assert (p.z, p.give_up_deficit, p.premine, p.hash_share, p.degree) == (3, 0, True, None, 0)


def test_many_miners_with_default_f_are_fine() -> None:
    spec = pow_spec({}, n=1000)
    assert isinstance(spec.protocol.params, PowParams) and spec.n == 1000


def test_cli_exits_2_on_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nn: 4\nprotocol:\n  name: pow\n  params:\n    hash_shares: [0.5, 0.6]\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "protocol.params.hash_shares" in err and "sum to 1" in err
    path.write_text("name: bad\nn: 4\nprotocol:\n  name: pow\n  params:\n    degree: 5\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "protocol.params.degree" in capsys.readouterr().err


@pytest.mark.parametrize("adv,text", [
    ("{strategy: stealth-mining, byzantine: [0]}", "unknown adversary strategy 'stealth-mining'"),
    ("{strategy: conflicting-votes, byzantine: [0]}", "PoW attackers only"),
    ("{strategy: double-spend, byzantine: [0], params: {z: many}}", "adversary[0].params.z: expected an integer"),
    ("{strategy: selfish-mining, byzantine: [7]}", "adversary[0].byzantine: must list replica ids 0..5, got 7"),
])
def test_cli_exit_status_2_and_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture, adv: str,
                                              text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: x\nn: 6\nprotocol: {{name: pow, params: {{degree: 3}}}}\nadversary: {adv}\n")
    for cmd in ("validate", "run"):
        assert main([cmd, str(path), *(["--out", str(tmp_path / "out")] if cmd == "run" else [])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and text in err and err.count("\n") == 1
        assert "line 4" in err  # the YAML line of the adversary section
