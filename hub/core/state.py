"""Per-(rule, key) state of the correlation engine.

All state for one rule and one key value sits in one ``KeyState`` so that the online runtime can
persist it as one table entry, written back per key per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.core.watermark import NEG_INF
from hub.model.events import Event

#: Event.order_key
OrderKey = tuple[int, int, str]

#: One event in a key's state: its order key (event time, kind, id). Not (kind, id) alone: a
#: device whose ids start over gives one id to two events a day apart, both pending at once
#: when the later arrives before the watermark passes the earlier.
Ident = OrderKey


@dataclass(slots=True)
class OpenIncident:
    """An incident still accepting updates: matches within ``within`` of ``last_event_time``.

    ``evidence`` keeps the first and the last events (pack limits) and ``evidence_count`` how
    many there are in all; ``dropped`` is the order-key span of the events left out between
    them. ``version`` counts published versions; ``held_at`` is the event time of the newest
    update not yet published (coalesced), ``emitted_at`` that of the last published version.
    """

    incident_id: str
    version: int
    first_event_time: int
    last_event_time: int
    risk_level: str
    evidence: list[Event]
    evidence_ids: set[Ident]
    values: set[Any] = field(default_factory=set)
    evidence_count: int = 0
    dropped: tuple[OrderKey, OrderKey] | None = None
    emitted_at: int = NEG_INF
    held_at: int | None = None

    def knows(self, event: Event) -> bool:
        """Already counted: kept, or inside the span of events left out of the list."""
        if event.order_key in self.evidence_ids:
            return True
        span = self.dropped
        return span is not None and span[0] <= event.order_key <= span[1]

    def add(self, events: list[Event], first: int, last: int) -> None:
        """Count ``events`` (new ones) and keep the list to its first and last entries."""
        evidence = self.evidence
        for e in events:
            evidence.append(e)
            self.evidence_ids.add(e.order_key)
        self.evidence_count += len(events)
        evidence.sort(key=order_of)
        if len(evidence) > first + last:
            gone = evidence[first:len(evidence) - last]
            for e in gone:
                self.evidence_ids.discard(e.order_key)
            lo, hi = gone[0].order_key, gone[-1].order_key
            if self.dropped is not None:
                lo, hi = min(lo, self.dropped[0]), max(hi, self.dropped[1])
            self.dropped = (lo, hi)
            del evidence[first:len(evidence) - last]


def order_of(event: Event) -> OrderKey:
    """The sort key of ``event`` (event time, then a tie-breaker), as a function for
    sorted/heapq."""
    return event.order_key


#: Shared empty placeholders for states that never hold a timer (most rules' states): only
#: ``KeyState.add_timer`` writes timers, and it replaces these before it does.
_NO_TIMERS: dict[Ident, tuple[int, Event]] = {}
_NO_NEW_TIMERS: list[tuple[int, Event]] = []


class KeyState:
    """Buffered and windowed events, timers and the open incident of one rule and key.

    Ordering lives in the rule's heap (see engine); ``pending`` and ``timers`` here say what is
    still due for this key, so a heap entry whose event is no longer here is simply skipped.
    A plain slotted class rather than a dataclass: one is created for every new key of a dense
    rule (a credential seen for the first time in its window), so construction cost counts.
    """

    __slots__ = ("incident", "new_timers", "pending", "pq", "scheduled",
                 "step_counts", "timers", "touched", "waiting", "window")

    def __init__(self, touched: int = NEG_INF) -> None:
        self.pending: dict[Ident, tuple[int, Event]] = {}  # -> (mask, event)
        self.window: list[tuple[int, Event]] = []  # (step mask, event), in order
        self.timers: dict[Ident, tuple[int, Event]] = _NO_TIMERS  # -> (deadline, event)
        self.new_timers: list[tuple[int, Event]] = _NO_NEW_TIMERS  # for the engine to queue
        self.incident: OpenIncident | None = None
        self.step_counts: dict[int, int] | None = None  # 'all' rules: window events per step bit
        self.touched = touched  # newest event time this state has seen (for the sweep)
        # Rules without timers queue a key, not each event: the event time of the key's live
        # entry in the rule's heap (its earliest pending event), None when nothing is pending.
        self.scheduled: int | None = None
        # Rules without timers: the pending events' (order key, ident) as a heap, so that a key
        # with thousands pending (a flood, 30 s of lateness) releases each in O(log n) instead of
        # sorting them all at every release. Entries no longer pending are skipped (lazy).
        self.pq: list[tuple[OrderKey, Ident]] | None = None
        # The eager engine's sequence rules: last-step events that completed nothing yet, in
        # order, waiting for an earlier step that arrives after them (logic.on_sequence_as_arrived)
        self.waiting: list[Event] | None = None

    def add_timer(self, deadline: int, event: Event, *, queue: bool = True) -> None:
        """Watch ``event`` until ``deadline``; ``queue``: also hand it to the engine's heap."""
        if self.timers is _NO_TIMERS:
            self.timers = {}
        self.timers[event.order_key] = (deadline, event)
        if queue:
            if self.new_timers is _NO_NEW_TIMERS:
                self.new_timers = []
            self.new_timers.append((deadline, event))

    def is_empty(self) -> bool:
        """True when the state holds nothing, so the engine can drop the key (and its table
        entry)."""
        return not (self.pending or self.timers or self.window or self.incident or self.waiting)

    @classmethod
    def of_lone(cls, lone: tuple[int, Event]) -> KeyState:
        """The state a dormant lone ``(mask, event)`` (``RuleRuntime.lone``) stands for: that
        event pending, touched at its time. Made when a partner arrives, and when a checkpoint
        saves the key, so both agree on what a dormant key is."""
        event = lone[1]
        state = cls(event.event_time)
        state.pending[event.order_key] = lone
        return state


@dataclass(slots=True)
class SuppressState:
    """Flapping suppression for one key: pending events and the time of the previous one."""

    pending: list[tuple[tuple[int, int, str], Event]] = field(default_factory=list)
    pending_ids: set[Ident] = field(default_factory=set)
    last_time: int | None = None
    scheduled: int | None = None
