"""The area analytics over files (``hub analytics``): the pure engines of hub/core/analytics.

Inputs are the events file (interchange lines: its building records make the registry, its
grid reports feed the dispute funnel, the risk warnings and the safety index) and, optionally,
`hub correlate`'s incidents (CONFIRMED versions count). They are taken in the order of the time
the engines count them by (a report's event time, an incident's first event time), the watermark
following the newest time less the configured lateness as a live driver's would; at the end every
period, week and day that ends at or before the newest time is closed. What is still running at
the end of the data is not published.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hub.codec import Line, to_building, to_event
from hub.core.analytics import (
    AnalyticsConfig,
    AreaDirectory,
    DisputeFunnel,
    DisputeFunnelEngine,
    LateInput,
    RiskWarning,
    RiskWarningEngine,
    SafetyIndex,
    SafetyIndexEngine,
)
from hub.model.events import REGISTRY_KIND, Event
from hub.model.incidents import CONFIRMED, Incident
from hub.offline.correlate import Rejected


@dataclass
class AnalyticsResult:
    """What ``hub analytics`` computed over files, and the lines it could not use (``rejected``):
    the command exits 1 when there are any."""

    disputes: list[DisputeFunnel] = field(default_factory=list)
    warnings: list[RiskWarning] = field(default_factory=list)
    safety: list[SafetyIndex] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    buildings: int = 0
    reports: int = 0
    incidents: int = 0


def analyse(lines: Iterable[Line], incidents: Iterable[Incident],
            config: AnalyticsConfig) -> AnalyticsResult:
    """Every record the three engines publish for these inputs (see the module's docstring)."""
    result = AnalyticsResult()
    directory = AreaDirectory()
    reports: list[tuple[int, int, Event]] = []
    for line in lines:
        if line.error is not None or line.kind is None or line.record is None:
            result.rejected.append(Rejected.of(line))
        elif line.kind == REGISTRY_KIND:
            directory.put(to_building(line.record))
            result.buildings += 1
        elif line.kind == "grid_report":
            event = to_event(line.kind, line.record)
            reports.append((event.event_time, line.lineno, event))
    confirmed = [(inc.first_event_time, n, inc) for n, inc in enumerate(incidents)
                 if inc.status == CONFIRMED]
    result.reports, result.incidents = len(reports), len(confirmed)
    funnel = DisputeFunnelEngine(config, directory)
    risk = RiskWarningEngine(config, directory)
    safety = SafetyIndexEngine(config, directory)
    newest: int | None = None
    for time, lineno, item in _merged(sorted(reports, key=_order), sorted(confirmed, key=_order)):
        try:
            if isinstance(item, Incident):
                result.warnings += risk.add_incident(item)
                result.safety += safety.add_incident(item)
            else:
                result.disputes += funnel.add_report(item)
                result.warnings += risk.add_report(item)
                result.safety += safety.add_report(item)
        except LateInput as exc:  # cannot happen in time order; kept so nothing is silent
            result.rejected.append(Rejected(lineno, exc.reason, exc.detail))
            continue
        if newest is None or time > newest:
            newest = time
            _close(result, funnel, risk, safety, newest - config.lateness_ms)
    if newest is not None:
        _close(result, funnel, risk, safety, newest)
    return result


def _order(item: tuple[int, int, Any]) -> tuple[int, int]:
    return item[0], item[1]


def _merged(reports: list[tuple[int, int, Event]], incidents: list[tuple[int, int, Incident]]
            ) -> Iterator[tuple[int, int, Event | Incident]]:
    """Reports before incidents at the same time (a deterministic order for both files)."""
    tagged: Iterator[tuple[int, int, int, Event | Incident]] = heapq.merge(
        ((t, 0, n, x) for t, n, x in reports), ((t, 1, n, x) for t, n, x in incidents),
        key=lambda e: e[:3])
    for t, _, n, x in tagged:
        yield t, n, x


def _close(result: AnalyticsResult, funnel: DisputeFunnelEngine, risk: RiskWarningEngine,
           safety: SafetyIndexEngine, watermark: int) -> None:
    result.disputes += funnel.close_until(watermark)
    result.warnings += risk.close_until(watermark)
    result.safety += safety.close_until(watermark)
