"""How a SWIM run's ``metrics.swim`` is shown in report.md and the terminal summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bftlab.reports.report import num as _num


def _ms(d: Mapping[str, Any], digits: int = 3) -> str:
    if d.get("mean") is None:
        return "none"
    se = "" if d.get("se") is None else f" ± {_num(d['se'], digits)}"
    return f"{_num(d['mean'], digits)}{se} (n={d['count']})"


def _period_rows(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    th = s["theory"]
    return [("Model", f"synchronous periods, {s['n']} members, {s['failed']} failed, loss {_num(s['loss'], 3)}, "
                      f"{s['trials']} trials (mean ± s.e.)"),
            ("First detection (periods)", _ms(s["detection_periods"])),
            ("Theory: 1 / (1 - (1 - 1/(n-1))^m)", _num(th["detection_periods"], 4)),
            ("Theory: 1 / (1 - e^-q_f)", _num(th["detection_periods_limit"], 4)),
            ("Dissemination to every live member (periods)", _ms(s["dissemination_periods"])),
            ("Theory: log3 n (push-pull, no loss)", _num(th["dissemination_periods_push_pull"], 3)),
            ("Trials that informed everyone", _num(s["informed_all"], 4)),
            ("Residue (share never informed)", _ms(s["residue"], 5)),
            ("Retransmission limit per member", str(s["retransmit_limit"]))]


def _rows(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    if s.get("engine") == "periods":
        return _period_rows(s)
    fp, load, th = s["false_positives"], s["load"], s["theory"]
    rows = [("Group", f"{s['n']} members, T = {_num(s['period_s'], 3)} s, k = {s['k']}, loss {_num(s['loss'], 3)}, "
                      f"suspicion {'on' if s['suspicion'] else 'off'}"),
            ("First detection (s, mean ± s.e.)", _ms(s["detection_s"])),
            ("First detection (periods)", _ms(s["detection_periods"])),
            ("Theory: periods to first detection", _num(th["detection_periods"], 3)),
            ("Until every live member holds it dead (s)", _ms(s["all_dead_s"])),
            ("Crashed members not dead everywhere at the end", str(s["undetected_at_end"] or "none")),
            ("Failed probes of live members", f"{fp['failed_live_probes']} of {fp['live_probes']}"
                                              f" ({_num(fp['failed_probe_rate'], 4)})"),
            ("Theory: basic SWIM false-positive probability", _num(th["false_positive_probability"], 4)),
            ("False suspicions / false deaths", f"{fp['false_suspicions']} / {fp['false_deaths']}"),
            ("Live members held dead at the end", str(fp["live_held_dead_at_end"] or "none")),
            ("Messages per member per period", _num(load["per_member_period"], 3)),
            ("Theory: messages per member per period", _num(th["message_load"], 3))]
    return rows


@dataclass(frozen=True)
class SwimSection:
    """``metrics.swim``: detection times, false positives and message load, with the paper's closed forms."""

    key: str = "swim"
    title: str = "SWIM membership"

    def markdown(self, data: Any) -> list[str]:
        return ["| Metric | Value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in _rows(data)), ""]

    def terminal(self, data: Any) -> list[tuple[str, str]]:
        return _rows(data)


SECTION = SwimSection()
