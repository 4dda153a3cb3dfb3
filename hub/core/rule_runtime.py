"""A compiled rule as the engine runs it: its per-key states and the heap of what is due.

Kept out of hub.core.engine so that the engine's parts (release, incident versions, restore) share
one definition; the class has slots and no behaviour on the per-event path besides its fields.
"""

from __future__ import annotations

import heapq

from hub.core.logic import HANDLERS
from hub.core.rules import REGISTRY_JOIN_FIELDS, Rule
from hub.core.state import KeyState, OrderKey
from hub.core.watermark import NEG_INF
from hub.model.events import Event

#: The release bound of the end of input (``CorrelationEngine.flush``): past every event time.
POS_INF = 2**62


#: Entries of a rule's heap: (time, 0 = event | 1 = timer, order key, key, step mask, event).
#: At equal times events come before timers: an absent-kind event exactly at the deadline counts.
#: Rules without timers ("per key" below) keep one entry per key with pending events instead:
#: the key's earliest pending event; its other fields are those of that event.
HeapEntry = tuple[int, int, tuple[int, int, str], str, int, Event]


def pair_order(item: tuple[int, Event]) -> OrderKey:
    """The order key of a (step mask, event) pair, the way pending events and windows sort."""
    return item[1].order_key


def _min_events(rule: Rule) -> int:
    """The fewest events of one key that can make a match of ``rule``."""
    if rule.type in ("distinct", "threshold"):
        return rule.tiers[0].count
    if rule.type in ("sequence", "all"):
        return len(rule.steps)  # every step is filled by a different event
    return 1


class RuleRuntime:
    """A compiled rule with its per-key states and one heap of everything due, in event time."""

    __slots__ = ("absent_before_only", "gc_every", "handler", "heap", "held", "hold", "join",
                 "key_field", "key_pair", "lone", "lone_waits", "next_gc", "per_key", "released",
                 "rule", "sources", "states", "window_cap", "within")

    def __init__(self, rule: Rule, window_events: int = 10_000) -> None:
        self.rule = rule
        # A key's window never holds more (oldest dropped): a flood stays bounded. A threshold
        # only asks whether its count reaches a tier, and opens an incident on the window the
        # moment it first does: its highest tier is all it needs to keep, exactly.
        top = max(t.count for t in rule.tiers)
        self.window_cap = top if rule.type == "threshold" else max(window_events, top)
        self.sources = tuple(sorted(rule.sources))
        # Fast path for the usual one-field key read straight from the event.
        self.key_field = rule.by[0] if len(rule.by) == 1 else None
        self.join = any(name in REGISTRY_JOIN_FIELDS for name in rule.by)
        # ... and for two (a site's door: site_id, door_id), the site lane's usual key
        self.key_pair = (rule.by[0], rule.by[1]) if len(rule.by) == 2 and not self.join else None
        self.absent_before_only = rule.type == "absence" and rule.direction == "before"
        self.within = rule.within
        self.handler = HANDLERS[rule.type]
        self.states: dict[str, KeyState] = {}
        #: keys whose open incident has a coalesced update not yet published
        self.held: dict[str, KeyState] = {}
        self.heap: list[HeapEntry] = []
        self.released = NEG_INF  # every event before this has been handed to the rule
        # Expired windows and closed incidents are swept at this event-time interval: memory stays
        # bounded by the window, and a sweep never changes results (handlers prune by event time).
        self.gc_every = min(rule.within, 600_000)
        self.next_gc = NEG_INF
        # How long past its last evidence an open incident must stay open. Usually ``within``:
        # later matches come from events at or after the watermark. An 'after' absence matches
        # only when its deadline passes, up to ``within`` after an event that may itself be up to
        # ``within`` after the incident's last evidence, so it must be held twice as long.
        after = rule.type == "absence" and rule.direction in ("after", "both")
        self.hold = rule.within * 2 if after else rule.within
        # Without timers, keys never interact, so each key's pending events are released
        # together (in their order) from one heap entry per key: a dense key such as a busy site
        # then costs one heap entry per release instead of one per event. With timers, events
        # and deadlines of a key must interleave in time, so every event gets its own entry.
        self.per_key = not after
        # Rules that need two or more events of one key for any match (distinct, threshold,
        # sequence, all) leave a key's lone event dormant: pending but not queued, because
        # releasing it alone could only add it to the window. Most keys of a credential rule
        # never see a second event in the window. When another event arrives the key is queued
        # from its earliest pending event and released in order as usual, so nothing changes
        # but the work; a dormant key that stays alone is forgotten by the sweep.
        self.lone_waits = self.per_key and _min_events(rule) >= 2
        #: with ``lone_waits``: keys that have no state but one dormant event -> (mask, event).
        #: Most credentials swipe once in a window; a state of their own each (made, swept,
        #: freed) was a tenth of the engine's time (BENCHMARKS.md §1). A second event of the
        #: key makes the state, with both pending, and wakes it as before.
        self.lone: dict[str, tuple[int, Event]] = {}

    def queue(self, key: str, state: KeyState) -> None:
        """Put a restored state's pending events and timers back on the heap."""
        if self.per_key:
            state.pq = sorted((e.order_key, i) for i, (_, e) in state.pending.items()) or None
            if state.pending:
                _, first = min(state.pending.values(), key=pair_order)
                state.scheduled = first.event_time
                heapq.heappush(self.heap, (first.event_time, 0, first.order_key, key, 0, first))
            return
        for mask, event in state.pending.values():
            heapq.heappush(self.heap, (event.event_time, 0, event.order_key, key, mask, event))
        for deadline, event in state.timers.values():
            heapq.heappush(self.heap, (deadline, 1, event.order_key, key, 0, event))


__all__ = ["POS_INF", "HeapEntry", "RuleRuntime", "pair_order"]
