"""The dispute funnel (矛盾纠纷): reported, accepted (受理), resolved (调处成功), per area, period.

A dispute is a grid report with category DISPUTE, identified by its report_id; its DISPUTE events
are its history (status updates carry the same report_id). A dispute belongs to the period (DAY,
WEEK, MONTH, YEAR, local time) of its first event time and is counted in the areas of that first
event. When the period closes (the watermark passes its end) one DisputeFunnel per area with at
least one dispute is emitted, with every status counted as of the period's end, by event time:

- ``reported``: distinct report_ids;
- ``accepted`` (受理): those whose history holds ACCEPTED, MEDIATING, RESOLVED or UNRESOLVED;
- ``resolved`` (调处成功): those whose latest status is RESOLVED; ``unresolved``: latest
  UNRESOLVED; ``in_progress`` = accepted − resolved − unresolved;
- ``success_rate`` = resolved / accepted (None when accepted is 0);
- ``median_hours_to_resolve``: over the resolved ones, first event to first RESOLVED (None when
  none is resolved).

"Latest" is the greatest (event_time, event_id); arrival order never counts. docs/analytics.md.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hub.core.analytics.areas import Area, AreaDirectory
from hub.core.analytics.config import AnalyticsConfig
from hub.core.analytics.periods import LateInput, Period, period_of
from hub.model.events import Event

DISPUTE = "DISPUTE"
#: A history holding any of these was accepted (受理).
ACCEPTED_STATUSES = frozenset({"ACCEPTED", "MEDIATING", "RESOLVED", "UNRESOLVED"})
RESOLVED, UNRESOLVED = "RESOLVED", "UNRESOLVED"
#: Latest statuses that end a dispute; any other latest status leaves it open.
CLOSED_STATUSES = frozenset({RESOLVED, UNRESOLVED})
_HOUR_MS = 3_600_000


def is_dispute(event: Event) -> bool:
    """A grid report of category DISPUTE."""
    return event.kind == "grid_report" and event.fields.get("category") == DISPUTE


@dataclass(frozen=True, slots=True)
class DisputeState:
    """A dispute as its history stands at some time."""

    first_time: int
    latest_status: str
    accepted: bool
    first_resolved: int | None  # time of its first RESOLVED event, if any

    @property
    def resolved(self) -> bool:
        """Latest status is RESOLVED (a later status reopens it)."""
        return self.latest_status == RESOLVED

    @property
    def unresolved(self) -> bool:
        """Latest status is UNRESOLVED: closed without success, counted apart from resolved ones."""
        return self.latest_status == UNRESOLVED

    @property
    def open(self) -> bool:
        """Not yet in a closed status: counted as in progress."""
        return self.latest_status not in CLOSED_STATUSES


class DisputeHistory:
    """The status events of one dispute, in (event_time, event_id) order, duplicates ignored."""

    __slots__ = ("_areas", "entries", "report_id")

    def __init__(self, report_id: str) -> None:
        self.report_id = report_id
        self.entries: list[tuple[int, str, str]] = []  # (event_time, event_id, status)
        self._areas: dict[tuple[int, str], tuple[Area, ...]] = {}

    def add(self, event: Event, areas: tuple[Area, ...]) -> bool:
        """Add one status event; False when the same event_id is already held."""
        entry = (event.event_time, event.event_id, str(event.fields.get("status") or "UNKNOWN"))
        if any(e[1] == event.event_id for e in self.entries):
            return False
        bisect.insort(self.entries, entry)
        self._areas[entry[:2]] = areas
        return True

    @property
    def first_time(self) -> int:
        """Event time (ms) of the earliest status event: when the dispute was reported."""
        return self.entries[0][0]

    @property
    def last_time(self) -> int:
        """Event time (ms) of the latest status event held."""
        return self.entries[-1][0]

    @property
    def areas(self) -> tuple[Area, ...]:
        """The areas of the first event (where the dispute is counted)."""
        return self._areas[self.entries[0][:2]]

    def state(self, as_of: int) -> DisputeState | None:
        """The dispute counting only events before ``as_of``; None if it had none yet."""
        seen = [e for e in self.entries if e[0] < as_of]
        if not seen:
            return None
        first_resolved = next((t for t, _, status in seen if status == RESOLVED), None)
        return DisputeState(seen[0][0], seen[-1][2],
                            any(status in ACCEPTED_STATUSES for _, _, status in seen),
                            first_resolved)


@dataclass(frozen=True, slots=True)
class FunnelCounts:
    """The dispute funnel of one set of disputes; rates and medians are None when nothing was
    reported (or resolved), never zero. docs/analytics.md defines each count."""

    reported: int
    accepted: int
    resolved: int
    unresolved: int
    in_progress: int
    success_rate: float | None
    median_hours_to_resolve: float | None


def count_funnel(states: Iterable[DisputeState]) -> FunnelCounts:
    """The funnel of some disputes (each counted once), exactly as docs/analytics.md defines it."""
    reported = accepted = resolved = unresolved = 0
    hours: list[float] = []
    for s in states:
        reported += 1
        accepted += s.accepted
        if s.resolved:
            resolved += 1
            assert s.first_resolved is not None
            hours.append((s.first_resolved - s.first_time) / _HOUR_MS)
        elif s.unresolved:
            unresolved += 1
    return FunnelCounts(
        reported, accepted, resolved, unresolved, accepted - resolved - unresolved,
        resolved / accepted if accepted else None,
        statistics.median(hours) if hours else None,
    )


@dataclass(frozen=True, slots=True)
class DisputeFunnel:
    """One area's dispute funnel for one period (Avro hub.DisputeFunnel)."""

    area_level: str
    area_code: str
    period: str
    period_start: int
    period_end: int
    period_label: str
    reported: int
    accepted: int
    resolved: int
    unresolved: int
    in_progress: int
    success_rate: float | None
    median_hours_to_resolve: float | None
    as_of: int

    def to_record(self) -> dict[str, Any]:
        """The row as a ``dispute_funnel`` Avro record."""
        return {
            "area_level": self.area_level, "area_code": self.area_code, "period": self.period,
            "period_start": self.period_start, "period_end": self.period_end,
            "period_label": self.period_label, "reported": self.reported,
            "accepted": self.accepted, "resolved": self.resolved, "unresolved": self.unresolved,
            "in_progress": self.in_progress, "success_rate": self.success_rate,
            "median_hours_to_resolve": self.median_hours_to_resolve, "as_of": self.as_of,
        }


class DisputeFunnelEngine:
    """Event-time accumulator of dispute funnels: ``add_report`` then ``close_until``.

    The caller gives the watermark (newest event time seen − ``lateness``, as the correlation
    engine's); a report event behind it raises LateInput. The records a watermark closes depend
    only on the events accepted, never on their order, so offline and online runs agree.
    """

    def __init__(self, config: AnalyticsConfig, directory: AreaDirectory) -> None:
        self.config = config
        self.directory = directory
        self.zone = config.zone
        self.watermark: int | None = None
        self._live: dict[str, DisputeHistory] = {}
        #: disputes whose every period is published: report_id -> last event time; their later
        #: status events change nothing published and do not count them again
        self._done: dict[str, int] = {}

    def add_report(self, event: Event) -> list[DisputeFunnel]:
        """Take one grid report event (others are ignored); LateInput if behind the watermark."""
        if not is_dispute(event):
            return []
        if self.watermark is not None and event.event_time < self.watermark:
            raise LateInput(f"event time {event.event_time} is behind the analytics watermark "
                            f"{self.watermark}: its period is published", field="event_time")
        report_id = str(event.fields.get("report_id") or "")
        if report_id in self._done:
            self._done[report_id] = max(self._done[report_id], event.event_time)
            return []
        history = self._live.get(report_id)
        if history is None:
            history = self._live[report_id] = DisputeHistory(report_id)
        history.add(event, self.directory.report_areas(event))
        return []

    def close_until(self, watermark: int) -> list[DisputeFunnel]:
        """Publish every period that ends at or before ``watermark`` (in period end order)."""
        previous = self.watermark
        if previous is not None and watermark <= previous:
            return []
        self.watermark = watermark
        if previous is not None and watermark < period_of(previous, "DAY", self.zone).end:
            return []  # every period ends at a local midnight: none was passed
        groups: dict[tuple[Period, Area], list[DisputeState]] = defaultdict(list)
        finished: list[str] = []
        for report_id, history in self._live.items():
            last_end = 0
            for kind in self.config.periods:
                period = period_of(history.first_time, kind, self.zone)
                last_end = max(last_end, period.end)
                if period.end > watermark or (previous is not None and period.end <= previous):
                    continue
                state = history.state(period.end)
                assert state is not None
                for area in history.areas:
                    groups[(period, area)].append(state)
            if last_end <= watermark:
                finished.append(report_id)
        for report_id in finished:
            self._done[report_id] = self._live.pop(report_id).last_time
        horizon = watermark - self.config.forget_reports_after_ms
        for report_id in [r for r, last in self._done.items() if last < horizon]:
            del self._done[report_id]
        out = []
        rank = {kind: i for i, kind in enumerate(self.config.periods)}
        for (period, area), states in sorted(groups.items(), key=lambda item: (
                item[0][0].end, rank[item[0][0].kind], item[0][1].sort_key)):
            c = count_funnel(states)
            out.append(DisputeFunnel(
                area.level, area.code, period.kind, period.start, period.end, period.label,
                c.reported, c.accepted, c.resolved, c.unresolved, c.in_progress, c.success_rate,
                c.median_hours_to_resolve, period.end))
        return out
