"""Turn a run's report dict into files and a terminal summary.

The runner returns a plain dict (keys below); this module never computes a
metric, it only lays out what the report holds. A result folder gets:

* ``report.json``: the report, keys sorted, floats that are not finite as null;
* ``report.md``: a readable report with verdicts, metrics and the replay command;
* ``spec.yaml``: the resolved spec, so ``bftlab run spec.yaml --seed N`` replays the run.

Report keys: ``spec``, ``seed``, ``version``, ``protocol``, ``transport``,
``trace_digest``, ``metrics`` (``committed``, ``issued``, ``throughput_rps``,
``latency_s`` {mean, p50, p90, p99, max}, ``messages`` {total, by_type},
``bytes_total``, ``view_changes``, ``dropped`` {reason: count}), ``safety``
(``ok``, ``violations`` [{kind, seq, replicas, requests, detail}]),
``liveness`` (``ok``, ``pending`` [{client, ts}], ``pending_count``) and ``run``
(``wall_s``, ``events``, ``events_per_s``, ``sim_time_s``).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bftlab import __version__ as VERSION
from bftlab.api import HASH_POWER, ReportSection

if TYPE_CHECKING:  # annotations only: make_report imports the oracles lazily, like the plug-ins it names
    from bftlab.oracles.base import OracleVerdict

__all__ = ["make_report", "replay_command", "report_markdown", "summary_table", "to_json", "write_outputs"]

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SPEC_YAML = "spec.yaml"

_MAX_VIOLATIONS = 100  # report.md lists this many; report.json has them all
_MAX_PENDING = 20


# ------------------------------------------------------------------ helpers
def _finite(value: Any) -> Any:
    """Replace NaN/inf (undefined latency of an empty run, say) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _ms(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "n/a"
    return f"{seconds * 1e3:,.2f} ms"


def _bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return "n/a"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _request(r: Any) -> str:
    """``client:ts`` for a request given as a pair or a {client, ts} mapping."""
    if isinstance(r, Mapping) and "client" in r and "ts" in r:
        return f"{r['client']}:{r['ts']}"
    if isinstance(r, (list, tuple)) and len(r) == 2:
        return f"{r[0]}:{r[1]}"
    return str(r)


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _dropped(dropped: Mapping[str, int]) -> str:
    total = sum(dropped.values())
    if not total:
        return "0"
    parts = ", ".join(f"{reason}: {count:,}" for reason, count in sorted(dropped.items()) if count)
    return f"{total:,} ({parts})"


def _title(report: Mapping[str, Any]) -> str:
    spec = report["spec"]
    return f"{spec['name']} (seed {report['seed']})"


def replay_command(spec_path: str | Path, seed: int) -> str:
    """The shell command that replays a run from its resolved spec."""
    return f"bftlab run {shlex.quote(str(spec_path))} --seed {seed}"


def make_report(
    *,
    spec: Mapping[str, Any],
    protocol: str,
    fault_model: str,
    transport: str,
    trace_digest: str | None,
    metrics: Mapping[str, Any],
    verdicts: Iterable[OracleVerdict],
    run: Mapping[str, Any],
    adversary: Mapping[str, Any] | None = None,
    fault_budget: Mapping[str, Any] | None = None,
    expected: Iterable[str] = (),
) -> dict[str, Any]:
    """The one report layout every run path returns (simulator, real transport, a protocol's own path).

    ``spec`` is the resolved spec as plain data; ``verdicts`` are the run's
    :class:`~bftlab.oracles.base.OracleVerdict` objects, combined here into
    ``safety``, ``liveness`` and one ``oracles`` section each (``expected``:
    oracles whose violations the protocol's consistency level allows). ``fault_budget``
    (see :mod:`bftlab.reports.budget`) is how many replicas were faulty at once.
    """
    from bftlab.oracles.base import combine

    safety, liveness, oracles = combine(verdicts, expected)
    report: dict[str, Any] = {
        "spec": dict(spec),
        "seed": spec["seed"],
        "version": VERSION,
        "protocol": protocol,
        "fault_model": fault_model,
        "transport": transport,
        "trace_digest": trace_digest,
        "metrics": dict(metrics),
        "safety": safety,
        "liveness": liveness,
        "oracles": oracles,
        "run": dict(run),
    }
    if adversary is not None:
        report["adversary"] = dict(adversary)
    if fault_budget is not None:
        report["fault_budget"] = dict(fault_budget)
    return report


# ------------------------------------------------------------------ outputs
def to_json(report: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, indent 2, non-finite floats as null."""
    return json.dumps(_finite(report), sort_keys=True, indent=2, allow_nan=False) + "\n"


def _verdicts(report: Mapping[str, Any]) -> list[str]:
    safety, liveness = report["safety"], report["liveness"]
    judges = ", ".join(f"`{name}`" for name in safety.get("judged_by", ())) or "the checker"
    count = safety.get("violation_count", len(safety["violations"]))
    if safety["ok"]:
        lines = [f"- **Safety: OK**: no violation found by {judges}."]
    else:
        listed = len(safety["violations"])
        shown = "listed below" if listed == count else f"the first {listed} listed below"
        lines = [f"- **Safety: VIOLATED**: {count:,} violation(s) found by {judges}, {shown}."]
    if liveness["ok"]:
        lines.append("- **Liveness: OK**: every issued request completed.")
    else:
        lines.append(f"- **Liveness: INCOMPLETE**: {_incomplete(liveness)}.")
    for name, count in (safety.get("expected") or {}).items():
        lines.append(f"- **`{name}`: violated, as expected** for this protocol's consistency level "
                     f"({count:,} violation(s); not counted against safety).")
    budget = report.get("fault_budget")
    if budget is not None:
        lines.append(f"- **Fault budget: {'held' if budget['held'] else 'EXCEEDED'}**: {_budget(budget)}.")
    return lines


def _incomplete(liveness: Mapping[str, Any]) -> str:
    """Why liveness failed: requests still pending, or the oracles that judged it (convergence, say)."""
    pending = liveness["pending_count"]
    others = [n for n in liveness.get("failed_by") or () if n != "smr"]
    parts = [f"{pending:,} request(s) still pending at the end"] if pending else []
    if others or not parts:
        parts.append("judged incomplete by " + ", ".join(f"`{n}`" for n in others or liveness.get("failed_by") or ()))
    return "; ".join(parts)


def _budget(budget: Mapping[str, Any]) -> str:
    """"at most 1 of f=1 replicas faulty at once (...)" for the verdicts and the terminal."""
    rec = [o["recovery_s"] for o in budget["outages"] if o["recovery_s"] is not None]
    slowest = f"; slowest recovery {_ms(max(rec))} after restart" if rec else ""
    never = sum(1 for o in budget["outages"] if o["restarted_at_s"] is not None and o["recovered_at_s"] is None)
    unrecovered = f"; {never} restart(s) never recovered" if never else ""
    peak = f"{budget['max_faulty']} faulty at once, f={budget['f']}"
    if not budget["held"]:
        peak += f" (replicas {budget['faulty_at_peak']} at {budget['exceeded_at_s']:g} s)"
    return f"{peak}, counting each crash until the replica recovered{slowest}{unrecovered}"


def _metrics_table(report: Mapping[str, Any]) -> list[str]:
    m = report["metrics"]
    lat = m["latency_s"]
    rows = [
        ("Committed / issued", f"{_num(m['committed'])} / {_num(m['issued'])}"),
        ("Throughput", f"{_num(m['throughput_rps'])} req/s"),
        ("Latency mean", _ms(lat["mean"])),
        ("Latency p50", _ms(lat["p50"])),
        ("Latency p90", _ms(lat["p90"])),
        ("Latency p99", _ms(lat["p99"])),
        ("Latency max", _ms(lat["max"])),
        ("Messages", _num(m["messages"]["total"])),
        ("Bytes sent", f"{_bytes(m['bytes_total'])} ({_num(m['bytes_total'])} bytes)"),
        ("View changes", _num(m["view_changes"])),
        ("Dropped messages", _dropped(m["dropped"])),
    ]
    return ["| Metric | Value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows)]


def _messages_table(report: Mapping[str, Any]) -> list[str]:
    msgs = report["metrics"]["messages"]
    by_type = msgs["by_type"]
    if not by_type:
        return ["No messages were sent."]
    total = msgs["total"] or sum(by_type.values()) or 1
    rows = sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        "| Type | Count | Share |",
        "|---|---:|---:|",
        *(f"| {_cell(name)} | {count:,} | {100 * count / total:.1f}% |" for name, count in rows),
    ]


def _violations(report: Mapping[str, Any]) -> list[str]:
    violations = report["safety"]["violations"]
    lines = ["| Kind | Seq | Replicas | Requests | Detail |", "|---|---:|---|---|---|"]
    for v in violations[:_MAX_VIOLATIONS]:
        replicas = ", ".join(str(r) for r in v.get("replicas") or ())
        requests = ", ".join(_request(r) for r in v.get("requests") or ())
        detail = _cell(v.get("detail", ""))
        lines.append(f"| {_cell(v.get('kind'))} | {v.get('seq')} | {replicas} | {_cell(requests)} | {detail} |")
    if len(violations) > _MAX_VIOLATIONS:
        lines += ["", f"... and {len(violations) - _MAX_VIOLATIONS:,} more in {REPORT_JSON}."]
    return lines


def _pending(report: Mapping[str, Any]) -> list[str]:
    liveness = report["liveness"]
    shown = ", ".join(f"`{_request(r)}`" for r in liveness["pending"][:_MAX_PENDING])
    more = liveness["pending_count"] - min(len(liveness["pending"]), _MAX_PENDING)
    return [f"Pending requests (client:ts): {shown}" + (f" and {more:,} more." if more > 0 else ".")]





def _faults(report: Mapping[str, Any]) -> str:
    """", f=1 (crash)" for the header; nothing when the budget is not a number of replicas (hash power)."""
    f, model = report["spec"].get("f"), report.get("fault_model")
    if f is None or model == HASH_POWER.name:
        return ""
    return f", f={f}" + (f" ({model})" if model else "")


def _sections(report: Mapping[str, Any]) -> list[tuple[ReportSection, Any]]:
    """The report sections plug-ins contribute, with their data: the protocol's, then each oracle's.

    Looked up by the names the report records; a plug-in that is no longer
    installed contributes nothing (the data stays in report.json).
    """
    from bftlab.errors import ConfigError
    from bftlab.specs.registry import load_oracles, load_protocol

    out: list[tuple[ReportSection, Any]] = []
    try:
        protocol = load_protocol(report["spec"]["protocol"]["name"])
    except (ConfigError, KeyError, TypeError):
        protocol = None
    if protocol is not None:
        out += [(s, report["metrics"][s.key]) for s in protocol.report_sections if s.key in report["metrics"]]
    for name, data in (report.get("oracles") or {}).items():
        try:
            (plugin,) = load_oracles([name])
        except (ConfigError, ValueError):
            continue
        if plugin.section is not None:
            out.append((plugin.section, data))
    return out


num = _num
"""A number as reports show it (thousands separators, n/a for missing); for plug-in sections."""
cell = _cell
"""A value made safe for one Markdown table cell; for plug-in sections."""


def _adversary(adv: Mapping[str, Any]) -> str:
    """One line: strategies, controlled replicas, what the network strategies did, each strategy's own counters."""
    parts = [", ".join(f"`{name}`" for name in adv.get("strategies", ())) or "none"]
    if adv.get("byzantine"):
        parts.append(f"Byzantine replicas {list(adv['byzantine'])}")
    net = {k: v for k, v in (adv.get("network") or {}).items() if v}
    if net:
        parts.append(", ".join(f"{k} {_num(v)}" for k, v in net.items()) + " messages")
    for name, counts in (adv.get("counters") or {}).items():
        parts.append(f"`{name}` " + ", ".join(f"{k} {_num(v)}" for k, v in counts.items()))
    return "; ".join(parts)


def report_markdown(report: Mapping[str, Any], spec_path: str | Path) -> str:
    """The Markdown report; ``spec_path`` is where the resolved spec was written."""
    spec, run = report["spec"], report["run"]
    out = [f"# {_title(report)}", ""]
    if spec.get("description"):
        out += [_cell(spec["description"]), ""]
    out += [
        "| | |",
        "|---|---|",
        f"| Protocol | {report['protocol']}, n={spec['n']}{_faults(report)} |",
        f"| Transport | {report['transport']} |",
        *([f"| Adversary | {_adversary(report['adversary'])} |"] if report.get("adversary") else []),
        f"| bftlab version | {report['version']} |",
        f"| Trace digest | `{report['trace_digest']}` |",
        "",
        "## Verdict",
        "",
        *_verdicts(report),
        "",
        "## Metrics",
        "",
        *_metrics_table(report),
        "",
        "## Messages by type",
        "",
        *_messages_table(report),
        "",
    ]
    for section, data in _sections(report):
        out += [f"## {section.title}", "", *section.markdown(data), ""]
    if report["safety"]["violations"]:
        out += ["## Safety violations", "", *_violations(report), ""]
    if report["liveness"]["pending_count"]:
        out += ["## Pending requests", "", *_pending(report), ""]
    out += [
        "## Run",
        "",
        "| | |",
        "|---|---:|",
        f"| Simulated time | {_num(run['sim_time_s'], 3)} s |",
        f"| Events | {_num(run['events'])} |",
        f"| Wall time | {_num(run['wall_s'], 2)} s |",
        f"| Events per second | {_num(run['events_per_s'], 0)} |",
        "",
        "## Replay",
        "",
        "```sh",
        replay_command(spec_path, report["seed"]),
        "```",
        "",
    ]
    return "\n".join(out)


def _write(path: Path, text: str) -> None:
    # Write then rename, so an interrupted write never leaves a half file behind.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_outputs(out_dir: str | Path, report: Mapping[str, Any], spec_yaml: str) -> Path:
    """Write report.json, report.md and spec.yaml into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / SPEC_YAML, spec_yaml)
    _write(out / REPORT_JSON, to_json(report))
    _write(out / REPORT_MD, report_markdown(report, out / SPEC_YAML))
    return out


# ------------------------------------------------------------------ terminal
_GREEN, _RED, _YELLOW, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[0m"


def summary_table(report: Mapping[str, Any], *, color: bool | None = None) -> str:
    """A compact aligned table for the terminal; verdicts coloured only on a TTY (by default)."""
    if color is None:
        color = sys.stdout.isatty()

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    spec, m, run = report["spec"], report["metrics"], report["run"]
    safety, liveness = report["safety"], report["liveness"]
    lat = m["latency_s"]
    count = safety.get("violation_count", len(safety["violations"]))
    safe = paint("OK", _GREEN) if safety["ok"] else paint(f"VIOLATED ({count:,})", _RED)
    if safety.get("expected"):
        safe += " (" + ", ".join(f"{n} violated as expected: {c:,}" for n, c in safety["expected"].items()) + ")"
    others = [n for n in liveness.get("failed_by") or () if n != "smr"]
    why = ", ".join([f"{liveness['pending_count']:,} pending"] * bool(liveness["pending_count"]) + others)
    live = paint("OK", _GREEN) if liveness["ok"] else paint(f"INCOMPLETE ({why})", _YELLOW)
    latency = "  ".join(f"{k} {_ms(lat[k])}" for k in ("mean", "p50", "p99", "max"))
    rows = [
        ("safety", safe),
        ("liveness", live),
        ("committed", f"{_num(m['committed'])} / {_num(m['issued'])} issued"),
        ("throughput", f"{_num(m['throughput_rps'])} req/s"),
        ("latency", latency),
        ("messages", f"{_num(m['messages']['total'])} ({_bytes(m['bytes_total'])})"),
        ("view changes", _num(m["view_changes"])),
        ("dropped", _dropped(m["dropped"])),
        ("sim time", f"{_num(run['sim_time_s'], 3)} s"),
        ("wall time", f"{_num(run['wall_s'], 2)} s ({_num(run['events'])} events, {_num(run['events_per_s'], 0)}/s)"),
    ]
    sections = _sections(report)
    extra = [row for section, data in sections for row in section.terminal(data)]
    replaced = any(getattr(section, "replaces_generic", False) for section, _ in sections)
    rows = [rows[0], *extra, *rows[-2:]] if replaced else [*rows[:-2], *extra, *rows[-2:]]
    budget = report.get("fault_budget")
    if budget is not None:
        word = paint("held", _GREEN) if budget["held"] else paint("EXCEEDED", _RED)
        rows.insert(2, ("fault budget", f"{word}: {_budget(budget)}"))
    if report.get("adversary"):
        rows.insert(1 if replaced else 2, ("adversary", _adversary(report["adversary"]).replace("`", "")))
    width = max(len(k) for k, _ in rows)
    faults = _faults(report).replace(",", "")
    head = f"{_title(report)}  {report['protocol']} n={spec['n']}{faults}  [{report['transport']}]"
    return "\n".join([head, *(f"  {k.ljust(width)}  {v}" for k, v in rows)])
