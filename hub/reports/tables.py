"""The reports' records, selection, tables and chart data: pure (text in, lines out).

The input is what ``hub analytics --out DIR`` writes: one JSON interchange line per record, with
a leading ``"kind"`` and the fields of schemas/avro/DisputeFunnel.avsc, RiskWarning.avsc and
SafetyIndex.avsc. Nothing here reads a file or imports matplotlib: ``hub/commands/report_cmd.py``
opens the files and ``hub/reports/charts.py`` draws what ``funnel_by_period``, ``risk_series``
and ``safety_series`` return.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hub.codec import load_codec
from hub.codec.validate import conform
from hub.model.errors import ValidationError
from hub.model.incidents import ROUTE_LEVELS

Record = Mapping[str, Any]

LEVELS: tuple[str, ...] = ROUTE_LEVELS
DISPUTE_PERIODS: tuple[str, ...] = ("DAY", "WEEK", "MONTH", "YEAR")
#: the one period risk warnings (weekly) and safety indexes (daily) have
NATURAL_PERIOD: dict[str, str] = {"risk": "WEEK", "safety": "DAY"}


@dataclass(frozen=True)
class ReportKind:
    """One analytics output ``hub report`` can read: where it is, and the fields it needs from it
    (checked first, so a wrong file fails with a clear message)."""

    name: str                  # the command's word: disputes, risk, safety
    file: str                  # the file hub analytics writes
    kind: str                  # the interchange lines' "kind"
    required: tuple[str, ...]  # fields the table and chart read


REPORTS: dict[str, ReportKind] = {
    "disputes": ReportKind("disputes", "disputes.jsonl", "dispute_funnel", (
        "area_level", "area_code", "period", "period_start", "period_label", "reported",
        "accepted", "resolved", "unresolved", "in_progress", "success_rate",
        "median_hours_to_resolve")),
    "risk": ReportKind("risk", "risk_warnings.jsonl", "risk_warning", (
        "area_level", "area_code", "case_source", "case_type", "week_start", "week_label",
        "count", "baseline_counts", "baseline_mean", "p_value", "risk_level", "final")),
    "safety": ReportKind("safety", "safety_index.jsonl", "safety_index", (
        "area_level", "area_code", "day_start", "day_label", "index", "incidents_critical",
        "incidents_high", "incidents_medium", "incidents_low", "open_disputes", "households",
        "households_used")),
}


class BadLine(ValueError):
    """A line of the input that is not a record of the expected kind."""

    def __init__(self, lineno: int, detail: str) -> None:
        super().__init__(f"line {lineno}: {detail}")
        self.lineno = lineno
        self.detail = detail


def parse_records(lines: Iterable[str], report: ReportKind) -> list[dict[str, Any]]:
    """The records of ``lines`` (blank lines skipped); BadLine on the first line that is not one."""
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise BadLine(lineno, f"not JSON ({exc})") from exc
        if not isinstance(rec, dict):
            raise BadLine(lineno, "not a JSON object")
        if rec.get("kind") != report.kind:
            raise BadLine(lineno, f"kind {rec.get('kind')!r}, expected {report.kind!r}")
        missing = [f for f in report.required if f not in rec]
        if missing:
            raise BadLine(lineno, f"{report.kind} without {', '.join(missing)}")
        try:  # each field of the type its schema says: a table formats what it reads
            conform(_schema(report.kind), {k: v for k, v in rec.items() if k != "kind"},
                    from_json=True)
        except ValidationError as exc:
            raise BadLine(lineno, str(exc)) from None
        records.append(rec)
    return records


def _schema(kind: str) -> Mapping[str, Any]:
    return load_codec().schema(kind)


def select(report: str, records: Iterable[Record], *, level: str, area: str | None = None,
           period: str | None = None, early: bool = False) -> list[Record]:
    """The records of one level (and one area code, if given).

    disputes: of ``period`` (MONTH when None); risk: final warnings only unless ``early``;
    safety: all days.
    """
    out = [r for r in records
           if r["area_level"] == level and (area is None or r["area_code"] == area)]
    if report == "disputes":
        wanted = period or "MONTH"
        out = [r for r in out if r["period"] == wanted]
    elif report == "risk" and not early:
        out = [r for r in out if r["final"]]
    return out


def levels_of(records: Iterable[Record], area: str) -> list[str]:
    """The levels at which ``area`` is a code in ``records`` (for a 'did you mean' hint)."""
    found = {r["area_level"] for r in records if r["area_code"] == area}
    return [lv for lv in LEVELS if lv in found]


# --- tables -------------------------------------------------------------------------------

def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]],
                 right: Iterable[int] = ()) -> list[str]:
    """Aligned columns, two spaces apart: text left, the ``right`` columns (numbers) right."""
    body = [list(r) for r in rows]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in body])
              for i, h in enumerate(headers)]
    right_cols = set(right)

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - display_width(cell))
            parts.append(pad + cell if i in right_cols else cell + pad)
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(r) for r in body]


def _num(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


DISPUTE_HEADERS = ("period", "area", "reported", "accepted(受理)", "resolved(调处成功)",
                   "unresolved", "in_progress", "success_%", "median_h")


def disputes_table(records: Iterable[Record]) -> list[str]:
    """One row per period and area, in time order then by area code."""
    rows = [[r["period_label"], r["area_code"], str(r["reported"]), str(r["accepted"]),
             str(r["resolved"]), str(r["unresolved"]), str(r["in_progress"]),
             _num(r["success_rate"], ".1f", 100.0), _num(r["median_hours_to_resolve"], ".1f")]
            for r in sorted(records, key=lambda r: (r["period_start"], r["area_code"]))]
    return format_table(DISPUTE_HEADERS, rows, right=range(2, 9))


RISK_HEADERS = ("week", "area", "source", "case_type", "count", "baseline_mean", "p_value",
                "level", "warning")


def risk_table(records: Iterable[Record]) -> list[str]:
    """One row per warning, by week, area, source and type; an early one before its final."""
    rows = [[r["week_label"], r["area_code"], r["case_source"], r["case_type"], str(r["count"]),
             f"{r['baseline_mean']:.2f}", f"{r['p_value']:.2e}", r["risk_level"],
             "final" if r["final"] else "early"]
            for r in sorted(records, key=lambda r: (r["week_start"], r["area_code"],
                                                    r["case_source"], r["case_type"],
                                                    bool(r["final"])))]
    return format_table(RISK_HEADERS, rows, right=(4, 5, 6))


SAFETY_HEADERS = ("day", "area", "index", "critical", "high", "medium", "low", "open_disputes",
                  "households", "used")


def safety_table(records: Iterable[Record]) -> list[str]:
    """One row per day and area, in time order then by area code. ``used``: the households the
    penalty was divided by (at least the floor): without it a row's index could not be
    recomputed from the table (an outside probe)."""
    rows = [[r["day_label"], r["area_code"], f"{r['index']:.1f}", str(r["incidents_critical"]),
             str(r["incidents_high"]), str(r["incidents_medium"]), str(r["incidents_low"]),
             str(r["open_disputes"]), str(r["households"]), str(r["households_used"])]
            for r in sorted(records, key=lambda r: (r["day_start"], r["area_code"]))]
    return format_table(SAFETY_HEADERS, rows, right=range(2, 10))


TABLES = {"disputes": disputes_table, "risk": risk_table, "safety": safety_table}


# --- chart data -----------------------------------------------------------------------------

FUNNEL_STAGES: tuple[str, ...] = ("reported", "accepted", "resolved", "unresolved")


def funnel_by_period(records: Iterable[Record]) -> list[tuple[str, dict[str, int]]]:
    """Per period label (time order): the funnel's stages summed over the records' areas.

    The areas of one level do not overlap, so the sum is the funnel of their union.
    """
    sums: dict[tuple[int, str], dict[str, int]] = {}
    for r in records:
        acc = sums.setdefault((r["period_start"], r["period_label"]),
                              dict.fromkeys(FUNNEL_STAGES, 0))
        for stage in FUNNEL_STAGES:
            acc[stage] += int(r[stage])
    return [(label, acc) for (_, label), acc in sorted(sums.items())]


def week_shift(label: str, weeks: int) -> str:
    """The ISO week label ``weeks`` weeks after ``label`` (2026-W02 + -1 = 2026-W01)."""
    year, week = label.split("-W")
    monday = date.fromisocalendar(int(year), int(week), 1) + timedelta(weeks=weeks)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


@dataclass
class RiskSeries:
    """One warned (area, source, case type): its weekly counts as far as its warnings tell."""

    area_level: str
    area_code: str
    case_source: str
    case_type: str
    weeks: list[str] = field(default_factory=list)       # consecutive ISO weeks
    counts: list[int | None] = field(default_factory=list)  # None: no record tells it
    baseline_mean: list[float | None] = field(default_factory=list)  # rolling, where known
    warned: list[tuple[int, str, bool]] = field(default_factory=list)  # (week index, level, final)

    @property
    def title(self) -> str:
        """The chart title: area and case type."""
        return f"{self.area_level} {self.area_code} {self.case_source}:{self.case_type}"

    def band(self) -> tuple[list[float | None], list[float | None]]:
        """baseline mean - 2·sqrt(mean) (at least 0) and + 2·sqrt(mean), per week."""
        low = [None if m is None else max(0.0, m - 2 * math.sqrt(m)) for m in self.baseline_mean]
        high = [None if m is None else m + 2 * math.sqrt(m) for m in self.baseline_mean]
        return low, high


def risk_series(records: Iterable[Record]) -> list[RiskSeries]:
    """The weekly counts of each warned series, rebuilt from its warnings' baseline_counts.

    A warning carries the 15 counts before its week and its own count, so the weeks the chart
    shows are those its warnings cover; a week no warning covers is None (a gap). A final
    warning's figures win over an early one's (which were counted while the week ran). A warned
    week's baseline mean is its record's ``baseline_mean``; another week's is computed from the
    rebuilt counts where all its baseline weeks are known, else None.
    """
    groups: dict[tuple[str, str, str, str], list[Record]] = {}
    for r in records:
        key = (r["area_level"], r["area_code"], r["case_source"], r["case_type"])
        groups.setdefault(key, []).append(r)
    out: list[RiskSeries] = []
    for key in sorted(groups, key=lambda k: (LEVELS.index(k[0]) if k[0] in LEVELS else 99, k)):
        recs = sorted(groups[key], key=lambda r: (bool(r["final"]), r["week_start"]))
        known: dict[str, int] = {}
        n_baseline = max(len(r["baseline_counts"]) for r in recs) or 15
        for r in recs:  # early ones first: the final ones overwrite them
            base = list(r["baseline_counts"])
            for i, count in enumerate(base):
                known[week_shift(r["week_label"], i - len(base))] = int(count)
            known[r["week_label"]] = int(r["count"])
        first = min(known, key=_week_key)
        last = max(known, key=_week_key)
        weeks = [first]
        while weeks[-1] != last:
            weeks.append(week_shift(weeks[-1], 1))
        counts = [known.get(w) for w in weeks]
        means: list[float | None] = []
        for i in range(len(weeks)):
            window = counts[i - n_baseline:i] if i >= n_baseline else []
            means.append(None if len(window) < n_baseline or any(c is None for c in window)
                         else sum(c or 0 for c in window) / n_baseline)
        index = {w: i for i, w in enumerate(weeks)}
        for r in recs:  # a warned week's own baseline mean is in its record
            means[index[r["week_label"]]] = float(r["baseline_mean"])
        warned = sorted({(index[r["week_label"]], str(r["risk_level"]), bool(r["final"]))
                         for r in recs})
        out.append(RiskSeries(*key, weeks=weeks, counts=counts, baseline_mean=means,
                              warned=warned))
    return out


def _week_key(label: str) -> tuple[int, int]:
    year, week = label.split("-W")
    return int(year), int(week)


def safety_series(records: Iterable[Record]) -> dict[str, list[tuple[str, float]]]:
    """Per area code (sorted): (day label, index) in time order."""
    series: dict[str, list[tuple[int, str, float]]] = {}
    for r in records:
        series.setdefault(r["area_code"], []).append(
            (r["day_start"], r["day_label"], float(r["index"])))
    return {area: [(label, value) for _, label, value in sorted(points)]
            for area, points in sorted(series.items())}
