"""The results store: one folder per sweep, one report per run, written atomically.

Layout of a sweep folder::

    <root>/<sweep name>/
      experiment.yaml        the experiment file as last swept
      manifest.json          sweep name, version, commit, command, and every run (key, axis values, seed)
      runs/<key>/spec.yaml   the run's resolved spec (replay: bftlab run spec.yaml)
      runs/<key>/report.json the runner's report plus a provenance section
      summary.csv            per grid point: mean and 95% confidence interval over seeds

``report.json`` is written last, through a temporary file and ``os.replace``, so
its presence means the run finished: an interrupted sweep (Ctrl-C, a killed
machine) resumes by running the runs whose report is missing. Keys come from
:func:`bftlab.experiments.sweep.run_key` (resolved spec + version), so a changed spec or a
new bftlab version is a new run, never a stale one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bftlab.reports.report import to_json

__all__ = ["Store", "mean_ci95", "source_commit", "summary_rows", "t_quantile_975", "write_csv"]

REPORT = "report.json"
SPEC = "spec.yaml"


def _atomic_write(path: Path, text: str) -> None:
    # A unique temp name per writer: two processes never share a half-written file.
    # The writer's pid in the name lets a later sweep remove what a killed one left.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())  # survive a killed machine, not only a killed process
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Store:
    """The folder of one sweep's results."""

    root: Path

    def run_dir(self, key: str) -> Path:
        return self.root / "runs" / key

    def has(self, key: str) -> bool:
        return (self.run_dir(key) / REPORT).is_file()

    def load(self, key: str) -> dict[str, Any]:
        return json.loads((self.run_dir(key) / REPORT).read_text(encoding="utf-8"))

    def save_spec(self, key: str, spec_yaml: str) -> Path:
        """Store a run's resolved spec alone (a failed run: so it can be replayed)."""
        d = self.run_dir(key)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write(d / SPEC, spec_yaml)
        return d / SPEC

    def save(self, key: str, report: Mapping[str, Any], spec_yaml: str) -> Path:
        """Store one finished run; the report is written last so its presence marks completion."""
        self.save_spec(key, spec_yaml)
        _atomic_write(self.run_dir(key) / REPORT, to_json(report))
        return self.run_dir(key) / REPORT

    def write_text(self, name: str, text: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / name, text)
        return self.root / name

    def remove_stale_temp(self) -> int:
        """Delete half-written files whose writer is no longer running (a sweep killed mid-write).

        Returns how many were removed. Files of live writers, such as another
        sweep on the same store, are left alone.
        """
        removed = 0
        for tmp in self.root.rglob(".*.tmp") if self.root.is_dir() else ():
            pid = tmp.name[: -len(".tmp")].rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def source_commit() -> str:
    """The git commit of the bftlab sources (``-dirty`` if changed), or ``unknown`` outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=10, check=False)
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=False)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ------------------------------------------------------------------ statistics
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
         2.042)


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile: error < 1e-4 for df > 30.
    z, v = 1.959963985, float(df)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3))


def mean_ci95(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its t-distribution 95% confidence interval (None for one value)."""
    k = len(values)
    if k == 0:
        raise ValueError("mean_ci95 of no values")
    mean = math.fsum(values) / k
    if k == 1:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (k - 1)
    return mean, t_quantile_975(k - 1) * math.sqrt(var / k)


# ------------------------------------------------------------------ summary
def _numeric_leaves(data: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(data, bool):
        out[prefix] = float(data)
    elif isinstance(data, (int, float)):
        out[prefix] = float(data)
    elif isinstance(data, dict):
        for k, v in data.items():
            _numeric_leaves(v, f"{prefix}.{k}" if prefix else str(k), out)


def report_values(report: Mapping[str, Any]) -> dict[str, float]:
    """The summarised numbers of one report: every numeric metric, the verdicts (1/0), run statistics."""
    out: dict[str, float] = {}
    _numeric_leaves(report.get("metrics", {}), "metrics", out)
    out["safety.ok"] = float(bool(report.get("safety", {}).get("ok")))
    out["liveness.ok"] = float(bool(report.get("liveness", {}).get("ok")))
    run = report.get("run", {})
    for k in ("sim_time_s", "events", "wall_s", "events_per_s"):
        if isinstance(run.get(k), (int, float)):
            out[f"run.{k}"] = float(run[k])
    return out


def summary_rows(axes: Sequence[str],
                 runs: Iterable[tuple[Sequence[tuple[str, Any]], Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per grid point (in first-seen order): axis values, seeds, and mean/ci95 of each value.

    ``runs`` yields ``(point, report)`` with ``point`` the run's ``(axis, value)`` pairs.
    A value missing in some seeds (latency of a run that committed nothing) is
    averaged over the seeds that have it; ``<value>.n`` says how many.
    """
    groups: dict[str, tuple[Sequence[tuple[str, Any]], list[Mapping[str, Any]]]] = {}
    for point, report in runs:
        ident = json.dumps(list(point), sort_keys=True)
        groups.setdefault(ident, (point, []))[1].append(report)
    rows = []
    for point, reports in groups.values():
        row: dict[str, Any] = {a: None for a in axes}
        row.update({path: value for path, value in point})
        row["seeds"] = len(reports)
        values: dict[str, list[float]] = {}
        for rep in reports:
            for k, v in report_values(rep).items():
                values.setdefault(k, []).append(v)
        for k in sorted(values):
            mean, ci = mean_ci95(values[k])
            row[f"{k}.mean"] = mean
            row[f"{k}.ci95"] = ci
            if len(values[k]) != len(reports):
                row[f"{k}.n"] = len(values[k])
        rows.append(row)
    return rows


def write_csv(rows: Sequence[Mapping[str, Any]], leading: Sequence[str]) -> str:
    """CSV text: the ``leading`` columns first, then every other column sorted; blanks for missing."""
    rank = {"mean": 0, "ci95": 1, "n": 2}
    # Group each value's columns together: x.mean, x.ci95, x.n.
    rest = sorted({k for row in rows for k in row} - set(leading),
                  key=lambda c: (c.rsplit(".", 1)[0], rank.get(c.rsplit(".", 1)[-1], 3), c))
    columns = [*leading, *rest]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(["" if row.get(c) is None else _cell(row[c]) for c in columns])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 9))
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
