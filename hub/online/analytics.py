"""The area analytics live (``hub analytics --live``): the engines of hub/core/analytics over Kafka.

This module is the driver's logic, free of any Kafka client: what a message does, when a
partition is at its end, what the watermark is. hub/online/analytics_app.py is the Faust app
that moves the bytes (docs/adr/0008-faust-for-live-analytics.md).

The driver reads every partition of the building registry, hub.src.grid_report and hub.incidents
from the beginning, runs the same three engines as ``hub analytics`` over files, and publishes
their records on hub.analytics.disputes, hub.analytics.risk and hub.analytics.safety_index. A
restart reads everything again: the engines' state is rebuilt from the topics (the inputs'
retention bounds the history it sees), and the records it publishes again are identical, under
the same key.

- **Registry first.** A report counts in the areas of its building as the registry stands when
  the report is accepted, so reports and incidents are held (in memory, in arrival order) until
  every registry partition has been read to the end it had when a barrier was taken; later
  registry records are applied as they come.
- **Watermark:** each input partition's newest time; partitions at their end (caught up) do not
  hold it back. The watermark is the oldest of the others (the newest of all when every
  partition is caught up), less the configured lateness, so reading a backlog whose partitions
  run at different speeds loses nothing.
- **At its end**, exactly: a *barrier* is each input partition's consumer position and high-water
  mark taken at one moment, delivered to the driver behind every message fetched before that
  moment (:meth:`LiveFeed.barrier`). A partition whose position had reached its high-water mark,
  and of which no later message has been taken since, is at its end, like librdkafka's
  partition EOF. Offsets alone cannot say it: a transactional producer's commit marker takes the
  last offset of a partition and is never delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.codec import to_building, to_event
from hub.core.analytics import (
    AnalyticsConfig,
    AreaDirectory,
    DisputeFunnelEngine,
    LateInput,
    RiskWarningEngine,
    SafetyIndexEngine,
)
from hub.model.events import REGISTRY_KIND
from hub.model.incidents import CONFIRMED, Incident
from hub.settings import INCIDENTS_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS

log = logging.getLogger(__name__)

REPORTS_TOPIC = SOURCE_TOPICS["grid_report"]
INPUTS = (REGISTRY_TOPIC, REPORTS_TOPIC, INCIDENTS_TOPIC)

#: (topic, partition)
Where = tuple[str, int]
#: (kind, record object with ``to_record()``): what to publish
Output = tuple[str, Any]


@dataclass
class LiveAnalytics:
    """The engines and the watermark; ``take`` one input, ``advance`` to publish what closed."""

    config: AnalyticsConfig
    directory: AreaDirectory = field(default_factory=AreaDirectory)
    newest: dict[Where, int] = field(default_factory=dict)
    at_end: set[Where] = field(default_factory=set)
    #: every input partition the driver reads (registry aside), once it knows them: one that has
    #: given no time yet and is not at its end holds the watermark back entirely
    partitions: set[Where] = field(default_factory=set)
    late: int = 0
    #: the LateInput of each input refused since the driver last took them (it dead-letters them)
    refused: list[LateInput] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.funnel = DisputeFunnelEngine(self.config, self.directory)
        self.risk = RiskWarningEngine(self.config, self.directory)
        self.safety = SafetyIndexEngine(self.config, self.directory)
        self.watermark: int | None = None

    def take(self, where: Where, kind: str, record: dict[str, Any]) -> list[Output]:
        """One decoded input; the (kind, record) pairs it publishes at once (early warnings)."""
        self.at_end.discard(where)
        out: list[Output] = []
        try:
            if kind == REGISTRY_KIND:
                self.directory.put(to_building(record))
                return []
            if kind == "grid_report":
                event = to_event(kind, record)
                self._saw(where, event.event_time)
                out += [("dispute_funnel", r) for r in self.funnel.add_report(event)]
                out += [("risk_warning", r) for r in self.risk.add_report(event)]
                out += [("safety_index", r) for r in self.safety.add_report(event)]
            elif kind == "incident":
                incident = Incident.from_record(record)
                if incident.status != CONFIRMED:
                    return []
                self._saw(where, incident.first_event_time)
                out += [("risk_warning", r) for r in self.risk.add_incident(incident)]
                out += [("safety_index", r) for r in self.safety.add_incident(incident)]
        except LateInput as exc:
            self.late += 1
            self.refused.append(exc)
            log.info("analytics: %s behind the watermark: %s", kind, exc)
        return out

    def _saw(self, where: Where, time: int) -> None:
        if time > self.newest.get(where, time - 1):
            self.newest[where] = time

    def advance(self) -> list[Output]:
        """Close what the watermark passed; the records to publish."""
        if not self.newest or any(w not in self.newest and w not in self.at_end
                                  for w in self.partitions):
            return []
        running = [t for w, t in self.newest.items() if w not in self.at_end]
        front = min(running) if running else max(self.newest.values())
        watermark = front - self.config.lateness_ms
        if self.watermark is not None and watermark <= self.watermark:
            return []
        self.watermark = watermark
        return ([("dispute_funnel", r) for r in self.funnel.close_until(watermark)]
                + [("risk_warning", r) for r in self.risk.close_until(watermark)]
                + [("safety_index", r) for r in self.safety.close_until(watermark)])


@dataclass(frozen=True)
class Barrier:
    """Each assigned input partition's consumer position and high-water mark at one moment.

    ``positions[where]`` is the offset of the next message the consumer will hand over (every
    message before it has been handed over); ``ends[where]`` the partition's high-water mark as
    the consumer last heard it, None when not yet known. Read the position first, then the
    high-water mark: the mark only grows, so ``position >= end`` then means the partition was
    read to its end.
    """

    positions: Mapping[Where, int]
    ends: Mapping[Where, int | None]

    def read_to_end(self) -> set[Where]:
        """The partitions whose every message had been handed over when the barrier was taken."""
        out = set()
        for where, position in self.positions.items():
            end = self.ends.get(where)
            if end is not None and position >= end:
                out.add(where)
        return out


class LiveFeed:
    """Messages and barriers in delivery order; the records to publish (see the module's doc).

    ``message`` takes one decoded input message; ``barrier`` one :class:`Barrier`, which must be
    delivered after every message the consumer had handed over when the barrier was taken.
    """

    def __init__(self, config: AnalyticsConfig) -> None:
        self.live = LiveAnalytics(config)
        #: the offset of the last message taken, per partition
        self.taken: dict[Where, int] = {}
        self.registry_read = False
        self.held: list[tuple[Where, int, str, dict[str, Any]]] = []
        #: inputs behind the watermark since the app last took them: (where, offset, kind,
        #: record, error), for hub.deadletter (reason LATE): nothing is dropped unsaid
        self.late: list[tuple[Where, int, str, dict[str, Any], LateInput]] = []

    def message(self, where: Where, offset: int, kind: str, record: dict[str, Any]
                ) -> list[Output]:
        """Take one decoded message at ``offset``; the records to publish. Reports and incidents are
        held until the registry has been read to its end, so every area is known."""
        self.taken[where] = max(offset, self.taken.get(where, offset))
        if where[0] == REGISTRY_TOPIC or kind == REGISTRY_KIND:
            return self.live.take(where, kind, record)
        if not self.registry_read:
            self.held.append((where, offset, kind, record))
            return []
        return self._take(where, offset, kind, record) + self.live.advance()

    def _take(self, where: Where, offset: int, kind: str, record: dict[str, Any]
              ) -> list[Output]:
        out = self.live.take(where, kind, record)
        for exc in self.live.refused:
            self.late.append((where, offset, kind, record, exc))
        self.live.refused.clear()
        return out

    def take_late(self) -> list[tuple[Where, int, str, dict[str, Any], LateInput]]:
        """The inputs refused as late since the last call (the app dead-letters them)."""
        late, self.late = self.late, []
        return late

    def barrier(self, barrier: Barrier) -> list[Output]:
        """Take one Barrier: marks partitions read to their end (no longer holding the watermark
        back), releases held messages once the registry is read; the records to publish."""
        # the partitions are known from now on: one not heard from holds the watermark back
        self.live.partitions |= {w for w in barrier.positions if w[0] != REGISTRY_TOPIC}
        at_end = {where for where in barrier.read_to_end()
                  if self.taken.get(where, -1) < barrier.positions[where]}
        out: list[Output] = []
        if not self.registry_read:
            registry = [w for w in barrier.positions if w[0] == REGISTRY_TOPIC]
            if not registry or not at_end.issuperset(registry):
                return []
            self.registry_read = True
            log.info("analytics: registry read (%d areas); taking %d held reports and incidents",
                     len(self.live.directory.households_by_area()), len(self.held))
            held, self.held = self.held, []
            for where, offset, kind, record in held:
                out += self._take(where, offset, kind, record) + self.live.advance()
        self.live.at_end |= at_end
        return out + self.live.advance()
