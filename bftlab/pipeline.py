"""One run pipeline: every entry point runs a spec through :func:`execute`.

``bftlab run``, sweeps (local processes and Dask workers), the fuzzer,
``bftlab reproduce`` and the Python API all call :func:`execute`, which picks
the run path from the protocol's declared capabilities and the spec:

1. a protocol's own path (``ProtocolSpec.run``, PoW's relay kernel);
2. the real transport (``transport.kind: real``), a local cluster of processes;
3. the deterministic simulator (:mod:`bftlab.sim.runner`).

Each path returns the same report layout (:func:`bftlab.reports.report.make_report`).
Wall time is measured here, so protocol packages never read a clock.

For notebooks, :func:`run` takes a spec file, a spec dict or a loaded spec, with
``--set``-style overrides, and returns a :class:`RunReport`;
:func:`load_results` reads a sweep's stored reports as a pandas DataFrame
(``pip install 'bftlab[pandas]'``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bftlab.api import RunOptions
from bftlab.errors import UsageError
from bftlab.specs.registry import load_protocol
from bftlab.specs.spec import ExperimentSpec, load_spec, spec_from_dict

if TYPE_CHECKING:  # pandas is an optional extra
    import pandas

__all__ = ["RunReport", "execute", "load_results", "run"]


def execute(spec: ExperimentSpec, *, out_dir: Path | None = None,
            timeline_bin_s: float | None = None) -> dict[str, Any]:
    """Run one resolved spec on the path its protocol and transport call for; return the report.

    ``out_dir`` receives ``trace.jsonl`` when the spec keeps a trace (simulator);
    ``timeline_bin_s`` adds a ``timeline`` (accepted requests and mean latency
    per time bin) to the report.
    """
    protocol = load_protocol(spec.protocol.name)
    options = RunOptions(timeline_bin_s=timeline_bin_s)
    t0 = time.perf_counter()
    if protocol.run is not None:
        report = protocol.run(spec, options)
        wall = time.perf_counter() - t0
        report["run"]["wall_s"] = round(wall, 4)
        events = report["run"].get("events")
        report["run"]["events_per_s"] = round(events / wall) if events and wall > 0 else None
        return report
    if spec.transport.kind == "real":
        from bftlab.transport import run_real

        return run_real(spec, options=options)
    from bftlab.sim import runner  # imported here: validating a spec must not need the simulator

    return runner.run(spec, out_dir=out_dir, options=options)


# ------------------------------------------------------------------ notebook API
@dataclass(frozen=True)
class RunReport:
    """A run's report with typed accessors; ``data`` is the plain report (what report.json holds)."""

    data: Mapping[str, Any]

    @property
    def safe(self) -> bool:
        """True when every oracle found the run safe."""
        return bool(self.data["safety"]["ok"])

    @property
    def live(self) -> bool:
        """True when every issued request completed (as the oracles judge liveness)."""
        return bool(self.data["liveness"]["ok"])

    @property
    def violations(self) -> list[dict[str, Any]]:
        """The listed safety violations (at most 50; ``violation_count`` has the total)."""
        return list(self.data["safety"]["violations"])

    @property
    def violation_count(self) -> int:
        return int(self.data["safety"]["violation_count"])

    @property
    def committed(self) -> int:
        return int(self.data["metrics"]["committed"])

    @property
    def throughput_rps(self) -> float:
        return float(self.data["metrics"]["throughput_rps"])

    @property
    def latency_s(self) -> dict[str, float | None]:
        """mean, p50, p90, p99 and max request latency in seconds."""
        return dict(self.data["metrics"]["latency_s"])

    @property
    def trace_digest(self) -> str | None:
        return self.data.get("trace_digest")

    def oracle(self, name: str) -> dict[str, Any]:
        """One oracle's report section (``report["oracles"][name]``)."""
        return dict(self.data["oracles"][name])

    def summary(self) -> str:
        """The terminal summary ``bftlab run`` prints."""
        from bftlab.reports.report import summary_table

        return summary_table(self.data, color=False)


def run(
    spec: str | Path | Mapping[str, Any] | ExperimentSpec,
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    out_dir: str | Path | None = None,
) -> RunReport:
    """Validate and run ``spec`` (a YAML path, plain data or a loaded spec); return its report.

    ``overrides`` are ``KEY=VALUE`` strings as ``bftlab run --set`` takes them.
    With ``out_dir`` the report files are written there too, as ``bftlab run`` does.
    """
    if isinstance(spec, ExperimentSpec):
        if overrides:
            raise UsageError("overrides apply to a spec file or dict, not to an already loaded ExperimentSpec.")
        loaded = spec if seed is None else spec_from_dict({**_plain(spec), "seed": seed})
    elif isinstance(spec, Mapping):
        from bftlab.specs import schema

        data = schema.apply_overrides(dict(spec), overrides, lines={}, source="<dict>")
        if seed is not None:
            data["seed"] = seed
        loaded = spec_from_dict(data, "<dict>")
    else:
        loaded = load_spec(spec, overrides, seed)
    out = Path(out_dir) if out_dir is not None else None
    report = execute(loaded, out_dir=out)
    if out is not None:
        from bftlab.reports.report import write_outputs
        from bftlab.specs.spec import spec_to_yaml

        write_outputs(out, report, spec_to_yaml(loaded))
    return RunReport(report)


def _plain(spec: ExperimentSpec) -> dict[str, Any]:
    from bftlab.specs.spec import spec_to_dict

    return spec_to_dict(spec)


def load_results(experiment: str | Path, store: str | Path = Path("results") / "sweeps", *,
                 quick: bool = False) -> pandas.DataFrame:
    """A sweep's stored reports as a DataFrame: one row per run, one column per spec or report leaf.

    Columns are dotted key paths (``spec.n``, ``metrics.throughput_rps``,
    ``metrics.latency_s.p50``); the sweep's axes come first. Runs not yet in
    the store are left out (``bftlab sweep`` runs them). Needs pandas.
    """
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("load_results needs pandas: pip install 'bftlab[pandas]'.") from None
    from bftlab.experiments.store import Store
    from bftlab.experiments.sweep import load_sweep

    sweep = load_sweep(experiment, quick=quick)
    db = Store(Path(store) / sweep.name)
    rows: list[dict[str, Any]] = []
    for r in sweep.runs:
        if not db.has(r.key):
            continue
        report = db.load(r.key)
        row: dict[str, Any] = {name: value for name, value in r.point}
        row["seed"] = report["seed"]
        _flatten(report["spec"], "spec", row)
        _flatten({k: v for k, v in report.items() if k != "spec"}, "", row)
        rows.append(row)
    return pd.DataFrame(rows)


def _flatten(data: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(data, Mapping):
        for key, value in data.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(data, list) and len(data) > 8:
        out[prefix] = len(data)  # long lists (violations, timelines) become counts; report.json keeps them
    else:
        out[prefix] = data
