"""Rising-case warnings (案件风险管理): which case types are rising where, week by week.

Counts are weekly (Monday 00:00 local time) per area and case type. A case is a grid report
(its type: the category of its first event; counted once per report_id, in the week of its first
event) or an incident (its type: the rule_id; CONFIRMED versions only, counted once per
incident_id, in the week of its first_event_time). The baseline of week W is the same area and
type's counts over the ``baseline_weeks`` (15) weeks before W, weeks without data counting 0.

Week W is **rising** when all hold:

- history exists: the area and type's first counted week is at least ``min_history_weeks`` (4)
  weeks before W;
- count >= ``min_count`` (5);
- P(X >= count) < ``p_value_below`` (0.01) for X ~ Poisson(max(baseline mean, ``mean_floor``)).

A RiskWarning is MEDIUM, or HIGH when p < ``high_below`` (0.0001). While W runs, the first time
its count makes it rising an early warning (``final`` false) goes out, once per area, type and
week, never withdrawn; when W closes, a final warning goes out if W is rising then. The final
warnings depend only on the inputs accepted, not on their order. docs/analytics.md.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hub.core.analytics.areas import Area, AreaDirectory
from hub.core.analytics.config import AnalyticsConfig
from hub.core.analytics.periods import LateInput, period_of, shift_weeks, weeks_between
from hub.model.events import Event
from hub.model.incidents import CONFIRMED, Incident, Route

GRID_REPORT, INCIDENT = "grid_report", "incident"
#: (area, case source, case type): one series of weekly counts
SeriesKey = tuple[Area, str, str]


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), exact to double precision (no cancellation for small p).

    Above the mean the tail is summed upwards from ``k`` (terms fall geometrically); at or below
    it, 1 − P(X < k), which is then not small.
    """
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_mean = math.log(mean)

    def term(i: int) -> float:
        return math.exp(-mean + i * log_mean - math.lgamma(i + 1))

    if k > mean:
        terms = [term(k)]
        i = k
        while terms[-1] > 1e-18 * terms[0]:
            i += 1
            terms.append(terms[-1] * mean / i)
        return min(1.0, math.fsum(terms))
    return max(0.0, 1.0 - math.fsum(term(i) for i in range(k)))


def warning_id(area: Area, source: str, case_type: str, week_start: int) -> str:
    """The same id for a week's early and final warning: ``risk-`` + 32 hex."""
    text = f"{area.level}\x1f{area.code}\x1f{source}\x1f{case_type}\x1f{week_start}"
    return f"risk-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


@dataclass(frozen=True, slots=True)
class RiskWarning:
    """One rising-case warning (Avro hub.RiskWarning)."""

    warning_id: str
    area_level: str
    area_code: str
    case_source: str  # grid_report or incident
    case_type: str  # the report category or the incident rule_id
    week_start: int
    week_end: int
    week_label: str
    count: int
    baseline_counts: tuple[int, ...]  # the baseline weeks' counts, oldest first
    baseline_mean: float
    mean_used: float  # max(baseline_mean, mean_floor): the Poisson mean of the test
    p_value: float
    risk_level: str  # MEDIUM or HIGH
    route: Route  # the department that owns the area
    final: bool
    emitted_time: int  # event time: the input that crossed the line, or the week's end

    def to_record(self) -> dict[str, Any]:
        """The warning as a ``risk_warning`` Avro record."""
        return {
            "warning_id": self.warning_id, "area_level": self.area_level,
            "area_code": self.area_code, "case_source": self.case_source,
            "case_type": self.case_type, "week_start": self.week_start,
            "week_end": self.week_end, "week_label": self.week_label, "count": self.count,
            "baseline_counts": list(self.baseline_counts), "baseline_mean": self.baseline_mean,
            "mean_used": self.mean_used, "p_value": self.p_value,
            "risk_level": self.risk_level, "route": self.route.to_record(),
            "final": self.final, "emitted_time": self.emitted_time,
        }


@dataclass(slots=True)
class _Case:
    """One counted case: where and in which week it counts (from its first event)."""

    first: tuple[int, str]  # (event time, event id) of its first event
    case_type: str
    areas: tuple[Area, ...]
    week: int
    last: int  # the latest event time seen of the case
    version: int = 0  # an incident's: the highest version counted decides where it counts


class RiskWarningEngine:
    """Event-time accumulator of weekly case counts: ``add_report``/``add_incident`` return
    early warnings, ``close_until`` the final ones of the weeks the watermark closes."""

    def __init__(self, config: AnalyticsConfig, directory: AreaDirectory) -> None:
        self.config = config
        self.risk = config.risk
        self.directory = directory
        self.zone = config.zone
        self.watermark: int | None = None
        self._counts: dict[SeriesKey, dict[int, int]] = {}  # week start -> count
        self._first_week: dict[SeriesKey, int] = {}
        self._reports: dict[str, _Case] = {}  # cases of weeks still open
        self._incidents: dict[str, _Case] = {}
        self._done_reports: dict[str, int] = {}  # counted in a closed week: id -> last event time
        self._warned: set[tuple[SeriesKey, int]] = set()  # early warnings given, open weeks

    # -- inputs --------------------------------------------------------------------------------

    def _check_late(self, t: int) -> None:
        if self.watermark is not None and t < self.watermark:
            raise LateInput(f"event time {t} is behind the analytics watermark {self.watermark}: "
                            "its week is closed", field="event_time")

    def add_report(self, event: Event) -> list[RiskWarning]:
        """Count a grid report (once per report_id); early warnings it raises."""
        if event.kind != GRID_REPORT:
            return []
        self._check_late(event.event_time)
        report_id = str(event.fields.get("report_id") or "")
        if report_id in self._done_reports:
            self._done_reports[report_id] = max(self._done_reports[report_id], event.event_time)
            return []
        first = (event.event_time, event.event_id)
        case = self._reports.get(report_id)
        last = max(event.event_time, case.last) if case is not None else event.event_time
        if case is not None and case.first <= first:
            case.last = last
            return []
        if case is not None:
            self._uncount(GRID_REPORT, case)
        case = self._reports[report_id] = _Case(
            first, str(event.fields.get("category") or "OTHER"),
            self.directory.report_areas(event),
            period_of(event.event_time, "WEEK", self.zone).start, last)
        return self._count(GRID_REPORT, case)

    def add_incident(self, incident: Incident) -> list[RiskWarning]:
        """Count a CONFIRMED incident (once) where its highest version places it; early
        warnings it raises. The first version taken decided before: two versions with
        different building snapshots counted in whichever area's came first (an outside
        probe)."""
        if incident.status != CONFIRMED:
            return []
        self._check_late(incident.first_event_time)
        held = self._incidents.get(incident.incident_id)
        if held is not None:
            if incident.version <= held.version:
                return []
            self._uncount(INCIDENT, held)
        case = self._incidents[incident.incident_id] = _Case(
            (incident.first_event_time, incident.incident_id), incident.rule_id,
            self.directory.incident_areas(incident),
            period_of(incident.first_event_time, "WEEK", self.zone).start,
            incident.first_event_time, incident.version)
        return self._count(INCIDENT, case)

    def _uncount(self, source: str, case: _Case) -> None:
        for area in case.areas:
            series = self._counts[(area, source, case.case_type)]
            series[case.week] -= 1
            if not series[case.week]:
                del series[case.week]
                if not series:  # as if never counted: the same state in either order
                    del self._counts[(area, source, case.case_type)]
                    self._first_week.pop((area, source, case.case_type), None)

    def _count(self, source: str, case: _Case) -> list[RiskWarning]:
        out = []
        for area in case.areas:
            key = (area, source, case.case_type)
            series = self._counts.setdefault(key, {})
            series[case.week] = series.get(case.week, 0) + 1
            first = self._first_week.get(key)
            if first is None or case.week < first:
                self._first_week[key] = case.week
            if not self.risk.early_warnings or (key, case.week) in self._warned:
                continue
            warning = self._evaluate(key, case.week, final=False, when=case.first[0])
            if warning is not None:
                self._warned.add((key, case.week))
                out.append(warning)
        return out

    # -- the test --------------------------------------------------------------------------------

    def baseline(self, key: SeriesKey, week: int) -> list[int]:
        """The counts of the ``baseline_weeks`` weeks before ``week``, oldest first (0: none)."""
        series = self._counts.get(key, {})
        n = self.risk.baseline_weeks
        return [series.get(shift_weeks(week, -i, self.zone), 0) for i in range(n, 0, -1)]

    def has_history(self, key: SeriesKey, week: int) -> bool:
        """The series' first counted week is at least ``min_history_weeks`` before ``week``."""
        first = self._first_week.get(key)
        return first is not None and weeks_between(first, week, self.zone) >= (
            self.risk.min_history_weeks)

    def _evaluate(self, key: SeriesKey, week: int, *, final: bool, when: int
                  ) -> RiskWarning | None:
        count = self._counts.get(key, {}).get(week, 0)
        if count < self.risk.min_count or not self.has_history(key, week):
            return None
        counts = self.baseline(key, week)
        mean = sum(counts) / len(counts)
        used = max(mean, self.risk.mean_floor)
        p = poisson_tail(count, used)
        if p >= self.risk.p_value_below:
            return None
        area, source, case_type = key
        period = period_of(week, "WEEK", self.zone)
        return RiskWarning(
            warning_id(area, source, case_type, week), area.level, area.code, source, case_type,
            period.start, period.end, period.label, count, tuple(counts), mean, used, p,
            "HIGH" if p < self.risk.high_below else "MEDIUM", area.route(), final, when)

    # -- closing weeks ---------------------------------------------------------------------------

    def close_until(self, watermark: int) -> list[RiskWarning]:
        """Final warnings of every week ending at or before ``watermark`` that is rising."""
        previous = self.watermark
        if previous is not None and watermark <= previous:
            return []
        self.watermark = watermark
        if previous is not None and watermark < period_of(previous, "WEEK", self.zone).end:
            return []  # no week ended since the last call: nothing closes, nothing to forget
        out: list[RiskWarning] = []
        closing = sorted(
            ((week, key) for key, series in self._counts.items() for week in series
             if self._closes(week, previous, watermark)),
            key=lambda item: (item[0], item[1][0].sort_key, item[1][1], item[1][2]))
        for week, key in closing:
            end = period_of(week, "WEEK", self.zone).end
            warning = self._evaluate(key, week, final=True, when=end)
            if warning is not None:
                out.append(warning)
        self._forget(watermark)
        return out

    def _closes(self, week: int, previous: int | None, watermark: int) -> bool:
        end = period_of(week, "WEEK", self.zone).end
        return end <= watermark and (previous is None or end > previous)

    def _forget(self, watermark: int) -> None:
        open_week = period_of(watermark, "WEEK", self.zone).start
        self._warned = {(k, w) for k, w in self._warned if w >= open_week}
        for iid in [i for i, c in self._incidents.items() if c.week < open_week]:
            del self._incidents[iid]
        for rid in [r for r, c in self._reports.items() if c.week < open_week]:
            self._done_reports[rid] = self._reports.pop(rid).last
        horizon = watermark - self.config.forget_reports_after_ms
        for rid in [r for r, last in self._done_reports.items() if last < horizon]:
            del self._done_reports[rid]
        oldest = shift_weeks(open_week, -self.risk.baseline_weeks, self.zone)
        for key in list(self._counts):
            series = self._counts[key]
            for week in [w for w in series if w < oldest]:
                del series[week]
            if not series:
                del self._counts[key]

    def series(self) -> Iterator[tuple[SeriesKey, dict[int, int]]]:
        """Every series and its weekly counts still held (for reports and tests)."""
        yield from self._counts.items()
