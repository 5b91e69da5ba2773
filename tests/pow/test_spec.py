"""Bad PoW specs are rejected with the key path; good ones load whatever n is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bftlab.cli import main
from bftlab.errors import ConfigError
from protocols.pow.params import PowParams
from protocols.pow.run import resolve_params
from tests.pow.helpers import pow_spec


@pytest.mark.parametrize("params,key", [
    ({"hash_shares": [0.5, 0.3]}, "protocol.params.hash_shares"),
    ({"hash_shares": [0.5, -0.2, 0.7]}, "protocol.params.hash_shares[1]"),
    ({"max_block_size_bytes": -1}, "protocol.params.max_block_size_bytes"),
    ({"tx_size_bytes": -5}, "protocol.params.tx_size_bytes"),
    ({"topology": "ring"}, "protocol.params.topology"),
    ({"gamma": 0.5}, "protocol.params.gamma"),  # realistic mode: gamma comes from the network
    ({"mode": "idealised", "gamma": 1.5}, "protocol.params.gamma"),
    ({"attacker": {"kind": "selfish", "hash_share": 1.2}}, "protocol.params.attacker.hash_share"),
    ({"attacker": {"kind": "stealth"}}, "protocol.params.attacker.kind"),
    ({"blocks": 0}, "protocol.params.blocks"),
    ({"block_size": 5}, "protocol.params.block_size"),
])
def test_bad_params_name_their_key(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        pow_spec(params)
    assert key in str(exc.value)


@pytest.mark.parametrize("params,n,key", [
    ({"hash_shares": [0.25] * 4}, 3, "protocol.params.hash_shares"),
    ({"degree": 3}, 9, "protocol.params.degree"),
    ({"topology": "edges", "edges": [[0, 12]]}, 10, "protocol.params.edges[0]"),
    ({"attacker": {"kind": "selfish", "node": 20}}, 10, "protocol.params.attacker.node"),
])
def test_checks_that_need_n(params: dict, n: int, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve_params(pow_spec(params, n=n))
    assert key in str(exc.value)


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
