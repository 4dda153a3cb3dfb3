"""Per-(rule, key) state of the correlation engine.

All state for one rule and one key value sits in one ``KeyState`` so that the online runtime can
persist it as one table entry, written back per key per batch.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from hub.model.events import Event

Pending = tuple[tuple[int, int, str], Event]


@dataclass(slots=True)
class OpenIncident:
    """An incident still accepting updates: matches within ``within`` of ``last_event_time``."""

    incident_id: str
    version: int
    first_event_time: int
    last_event_time: int
    risk_level: str
    evidence: list[Event]
    evidence_ids: set[tuple[str, str]]
    values: set[Any] = field(default_factory=set)


@dataclass(slots=True)
class KeyState:
    """Buffered and windowed events, timers and the open incident of one rule and key."""

    pending: list[Pending] = field(default_factory=list)  # heap by Event.order_key
    pending_ids: set[tuple[str, str]] = field(default_factory=set)
    window: list[tuple[int, Event]] = field(default_factory=list)  # (step mask, event), in order
    timers: list[tuple[int, tuple[int, int, str], Event]] = field(default_factory=list)  # heap
    incident: OpenIncident | None = None
    scheduled: int | None = None  # wake time currently pushed on the rule's heap

    def add_pending(self, event: Event) -> bool:
        """Buffer ``event`` until the watermark releases it; False if it is already buffered."""
        ident = (event.kind, event.event_id)
        if ident in self.pending_ids:
            return False
        self.pending_ids.add(ident)
        heapq.heappush(self.pending, (event.order_key, event))
        return True

    def pop_pending(self) -> Event:
        _, event = heapq.heappop(self.pending)
        self.pending_ids.discard((event.kind, event.event_id))
        return event

    def wake_time(self, within: int, hold: int | None = None) -> int | None:
        """Earliest watermark that gives this state work: release, timer, pruning or closing.

        ``hold``: how long after its last evidence the open incident closes (default ``within``).
        """
        times = []
        if self.pending:
            times.append(self.pending[0][0][0])
        if self.timers:
            times.append(self.timers[0][0])
        if self.window:
            times.append(self.window[0][1].event_time + within)
        if self.incident is not None:
            times.append(self.incident.last_event_time + (within if hold is None else hold))
        return min(times) if times else None

    def is_empty(self) -> bool:
        return not (self.pending or self.timers or self.window or self.incident)


@dataclass(slots=True)
class SuppressState:
    """Flapping suppression for one key: pending events and the time of the previous one."""

    pending: list[Pending] = field(default_factory=list)
    pending_ids: set[tuple[str, str]] = field(default_factory=set)
    last_time: int | None = None
    scheduled: int | None = None
