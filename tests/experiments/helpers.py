"""Small experiment files on the toy protocol, written into a test's tmp folder."""

from __future__ import annotations

from pathlib import Path

import yaml

TOY = "tests.engine.toyproto:TOY"
ROOT = Path(__file__).resolve().parents[2]


def toy_experiment(folder: Path, name: str = "toy-sweep", *, requests: int = 300, seeds: int = 2,
                   **extra: object) -> Path:
    """A 2x2 grid x ``seeds`` sweep of toy runs; ``extra`` keys replace the file's keys."""
    data = {
        "name": name,
        "description": "Toy sweep for tests.",
        "base": {"protocol": {"name": TOY}, "workload": {"clients": 3, "requests": requests},
                 "network": {"latency_model": "constant", "latency_ms": 10}},
        "grid": {"n": [4, 7], "network.latency_ms": [5, 10]},
        "seeds": seeds,
        "quick": {"seeds": 1, "grid": {"n": [4]}, "set": {"workload.requests": 50}},
        "plots": [
            {"name": "tput", "x": "n", "y": "metrics.throughput_rps", "series": "network.latency_ms",
             "xlabel": "replicas n", "ylabel": "throughput (req/s)"},
            {"name": "lat", "x": "network.latency_ms", "y": "metrics.latency_s.mean", "y_scale": 1000,
             "series": "n", "band": True, "hook": "bftlab.protocols.pbft.figures:pbft_latency_floor"},
        ],
    }
    data.update(extra)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def digests(store_dir: Path) -> dict[str, tuple[str, dict]]:
    """Run key -> (trace digest, metrics) of every stored report."""
    import json

    out = {}
    for report in sorted((store_dir / "runs").glob("*/report.json")):
        rep = json.loads(report.read_text())
        out[report.parent.name] = (rep["trace_digest"], rep["metrics"])
    return out
