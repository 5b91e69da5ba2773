"""PoW attackers through the adversary API: built-ins by name, a researcher's own by dotted path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bftlab import cli, pipeline
from bftlab.adversary import PowAttacker
from bftlab.attack.config import load_strategy
from bftlab.errors import ConfigError
from bftlab.protocols.pow.chain import Chain
from bftlab.specs.schema import FieldError
from bftlab.specs.spec import spec_from_dict


class WithholdAll:
    """A miner strategy that mines on its own chain and never publishes (it only loses)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.tip = 0
        self.found = 0

    def mining_parent(self) -> int:
        return self.tip

    def on_own_block(self, b: int, now_ns: int) -> list[int]:
        self.tip, self.found = b, self.found + 1
        return []

    def on_public_block(self, b: int, now_ns: int) -> list[int]:
        return []

    def summary(self) -> dict:
        return {"withheld": self.found}


@dataclass(frozen=True, kw_only=True)
class WithholdParams(PowAttacker.Params):
    label: str = "w"
    """An extra parameter, validated like the built-ins'."""


class Withhold(PowAttacker):
    Params = WithholdParams

    def miner_strategy(self, chain: Chain, share: float) -> WithholdAll:
        return WithholdAll(chain)

    def expected(self, share: float, pow_params) -> dict[str, float]:
        return {"expected_revenue_share": 0.0}


class Forgetful(PowAttacker):
    """Forgot to override miner_strategy."""


def spec(adversary, protocol: str = "pow", **top):
    params = {"mode": "idealised", "blocks": 400, "retarget_interval": 0} if protocol == "pow" else {}
    return spec_from_dict({"name": "t", "seed": 7, "n": 10 if protocol == "pow" else 4,
                           "protocol": {"name": protocol, "params": params}, "adversary": adversary, **top})


@pytest.mark.parametrize("name", ["selfish-mining", "double-spend", "majority", "eclipse"])
def test_builtins_are_registered_strategies(name):
    cls = load_strategy(name)
    assert issubclass(cls, PowAttacker) and cls.kind == "node"


def test_own_attacker_by_dotted_path_drives_the_engine():
    path = f"{__name__}:Withhold"
    report = pipeline.execute(spec({"strategy": path, "byzantine": [3], "params": {"hash_share": 0.3, "label": "x"}}))
    m = report["metrics"]["pow"]
    assert m["attack"]["withheld"] == m["blocks_withheld"] > 50  # ~30% of 400 blocks, none published
    assert m["revenue"]["attacker"] == {"node": 3, "hash_share": 0.3, "blocks": 0, "revenue_share": 0.0}
    assert m["attack"]["expected_revenue_share"] == 0.0 and report["safety"]["ok"]


def test_own_attacker_params_are_validated():
    with pytest.raises(ConfigError, match=r"adversary\[0\]\.params\.lable: unknown key 'lable'.*'label'"):
        spec({"strategy": f"{__name__}:Withhold", "byzantine": [0], "params": {"lable": "x"}})
    with pytest.raises(ConfigError, match=r"adversary\[0\]\.strategy: .* must override miner_strategy"):
        spec({"strategy": f"{__name__}:Forgetful", "byzantine": [0]})


def test_same_seed_same_attack():
    adv = {"strategy": "selfish-mining", "byzantine": [0], "params": {"hash_share": 0.35, "gamma": 0.5}}
    a, b = pipeline.execute(spec(adv)), pipeline.execute(spec(adv))
    assert a["trace_digest"] == b["trace_digest"] and a["metrics"]["pow"]["attack"] == b["metrics"]["pow"]["attack"]


def test_pow_attacker_on_pbft_is_a_usage_error(tmp_path: Path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nprotocol: {name: pbft}\nn: 4\nworkload: {requests: 10}\n"
                    "adversary: {strategy: double-spend, byzantine: [0]}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'double-spend'" in err and "attacks protocol 'pow' only" in err and "protocol 'pbft'" in err


def test_field_errors_name_the_key_under_the_entry():
    with pytest.raises(ConfigError) as exc:
        spec({"strategy": "majority", "byzantine": [0], "params": {"degree": 12}})
    assert "adversary[0].params.degree: must be < n=10" in str(exc.value)
    assert not isinstance(exc.value, FieldError)  # a whole-spec error with the source, not a bare field
