"""Building PoW specs in tests."""

from __future__ import annotations

from typing import Any

from bftlab.specs.spec import ExperimentSpec, spec_from_dict


def pow_spec(params: dict[str, Any], n: int = 10, seed: int = 1, **top: Any) -> ExperimentSpec:
    return spec_from_dict({"name": "pow-test", "seed": seed, "n": n, "protocol": {"name": "pow", "params": params},
                           **top})


def ideal(blocks: int, **params: Any) -> dict[str, Any]:
    """Idealised-mode params with fixed difficulty (the closed forms assume constant rates)."""
    return {"mode": "idealised", "blocks": blocks, "retarget_interval": 0, **params}


def attack(strategy: str, node: int = 0, **params: Any) -> dict[str, Any]:
    """An ``adversary`` entry: ``strategy`` controlling miner ``node``."""
    return {"strategy": strategy, "byzantine": [node], "params": params}
