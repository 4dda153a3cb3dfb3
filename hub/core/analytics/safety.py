"""The safety index (平安指数): per area and day, 0–100, from incidents and open disputes.

For an area and a local day::

    weighted = w_CRITICAL·n_CRITICAL + w_HIGH·n_HIGH + w_MEDIUM·n_MEDIUM + w_LOW·n_LOW
               + w_dispute·open_disputes                   (summed left to right, in this order)
    households_used = max(households, households_floor)
    penalty = weighted · per_households / households_used
    index = max(0, 100 − penalty)

``n_<level>``: the area's CONFIRMED incidents whose first_event_time falls on the day, each counted
once, at the highest risk level among its CONFIRMED versions. ``open_disputes``: the area's
disputes (grid reports of category DISPUTE) with a first event before the day's end whose latest
status by the day's end (by event time) is neither RESOLVED nor UNRESOLVED. ``households``: the
sum of the registry's households over the area's buildings; ``households_floor`` stands in when
the registry knows fewer (none, for a grid seen only in reports). Every term is in the record
(:func:`index_of` recomputes it). The weights are >= 0, so an incident never raises an index.
docs/analytics.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.core.analytics.areas import Area, AreaDirectory
from hub.core.analytics.config import AnalyticsConfig
from hub.core.analytics.disputes import DisputeHistory, is_dispute
from hub.core.analytics.periods import LateInput, Period, day_starts, period_of
from hub.model.events import Event
from hub.model.incidents import CONFIRMED, Incident, risk_rank

#: Risk levels in the order of the weighted sum (and of the record's fields).
SUM_ORDER: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True, slots=True)
class SafetyIndex:
    """One area's safety index for one day, with every term of it (Avro hub.SafetyIndex)."""

    area_level: str
    area_code: str
    day_start: int
    day_end: int
    day_label: str
    incidents_critical: int
    incidents_high: int
    incidents_medium: int
    incidents_low: int
    open_disputes: int
    weight_critical: float
    weight_high: float
    weight_medium: float
    weight_low: float
    weight_open_dispute: float
    households: int
    households_used: int
    per_households: int
    penalty: float
    index: float

    def to_record(self) -> dict[str, Any]:
        """The row as a ``safety_index`` Avro record."""
        return {
            "area_level": self.area_level, "area_code": self.area_code,
            "day_start": self.day_start, "day_end": self.day_end, "day_label": self.day_label,
            "incidents_critical": self.incidents_critical,
            "incidents_high": self.incidents_high, "incidents_medium": self.incidents_medium,
            "incidents_low": self.incidents_low, "open_disputes": self.open_disputes,
            "weight_critical": self.weight_critical, "weight_high": self.weight_high,
            "weight_medium": self.weight_medium, "weight_low": self.weight_low,
            "weight_open_dispute": self.weight_open_dispute, "households": self.households,
            "households_used": self.households_used, "per_households": self.per_households,
            "penalty": self.penalty, "index": self.index,
        }


def penalty_of(record: Mapping[str, Any]) -> float:
    """The penalty from a record's components (a SafetyIndex record or its dict)."""
    weighted = (record["weight_critical"] * record["incidents_critical"]
                + record["weight_high"] * record["incidents_high"]
                + record["weight_medium"] * record["incidents_medium"]
                + record["weight_low"] * record["incidents_low"]
                + record["weight_open_dispute"] * record["open_disputes"])
    return float(weighted * record["per_households"] / record["households_used"])


def index_of(record: Mapping[str, Any]) -> float:
    """The index from a record's components: what a reader computes to check a record."""
    return max(0.0, 100.0 - penalty_of(record))


@dataclass(slots=True)
class _DayIncident:
    day: int  # start of the local day of its first_event_time
    areas: tuple[Area, ...]
    risk_level: str
    version: int  # the highest version taken: its snapshot places the incident


class SafetyIndexEngine:
    """Event-time accumulator of the safety index: ``add_incident``/``add_report``, then
    ``close_until`` emits every (area, day) of the days the watermark closes.

    Areas: every area the registry names, and every area an input was counted in from the day
    of its earliest such input; days: from the day of the earliest input accepted.
    """

    def __init__(self, config: AnalyticsConfig, directory: AreaDirectory) -> None:
        self.config = config
        self.safety = config.safety
        self.directory = directory
        self.zone = config.zone
        self.watermark: int | None = None
        self._first_day: int | None = None
        self._incidents: dict[str, _DayIncident] = {}  # incidents of days still open
        self._disputes: dict[str, DisputeHistory] = {}  # disputes not closed (or of open days)
        #: area -> the day of the earliest input counted in it: it has a record from that day
        #: on. Not "from whenever it was first seen": live, a later day's report read before a
        #: day closed gave its area that day too, and offline not (an outside probe)
        self._seen: dict[Area, int] = {}

    def _saw(self, areas: tuple[Area, ...], t: int) -> None:
        day = period_of(t, "DAY", self.zone).start
        seen = self._seen
        for area in areas:
            if seen.get(area, day + 1) > day:
                seen[area] = day

    def _accept(self, t: int) -> None:
        if self.watermark is not None and t < self.watermark:
            raise LateInput(f"event time {t} is behind the analytics watermark {self.watermark}: "
                            "its day is published", field="event_time")
        day = period_of(t, "DAY", self.zone).start
        if self._first_day is None or day < self._first_day:
            self._first_day = day

    def add_incident(self, incident: Incident) -> list[SafetyIndex]:
        """Count a CONFIRMED incident on the day of its first_event_time, in the areas of its
        highest version, at the highest risk level of any (whatever their order: the first
        version taken placed it before, an outside probe)."""
        if incident.status != CONFIRMED:
            return []
        self._accept(incident.first_event_time)
        areas = self.directory.incident_areas(incident)
        self._saw(areas, incident.first_event_time)  # every version's: the same in any order
        held = self._incidents.get(incident.incident_id)
        if held is None or incident.version > held.version:
            level = incident.risk_level
            if held is not None and risk_rank(held.risk_level) > risk_rank(level):
                level = held.risk_level
            self._incidents[incident.incident_id] = _DayIncident(
                period_of(incident.first_event_time, "DAY", self.zone).start, areas, level,
                incident.version)
        elif risk_rank(incident.risk_level) > risk_rank(held.risk_level):
            held.risk_level = incident.risk_level
        return []

    def add_report(self, event: Event) -> list[SafetyIndex]:
        """Take a grid report event: DISPUTE ones make the open-dispute counts; any report is an
        input accepted, so its day starts the index and its areas have one (a city whose
        reports were all hazards had no index at all: docs/analytics.md promises a quiet day
        its 100)."""
        self._accept(event.event_time)
        if not is_dispute(event):
            self._saw(self.directory.report_areas(event), event.event_time)
            return []
        report_id = str(event.fields.get("report_id") or "")
        history = self._disputes.get(report_id)
        if history is None:
            history = self._disputes[report_id] = DisputeHistory(report_id)
        areas = self.directory.report_areas(event)
        history.add(event, areas)
        self._saw(areas, event.event_time)
        return []

    def close_until(self, watermark: int) -> list[SafetyIndex]:
        """Every area's index for each day ending at or before ``watermark``, day by day."""
        previous = self.watermark
        if previous is not None and watermark <= previous:
            return []
        self.watermark = watermark
        if self._first_day is None:
            return []
        if previous is not None and watermark < period_of(previous, "DAY", self.zone).end:
            return []  # no day ended since the last call
        start = self._first_day if previous is None else max(self._first_day, previous)
        out: list[SafetyIndex] = []
        for day in day_starts(start, watermark, self.zone):
            if previous is not None and day.end <= previous:
                continue
            out.extend(self._day(day))
        self._forget(watermark)
        return out

    def _day(self, day: Period) -> list[SafetyIndex]:
        incidents: dict[Area, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SUM_ORDER, 0))
        for inc in self._incidents.values():
            if inc.day == day.start and inc.risk_level in SUM_ORDER:
                for area in inc.areas:
                    incidents[area][inc.risk_level] += 1
        disputes: dict[Area, int] = defaultdict(int)
        for history in self._disputes.values():
            state = history.state(day.end)
            if state is not None and state.open:
                for area in history.areas:
                    disputes[area] += 1
        households = self.directory.households_by_area()
        areas = sorted(set(households).union(a for a, first in self._seen.items()
                                             if first <= day.start), key=lambda a: a.sort_key)
        w = self.safety.incident_weights
        out = []
        for area in areas:
            n = incidents.get(area) or dict.fromkeys(SUM_ORDER, 0)
            held = households.get(area, 0)
            parts: dict[str, Any] = {
                "incidents_critical": n["CRITICAL"], "incidents_high": n["HIGH"],
                "incidents_medium": n["MEDIUM"], "incidents_low": n["LOW"],
                "open_disputes": disputes.get(area, 0),
                "weight_critical": float(w["CRITICAL"]), "weight_high": float(w["HIGH"]),
                "weight_medium": float(w["MEDIUM"]), "weight_low": float(w["LOW"]),
                "weight_open_dispute": float(self.safety.open_dispute_weight),
                "households": held,
                "households_used": max(held, self.safety.households_floor),
                "per_households": self.safety.per_households,
            }
            penalty = penalty_of(parts)
            out.append(SafetyIndex(area.level, area.code, day.start, day.end, day.label,
                                   penalty=penalty, index=max(0.0, 100.0 - penalty), **parts))
        return out

    def _forget(self, watermark: int) -> None:
        open_day = period_of(watermark, "DAY", self.zone).start
        for iid in [i for i, inc in self._incidents.items() if inc.day < open_day]:
            del self._incidents[iid]
        # a dispute closed before the open day counts on no later day; should it reopen, its
        # reopening event starts a new history that is open from that event on: the same counts
        for rid in [r for r, h in self._disputes.items()
                    if (s := h.state(open_day)) is not None and not s.open
                    and h.last_time < open_day]:
            del self._disputes[rid]
