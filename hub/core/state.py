"""Per-(rule, key) state of the correlation engine.

All state for one rule and one key value sits in one ``KeyState`` so that the online runtime can
persist it as one table entry, written back per key per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.model.events import Event

Ident = tuple[str, str]  # (kind, event_id)


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
    """Buffered and windowed events, timers and the open incident of one rule and key.

    Ordering lives in the rule's heap (see engine); ``pending`` and ``timers`` here say what is
    still due for this key, so a heap entry whose event is no longer here is simply skipped.
    """

    pending: dict[Ident, tuple[int, Event]] = field(default_factory=dict)  # -> (mask, event)
    window: list[tuple[int, Event]] = field(default_factory=list)  # (step mask, event), in order
    timers: dict[Ident, tuple[int, Event]] = field(default_factory=dict)  # -> (deadline, event)
    new_timers: list[tuple[int, Event]] = field(default_factory=list)  # for the engine to queue
    incident: OpenIncident | None = None
    step_counts: dict[int, int] | None = None  # 'all' rules: window events per step bit (cache)
    touched: int = -(2**62)  # newest event time this state has seen (for the sweep)

    def add_timer(self, deadline: int, event: Event) -> None:
        self.timers[(event.kind, event.event_id)] = (deadline, event)
        self.new_timers.append((deadline, event))

    def is_empty(self) -> bool:
        return not (self.pending or self.timers or self.window or self.incident)


@dataclass(slots=True)
class SuppressState:
    """Flapping suppression for one key: pending events and the time of the previous one."""

    pending: list[tuple[tuple[int, int, str], Event]] = field(default_factory=list)
    pending_ids: set[Ident] = field(default_factory=set)
    last_time: int | None = None
    scheduled: int | None = None
