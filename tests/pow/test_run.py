"""Whole PoW runs: determinism, the report, difficulty, the realistic attackers and the events engine."""

from __future__ import annotations

import json
from pathlib import Path

from bftlab.cli import main
from bftlab.protocols.pow.chain import Chain, merkle_root, target_to_bits, tx_ids
from bftlab.protocols.pow.run import run
from bftlab.specs.spec import load_spec
from tests.pow.helpers import attack, pow_spec

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
NET = {"latency_model": "lognormal", "latency_ms": 80, "bandwidth_mbps": 20}


def test_same_seed_same_trace_digest() -> None:
    params = {"blocks": 60, "tx_rate_tps": 1, "block_interval_s": 30}
    a = run(pow_spec(params, n=60, seed=4, network=NET))
    b = run(pow_spec(params, n=60, seed=4, network=NET))
    c = run(pow_spec(params, n=60, seed=5, network=NET))
    assert a["trace_digest"] == b["trace_digest"] != c["trace_digest"]
    assert a["metrics"] == b["metrics"]


def test_events_engine_is_deterministic_and_reports_the_same_keys() -> None:
    params = {"engine": "events", "blocks": 15, "tx_rate_tps": 2, "block_interval_s": 20, "degree": 4}
    a = run(pow_spec(params, n=20, seed=2, network=NET))
    b = run(pow_spec(params, n=20, seed=2, network=NET))
    assert a["trace_digest"] == b["trace_digest"]
    assert a["metrics"]["pow"]["blocks_mined"] >= 15
    fast = run(pow_spec({**params, "engine": "fast"}, n=20, seed=2, network=NET))
    assert set(fast["metrics"]["pow"]) == set(a["metrics"]["pow"])


def test_bitcoin_config_runs_from_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "btc"
    code = main(["run", str(CONFIGS / "pow-bitcoin.yaml"), "--out", str(out), "--quiet",
                 "--set", "n=300", "--set", "protocol.params.blocks=200"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    pow_m = report["metrics"]["pow"]
    assert pow_m["main_chain_length"] + pow_m["stale_blocks"] == 200
    assert 0 < pow_m["propagation_s"]["to_90pct"]["mean"] < 30
    assert pow_m["transactions"]["mean_block_size_bytes"] > 500_000
    assert "## Proof of work" in (out / "report.md").read_text()
    assert load_spec(CONFIGS / "pow-bitcoin.yaml").protocol.params.max_block_size_bytes == 1_000_000


def test_difficulty_retargeting_brings_the_interval_back() -> None:
    spec = pow_spec({"mode": "idealised", "blocks": 600, "retarget_interval": 100, "initial_interval_factor": 3.0})
    from bftlab.protocols.pow.run import build_engine

    out = build_engine(spec).run()
    ch = out.chain
    first = (ch.t_ns[100] - ch.t_ns[0]) / 100 / 1e9
    last = (ch.t_ns[600] - ch.t_ns[300]) / 300 / 1e9
    assert first > 1200  # 3x the 600 s target, give or take noise
    assert 400 < last < 900


def test_headers_and_merkle_roots_follow_bitcoin() -> None:
    from bftlab.crypto import merkle

    ids = tx_ids(10, 7)
    assert len(set(ids)) == 7 and all(len(i) == 32 for i in ids)
    coinbase = merkle_root(3, 1, 0, 0)
    assert merkle_root(3, 1, 10, 7) == merkle.root([coinbase, *ids], merkle.BITCOIN)
    assert target_to_bits(0xFFFF << 208) == 0x1D00FFFF
    ch = Chain(1.0)
    b = ch.add(0, 1, 5_000_000_000, 1.0, 0, 0, 80, 7, False, 0)
    assert ch.hash[b] != ch.hash[0] and ch.fork_point(b, 0) == 0


def test_selfish_miner_on_a_real_network_gets_gamma_from_connections() -> None:
    # A well-connected selfish miner (alpha = 0.35) on a network with real delays: races are won by
    # getting there first, so its revenue should beat its share (Eyal & Sirer: it does if gamma > 1/8 here).
    params = {"blocks": 1500, "block_interval_s": 20, "degree": 6}
    report = run(pow_spec(params, n=120, seed=3, network={"latency_model": "uniform", "latency_ms": 400,
                                                          "jitter_ms": 300, "bandwidth_mbps": 0},
                          adversary=attack("selfish-mining", hash_share=0.35, degree=60)))
    outcome = report["metrics"]["pow"]["attack"]
    assert outcome["tie_races"] > 0
    assert outcome["revenue_share"] > 0.35


def test_eclipsed_miner_loses_its_blocks_and_reorganises_deeply() -> None:
    params = {"blocks": 200, "block_interval_s": 60, "hash_distribution": "uniform", "miners": 10,
              "confirmations": 3}
    report = run(pow_spec(params, n=30, seed=2, network=NET, adversary=attack("eclipse", node=0, victim=1,
                                                                              end_s=6000)))
    m = report["metrics"]["pow"]
    victim = m["revenue"]["victim"]
    assert victim["hash_share"] == 0.1
    assert victim["revenue_share"] < 0.05  # its blocks during the eclipse are all stale
    assert m["deepest_reorg"] >= 3 and not report["safety"]["ok"]


def test_selfish_mining_config_runs_and_its_resolved_spec_reloads(tmp_path: Path) -> None:
    out = tmp_path / "sm"
    assert main(["run", str(CONFIGS / "pow-selfish-mining.yaml"), "--out", str(out), "--quiet",
                 "--set", "protocol.params.blocks=300"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["spec"]["adversary"] == [{"strategy": "selfish-mining", "byzantine": [0],
                                            "params": {"hash_share": 0.33, "degree": 100, "gamma": 0.0}}]
    assert report["metrics"]["pow"]["revenue"]["attacker"]["hash_share"] == 0.33
    assert report["metrics"]["pow"]["attack"]["tie_races"] > 0
    assert load_spec(out / "spec.yaml") == load_spec(CONFIGS / "pow-selfish-mining.yaml",
                                                     ["protocol.params.blocks=300"])
