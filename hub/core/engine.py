"""The correlation engine (数据碰撞比对): events in, incident versions out, by event time.

Each accepted event is buffered per (rule, key) until the watermark of every source the rule reads
has passed it; then the buffered events are handed to the rule in ``Event.order_key`` order. So the
incidents, their ids and their versions depend only on the set of events, never on arrival order,
speed or partitioning, as long as events arrive within their source's allowed lateness.

Wall time enters in one place only: ``tick(wall_ms)`` lets a source that has been idle for its
``idle`` time stop holding rules back (online only; offline, ``flush()`` ends the input).
"""

from __future__ import annotations

import heapq
import json
from bisect import insort
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from hub.core.dedup import DedupLogic
from hub.core.dispatch import KindDispatch
from hub.core.lanes import key_for
from hub.core.logic import HANDLERS, Match, cap_window, on_absence_timer, prune_window
from hub.core.registry import BuildingRegistry
from hub.core.routing import building_for, route_for
from hub.core.rules import REGISTRY_JOIN_FIELDS, Matcher, Rule, RulePack, Suppression
from hub.core.snapshot import (
    Snapshot,
    key_state_from_dict,
    key_state_json_parts,
    key_state_to_dict,
    key_state_to_json,
    suppress_state_from_dict,
    suppress_state_to_dict,
)
from hub.core.state import KeyState, OpenIncident, SuppressState
from hub.core.watermark import NEG_INF, SourceClocks
from hub.model.events import Event
from hub.model.incidents import Evidence, Incident, incident_id, risk_rank


def _order_of(item: tuple[int, Event]) -> tuple[int, int, str]:
    return item[1].order_key


StateRef = tuple[str, str, str]  # ("R", rule id, key) or ("S", suppression id, key)
POS_INF = 2**62


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event behind the watermark: it goes to the dead-letter topic with reason LATE."""

    event: Event
    rules: tuple[str, ...]  # empty: late for its whole source; else the rules that had moved on
    watermark: int


class StepResult:
    """What one call did: incident versions to emit, LATE events, whether it was a duplicate.

    One is made per event: a plain slotted class, cheaper to build than a dataclass whose
    fields have factories.
    """

    __slots__ = ("duplicate", "incidents", "late")

    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.late: list[LateEvent] = []
        self.duplicate = False


@dataclass(slots=True)
class EngineStats:
    """Counters of what the engine did, for metrics and run summaries; they only ever grow."""

    events: int = 0
    duplicates: int = 0
    late: int = 0
    suppressed: int = 0
    unkeyed: int = 0
    incidents_opened: int = 0
    incident_versions: int = 0
    unrouted: int = 0
    window_dropped: int = 0  # oldest window events dropped past the pack's window_events


#: Entries of a rule's heap: (time, 0 = event | 1 = timer, order key, key, step mask, event).
#: At equal times events come before timers: an absent-kind event exactly at the deadline counts.
#: Rules without timers ("per key" below) keep one entry per key with pending events instead:
#: the key's earliest pending event; its other fields are those of that event.
HeapEntry = tuple[int, int, tuple[int, int, str], str, int, Event]


def _event_order(item: tuple[int, Event]) -> tuple[int, int, str]:
    return item[1].order_key


def suppression_key(supp: Suppression, event: Event) -> str:
    """The state a flapping suppression keeps for ``event``: its ``by`` values joined."""
    return "|".join("" if (v := event.fields.get(n)) is None else str(v) for n in supp.by)


def _min_events(rule: Rule) -> int:
    """The fewest events of one key that can make a match of ``rule``."""
    if rule.type in ("distinct", "threshold"):
        return rule.tiers[0].count
    if rule.type in ("sequence", "all"):
        return len(rule.steps)  # every step is filled by a different event
    return 1


class _RuleRuntime:
    """A compiled rule with its per-key states and one heap of everything due, in event time."""

    __slots__ = ("absent_before_only", "gc_every", "handler", "heap", "held", "hold", "join",
                 "key_field", "lone_waits", "next_gc", "per_key", "released", "rule", "sources",
                 "states", "window_cap", "within")

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

    def queue(self, key: str, state: KeyState) -> None:
        """Put a restored state's pending events and timers back on the heap."""
        if self.per_key:
            state.pq = sorted((e.order_key, i) for i, (_, e) in state.pending.items()) or None
            if state.pending:
                _, first = min(state.pending.values(), key=_event_order)
                state.scheduled = first.event_time
                heapq.heappush(self.heap, (first.event_time, 0, first.order_key, key, 0, first))
            return
        for mask, event in state.pending.values():
            heapq.heappush(self.heap, (event.event_time, 0, event.order_key, key, mask, event))
        for deadline, event in state.timers.values():
            heapq.heappush(self.heap, (deadline, 1, event.order_key, key, 0, event))


class CorrelationEngine:
    """Pure, single-threaded engine; the online runtime keeps one per partition it owns."""

    def __init__(
        self,
        pack: RulePack,
        registry: BuildingRegistry | None = None,
        *,
        lanes: Iterable[str] | None = None,
        dedup: DedupLogic | None = None,
        track_changes: bool = False,
        origins: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.pack = pack
        #: (tag, id, key) of states changed since the last ``take_dirty()``; None: not tracked.
        self._dirty: set[StateRef] | None = set() if track_changes else None
        self.registry = registry
        self.dedup = dedup
        self.stats = EngineStats()
        wanted = None if lanes is None else frozenset(lanes)
        self.rules = [
            _RuleRuntime(r, pack.limits.window_events) for r in pack.rules
            if wanted is None or r.lane in wanted
        ]
        kinds = {k for rr in self.rules for k in rr.rule.sources} | {
            s.kind for s in pack.suppressions
        }
        self.clocks = {
            kind: SourceClocks.create(
                pack.policy(kind).lateness, pack.policy(kind).idle,
                (origins or {}).get(kind, ("",)),
            )
            for kind in sorted(kinds)
        }
        # kind -> which rules' steps an event of that kind matches (see hub.core.dispatch)
        entries: dict[str, list[tuple[_RuleRuntime, int, Matcher]]] = {}
        for rr in self.rules:
            r = rr.rule
            matchers = [(1 << i, m) for i, m in enumerate(r.steps)]
            if r.absent is not None:
                matchers.append((2, r.absent))
            for bit, m in matchers:
                entries.setdefault(m.kind, []).append((rr, bit, m))
        self._dispatch = {kind: KindDispatch(e) for kind, e in entries.items()}
        self._suppress: dict[str, list[tuple[Suppression, dict[str, SuppressState]]]] = {}
        for s in pack.suppressions:
            self._suppress.setdefault(s.kind, []).append((s, {}))
        self._suppress_heap: list[tuple[int, str, str]] = []  # (wake, suppression id, key)
        self._by_id = {rr.rule.id: rr for rr in self.rules}
        self._readers: dict[str, list[_RuleRuntime]] = {}
        for rr in self.rules:
            for kind in rr.sources:
                self._readers.setdefault(kind, []).append(rr)
        #: Each source's release bound (see SourceClocks.release_bound), kept current whenever a
        #: clock changes, so that advancing costs one lookup per source instead of a walk.
        self._bounds: dict[str, int | None] = {}
        self._refresh_bounds()

    def _refresh_bounds(self) -> None:
        self._bounds = {kind: clocks.release_bound() for kind, clocks in self.clocks.items()}

    # ----------------------------------------------------------------- input

    def process(self, event: Event, origin: str = "") -> StepResult:
        """Accept one event (LATE, duplicate or buffered); release what the watermark allows.

        ``origin`` names the source partition the event came from (online); see watermark.py.
        """
        result = StepResult()
        stats = self.stats
        stats.events += 1
        kind = event.kind
        clocks = self.clocks.get(kind)
        if clocks is None:  # no rule reads this kind
            return result
        clock = clocks.origins.get(origin)
        if clock is None:
            clock = clocks.origin(origin)
            self._bounds[kind] = clocks.release_bound()
        t = event.event_time
        max_seen = clock.max_seen
        if max_seen is not None and t < max_seen - clock.lateness:
            stats.late += 1
            result.late.append(LateEvent(event, (), max_seen - clock.lateness))
            return result
        dedup = self.dedup
        if dedup is not None and dedup.is_duplicate(kind, event.event_id, t):
            stats.duplicates += 1
            result.duplicate = True
            return result
        # The clock never runs past the event's arrival: a device that is fast (within the
        # tolerance, hub.core.clock_skew) must not make other devices' events LATE.
        # An estimated time (hub.core.clock_skew.corrected) does not move it at all.
        seen = t if (arrived := event.arrived) is None or arrived >= t else arrived
        newest: int | None
        if event.trusted_time and (max_seen is None or seen > max_seen):
            moved, newest = True, seen
            clock.max_seen = seen
        else:
            moved, newest = False, max_seen
        if moved or clock.quiet_ms:
            clock.quiet_ms = 0
            if len(clocks.origins) == 1 and newest is not None:  # one origin, just seen: its
                bound: int | None = newest - clock.lateness  # watermark
            else:
                bound = clocks.release_bound()
            changed = bound != self._bounds[kind]
            self._bounds[kind] = bound
        else:
            changed = False
        suppressions = self._suppress.get(kind)
        if suppressions:
            self._buffer_suppressed(event, suppressions, result)
        else:
            self._feed(event, result)
        if moved and changed:  # only a moved watermark can release anything
            self._advance(result, kind)
        return result

    def tick(self, wall_ms: int, origins: Collection[str] | None = None,
             progress: Mapping[str, Mapping[str, int]] | None = None) -> StepResult:
        """Count live quiet time towards idleness (online only) and release what that allows.

        ``origins``: the source partitions this tick vouches for (their events up to ``wall_ms``
        have all been forwarded); None vouches for all. An origin whose upstream is stalled is
        not vouched for, so its backlog is never mistaken for silence. ``progress``: kind ->
        origin -> the newest event time its upstream has handled (forwarded here or not), sent
        after those forwards, so every event of the origin still to come here is newer in the
        origin's order: the clock may take it as seen (see SourceClock.advance).
        """
        result = StepResult()
        for kind, newest in (progress or {}).items():
            kind_clocks = self.clocks.get(kind)
            if kind_clocks is not None:
                for origin, t in newest.items():
                    kind_clocks.origin(origin).advance(t)
        for clocks in self.clocks.values():
            clocks.tick(wall_ms, origins)
        self._refresh_bounds()
        self._advance(result)
        return result

    def flush(self) -> StepResult:
        """End of input (offline): release everything, fire every pending absence, close all."""
        result = StepResult()
        self._release_suppressions(lambda _kind: POS_INF, result)
        for rr in self.rules:
            self._release_rule(rr, POS_INF, result)
            if rr.held:
                self._publish_held(rr, POS_INF, result)
        return result

    # ------------------------------------------------------------- internals

    def key_of(self, rule: Rule, event: Event) -> str | None:
        """The rule's key for ``event`` (registry fields joined by building_id); None: unkeyed."""
        return key_for(rule.by, event.fields, self.registry)

    def _key(self, rr: _RuleRuntime, event: Event) -> str | None:
        """``key_of`` with the common case first: one key field the event carries itself."""
        key_field = rr.key_field
        if key_field is not None:
            value = event.fields.get(key_field)
            if value is not None and value != "":
                return str(value)
            if not rr.join:
                return None
        return self.key_of(rr.rule, event)

    def _feed(self, event: Event, result: StepResult) -> None:
        dispatch = self._dispatch.get(event.kind)
        if dispatch is None:
            return
        late_rules: list[_RuleRuntime] | None = None
        fields = event.fields
        t = event.event_time
        dirty = self._dirty
        ident: tuple[str, str] | None = None
        for rr, mask in dispatch.pairs(fields):
            key = self._key(rr, event)
            if key is None:
                self.stats.unkeyed += 1
                continue
            if t < rr.released:
                if late_rules is None:
                    late_rules = []
                late_rules.append(rr)
                continue
            states = rr.states
            state = states.get(key)
            fresh = state is None
            if state is None:
                state = states[key] = KeyState(t)
            elif t > state.touched:
                state.touched = t
            if dirty is not None:
                dirty.add(("R", rr.rule.id, key))
            if mask == 2 and rr.absent_before_only:
                # Only ever looked back at (absence 'before'): kept in order, no release needed.
                # Events released from now on are at or after ``released``, so anything older
                # than ``released - within`` can never be looked at again.
                window = state.window
                if window and window[0][1].event_time < rr.released - rr.within:
                    prune_window(state, rr.released - rr.within)
                if not window or window[-1][1].order_key <= event.order_key:
                    window.append((2, event))
                else:
                    insort(window, (2, event), key=_order_of)
                if not fresh:
                    states[key] = states.pop(key)  # most recently touched last (the sweep)
                continue
            if ident is None:
                ident = (event.kind, event.event_id)
            pending = state.pending
            if ident in pending:
                continue  # the same event again, still waiting: nothing new
            pending[ident] = (mask, event)
            if rr.per_key:
                pq = state.pq
                if pq is None:
                    state.pq = [(event.order_key, ident)]
                else:
                    heapq.heappush(pq, (event.order_key, ident))
                scheduled = state.scheduled
                if scheduled is not None:
                    if scheduled <= t:
                        continue  # the key is queued already, no later than this event
                elif rr.lone_waits:
                    if len(pending) == 1 and not state.window and state.incident is None:
                        continue  # dormant: one event alone cannot match (see _RuleRuntime)
                    if len(pending) > 1:  # a dormant key wakes: queue its earliest event
                        first_mask, first = min(pending.values(), key=_event_order)
                        state.scheduled = first.event_time
                        heapq.heappush(rr.heap, (first.event_time, 0, first.order_key, key,
                                                 first_mask, first))
                        continue
                state.scheduled = t
            heapq.heappush(rr.heap, (t, 0, event.order_key, key, mask, event))
        if late_rules:
            late_rules.sort(key=lambda rr: rr.rule.id)
            self.stats.late += 1
            result.late.append(LateEvent(
                event, tuple(rr.rule.id for rr in late_rules), min(rr.released for rr in late_rules)
            ))

    def _buffer_suppressed(
        self,
        event: Event,
        suppressions: list[tuple[Suppression, dict[str, SuppressState]]],
        result: StepResult,
    ) -> None:
        chosen = next(((s, st) for s, st in suppressions if s.where(event.fields)), None)
        if chosen is None:  # no suppression covers it: straight to the rules' buffers
            self._feed(event, result)
            return
        supp, states = chosen
        key = suppression_key(supp, event)
        state = states.get(key)
        if state is None:
            state = states[key] = SuppressState()
        ident = (event.kind, event.event_id)
        if ident in state.pending_ids:
            return
        state.pending_ids.add(ident)
        heapq.heappush(state.pending, (event.order_key, event))
        if self._dirty is not None:
            self._dirty.add(("S", supp.id, key))
        wake = state.pending[0][0][0]
        if state.scheduled is None or wake < state.scheduled:
            state.scheduled = wake
            heapq.heappush(self._suppress_heap, (wake, supp.id, key))

    def _release_suppressions(self, bound_of: object, result: StepResult) -> None:
        heap = self._suppress_heap
        index = {s.id: (s, states) for entries in self._suppress.values() for s, states in entries}
        while heap:
            wake, sid, key = heap[0]
            supp, states = index[sid]
            bound = bound_of(supp.kind)  # type: ignore[operator]
            if wake >= bound:
                break
            heapq.heappop(heap)
            state = states.get(key)
            if state is None or state.scheduled != wake:
                continue
            state.scheduled = None
            if self._dirty is not None:
                self._dirty.add(("S", sid, key))
            while state.pending and state.pending[0][0][0] < bound:
                _, event = heapq.heappop(state.pending)
                state.pending_ids.discard((event.kind, event.event_id))
                t = event.event_time
                if state.last_time is not None and t - state.last_time <= supp.within:
                    self.stats.suppressed += 1
                else:
                    self._feed(event, result)
                state.last_time = t
            if state.pending:
                state.scheduled = state.pending[0][0][0]
                heapq.heappush(heap, (state.scheduled, sid, key))
            elif state.last_time is not None and state.last_time + supp.within < bound:
                del states[key]

    def _advance(self, result: StepResult, kind: str | None = None) -> None:
        """Release what the watermarks allow: for rules reading ``kind``, or all rules."""
        bounds = self._bounds
        if self._suppress_heap and (kind is None or kind in self._suppress):
            self._release_suppressions(
                lambda k: b if (b := bounds.get(k)) is not None else NEG_INF, result
            )
        for rr in self.rules if kind is None else self._readers.get(kind, ()):
            sources = rr.sources
            if len(sources) == 1:
                bound = bounds[sources[0]]
            else:
                bound = None
                for source in sources:
                    b = bounds[source]
                    if b is not None and (bound is None or b < bound):
                        bound = b
            if bound is None or bound <= rr.released:
                continue
            heap = rr.heap
            if heap and heap[0][0] < bound:
                self._release_rule(rr, bound, result)
            else:
                rr.released = bound
                if bound >= rr.next_gc:
                    self._sweep(rr)
            if rr.held:
                self._publish_held(rr, rr.released, result)

    def _release_rule(self, rr: _RuleRuntime, bound: int, result: StepResult) -> None:
        """Hand every buffered event before ``bound`` to the rule, in order; fire due timers."""
        if bound > rr.released:
            rr.released = bound
        if rr.per_key:
            self._release_keys(rr, bound, result)
            return
        heap = rr.heap
        rule = rr.rule
        handler = rr.handler
        states = rr.states
        dirty = self._dirty
        pop = heapq.heappop
        while heap and heap[0][0] < bound:
            t, prio, _, key, mask, event = pop(heap)
            state = states.get(key)
            if state is None:
                continue
            if prio == 0:
                if state.pending.pop((event.kind, event.event_id), None) is None:
                    continue
                matches = handler(rule, state, event, mask)
                if len(state.window) > rr.window_cap:
                    self.stats.window_dropped += cap_window(state, rr.window_cap)
            else:
                ident = (event.kind, event.event_id)
                due = state.timers.get(ident)
                if due is None or due[0] != t:
                    continue  # cancelled by an absent-kind event
                del state.timers[ident]
                matches = on_absence_timer(rule, state, event)
            if state.new_timers:
                for deadline, watched in state.new_timers:
                    heapq.heappush(heap, (deadline, 1, watched.order_key, key, 0, watched))
                state.new_timers.clear()
            if matches:
                self._apply(rr, key, state, matches, t, result)
            if dirty is not None:
                dirty.add(("R", rule.id, key))
            states[key] = states.pop(key)  # most recently processed last: the sweep's order
        if rr.released >= rr.next_gc:
            self._sweep(rr)

    def _release_keys(self, rr: _RuleRuntime, bound: int, result: StepResult) -> None:
        """``_release_rule`` for rules without timers: each due key's events before ``bound``.

        Each key still sees its own events in order; only the order in which the keys of one
        release are visited follows their earliest events rather than every event.
        """
        heap = rr.heap
        rule = rr.rule
        handler = rr.handler
        states = rr.states
        dirty = self._dirty
        pop = heapq.heappop
        while heap and heap[0][0] < bound:
            t, _, _, key, _, _ = pop(heap)
            state = states.get(key)
            if state is None or state.scheduled != t:
                continue  # superseded by an earlier event of the key, or already released
            pending = state.pending
            if len(pending) == 1:
                mask, event = pending.popitem()[1]
                state.scheduled = None
                if state.pq:
                    state.pq.clear()
                matches = handler(rule, state, event, mask)
                if len(state.window) > rr.window_cap:
                    self.stats.window_dropped += cap_window(state, rr.window_cap)
                if matches:
                    self._apply(rr, key, state, matches, t, result)
            else:
                pq = state.pq
                if pq is None:  # not kept (a state from before it existed): build it once
                    pq = state.pq = sorted((e.order_key, i) for i, (_, e) in pending.items())
                state.scheduled = None
                while pq:
                    okey, ident = pq[0]
                    entry = pending.get(ident)
                    if entry is None or entry[1].order_key != okey:
                        heapq.heappop(pq)  # released already, or replaced
                        continue
                    mask, event = entry
                    if event.event_time >= bound:
                        state.scheduled = event.event_time
                        heapq.heappush(heap, (event.event_time, 0, okey, key, mask, event))
                        break
                    heapq.heappop(pq)
                    del pending[ident]
                    matches = handler(rule, state, event, mask)
                    if len(state.window) > rr.window_cap:
                        self.stats.window_dropped += cap_window(state, rr.window_cap)
                    if matches:
                        self._apply(rr, key, state, matches, event.event_time, result)
            if dirty is not None:
                dirty.add(("R", rule.id, key))
            states[key] = states.pop(key)  # most recently processed last: the sweep's order
        if rr.released >= rr.next_gc:
            self._sweep(rr)

    def _sweep(self, rr: _RuleRuntime) -> None:
        """Forget keys that nothing can touch any more: windows expired, incident closed.

        ``states`` is ordered by when each key was last processed (event-time order), so the
        sweep stops at the first key still alive: its cost follows the keys that expired.
        """
        horizon = rr.released
        states = rr.states
        dead = []
        if horizon >= POS_INF:
            dead = list(states)
        else:
            limit = horizon - rr.rule.within - rr.hold
            lone_waits = rr.lone_waits
            held = rr.held
            for key, state in states.items():
                if state.touched >= limit:
                    break
                if state.timers or key in held:
                    continue
                if not state.pending or (lone_waits and state.scheduled is None):
                    dead.append(key)  # expired; or a dormant lone event no later one can join
        for key in dead:
            del states[key]
            if self._dirty is not None:
                self._dirty.add(("R", rr.rule.id, key))
        rr.next_gc = horizon + rr.gc_every

    def _apply(
        self,
        rr: _RuleRuntime,
        key: str,
        state: KeyState,
        matches: list[Match],
        now: int,
        result: StepResult,
    ) -> None:
        rule = rr.rule
        limits = self.pack.limits
        first_n, last_m, every = limits.evidence_first, limits.evidence_last, limits.version_every
        for evidence, risk in matches:
            inc = state.incident
            trigger = max(e.event_time for e in evidence)
            when = max(now, trigger)
            if inc is not None and trigger - inc.last_event_time <= rule.within:
                added = [e for e in evidence if not inc.knows(e)]
                raised = risk_rank(risk) > risk_rank(inc.risk_level)
                if not added and not raised:
                    continue
                if inc.held_at is not None and when >= inc.emitted_at + every:
                    # The held update's interval ended before this one: publish it as it stood
                    # then, whatever else this release holds (the same on every run).
                    self._publish(rr, key, state, inc.emitted_at + every, result)
                inc.add(added, first_n, last_m)
                inc.last_event_time = max(inc.last_event_time, trigger)
                if raised:
                    inc.risk_level = risk
                if rule.distinct_field is not None:
                    inc.values.update(e.fields.get(rule.distinct_field) for e in added)
                if not raised and when < inc.emitted_at + every:
                    # Coalesced: published when its interval ends (here, or _publish_held).
                    inc.held_at = when
                    rr.held[key] = state
                    continue
            else:
                if inc is not None and inc.held_at is not None:  # the closed one's last state
                    self._publish(rr, key, state, inc.emitted_at + every, result)
                evidence = sorted(evidence, key=lambda e: e.order_key)
                first = evidence[0]
                inc = state.incident = OpenIncident(
                    incident_id=incident_id(rule.id, key, first.event_id),
                    version=0,
                    first_event_time=first.event_time,
                    last_event_time=trigger,
                    risk_level=risk,
                    evidence=[],
                    evidence_ids=set(),
                )
                inc.add(evidence, first_n, last_m)
                if rule.distinct_field is not None:
                    inc.values.update(e.fields.get(rule.distinct_field) for e in evidence)
                self.stats.incidents_opened += 1
            self._publish(rr, key, state, when, result)

    def _publish(self, rr: _RuleRuntime, key: str, state: KeyState, when: int,
                 result: StepResult) -> None:
        """The open incident's next version, as it stands, emitted at event time ``when``."""
        inc = state.incident
        assert inc is not None
        inc.version += 1
        inc.emitted_at = when
        if inc.held_at is not None:
            inc.held_at = None
            rr.held.pop(key, None)
        result.incidents.append(self._incident(rr.rule, key, inc, when))
        if self._dirty is not None:
            self._dirty.add(("R", rr.rule.id, key))

    def _publish_held(self, rr: _RuleRuntime, bound: int, result: StepResult) -> None:
        """Coalesced updates whose interval the rule's release has passed, each as it stood at
        the end of its interval (emitted then): every update before that end has been applied,
        none after it (_apply publishes first), so they are the same on every run."""
        every = self.pack.limits.version_every
        for key, state in list(rr.held.items()):
            inc = state.incident
            if inc is None or inc.held_at is None:
                rr.held.pop(key, None)
            elif inc.emitted_at + every <= bound:
                self._publish(rr, key, state, inc.emitted_at + every, result)

    def _incident(self, rule: Rule, key: str, inc: OpenIncident, now: int) -> Incident:
        building_id, building = building_for(inc.evidence, self.registry)
        grid_id = building.grid_id if building else None
        if not grid_id:
            grid_id = next(
                (str(e.fields["grid_id"]) for e in reversed(inc.evidence)
                 if e.fields.get("grid_id")),
                None,
            )
        route = route_for(inc.risk_level, building, grid_id, rule.route_level)
        self.stats.incident_versions += 1
        if route is None:
            self.stats.unrouted += 1
        return Incident(
            incident_id=inc.incident_id,
            version=inc.version,
            rule_id=rule.id,
            rule_type=rule.type,
            title=rule.title,
            risk_level=inc.risk_level,
            key=key,
            site_id=inc.evidence[0].site_id,
            building_id=building_id,
            grid_id=grid_id,
            first_event_time=inc.first_event_time,
            last_event_time=inc.last_event_time,
            evidence=tuple(Evidence(e.kind, e.event_id, e.event_time) for e in inc.evidence),
            route=route,
            unrouted=route is None,
            building=building,
            emitted_time=now,
            evidence_count=inc.evidence_count,
        )

    # ----------------------------------------------------------- persistence

    def take_dirty(self) -> list[StateRef]:
        """States changed since the last call (the runtime writes exactly these back)."""
        if self._dirty is None:
            return []
        refs = sorted(self._dirty)
        self._dirty.clear()
        return refs

    def _rule_runtime(self, rule_id: str) -> _RuleRuntime | None:
        return self._by_id.get(rule_id)

    def _suppress_states(self, supp_id: str) -> dict[str, SuppressState] | None:
        for entries in self._suppress.values():
            for supp, states in entries:
                if supp.id == supp_id:
                    return states
        return None

    def _live_state(self, ref: StateRef) -> KeyState | SuppressState | None:
        tag, ident, key = ref
        if tag == "R":
            rr = self._rule_runtime(ident)
            state = rr.states.get(key) if rr else None
            if state is None or rr is None:
                return None
            if state.window:
                # Windows may be pruned lazily; nothing before this can share a window with an
                # event still to come (those are at or after ``released``), so do not store it.
                prune_window(state, rr.released - rr.within)
            return state
        states = self._suppress_states(ident)
        return states.get(key) if states is not None else None

    def export_state(self, ref: StateRef) -> Snapshot | None:
        """The state behind ``ref`` as a JSON-able dict; None when it no longer exists."""
        state = self._live_state(ref)
        if isinstance(state, KeyState):
            return key_state_to_dict(state)
        return suppress_state_to_dict(state) if state is not None else None

    def export_state_json(self, ref: StateRef) -> str | None:
        """``export_state`` as compact JSON text, cheaply (each event's JSON is made once)."""
        state = self._live_state(ref)
        if isinstance(state, KeyState):
            return key_state_to_json(state)
        if state is None:
            return None
        return json.dumps(suppress_state_to_dict(state), separators=(",", ":"))

    def export_state_parts(self, ref: StateRef) -> Iterator[str] | None:
        """``export_state_json``'s text in pieces (hub.core.snapshot.key_state_json_parts): a
        flooded key's state need not exist as one string. None when the state no longer
        exists."""
        state = self._live_state(ref)
        if isinstance(state, KeyState):
            return key_state_json_parts(state)
        if state is None:
            return None
        return iter((json.dumps(suppress_state_to_dict(state), separators=(",", ":")),))

    def load_state(self, ref: StateRef, data: Snapshot) -> bool:
        """Restore one exported state; False when its rule is no longer in the pack."""
        tag, ident, key = ref
        if tag == "R":
            rr = self._rule_runtime(ident)
            if rr is None:
                return False
            state = rr.states[key] = key_state_from_dict(data)
            rr.queue(key, state)
            if state.incident is not None and state.incident.held_at is not None:
                rr.held[key] = state
            else:
                rr.held.pop(key, None)
            return True
        states = self._suppress_states(ident)
        if states is None:
            return False
        sstate = states[key] = suppress_state_from_dict(data)
        if sstate.pending:
            sstate.scheduled = sstate.pending[0][0][0]
            heapq.heappush(self._suppress_heap, (sstate.scheduled, ident, key))
        return True

    def export_meta(self) -> Snapshot:
        """Watermark progress: per-source clocks and per-rule release bounds."""
        return {
            "clocks": {
                k: {o: c.max_seen for o, c in sorted(cs.origins.items())}
                for k, cs in sorted(self.clocks.items())
            },
            "released": {rr.rule.id: rr.released for rr in self.rules},
        }

    def load_meta(self, data: Snapshot) -> None:
        """Restore progress; quiet time starts again from zero (a restart is not idleness)."""
        for kind, origins in data.get("clocks", {}).items():
            if kind in self.clocks:
                if not isinstance(origins, dict):  # written before clocks were per origin
                    origins = {"": origins}
                for origin, max_seen in origins.items():
                    self.clocks[kind].origin(origin).max_seen = max_seen
        for rr in self.rules:
            rr.released = int(data.get("released", {}).get(rr.rule.id, rr.released))
        self._refresh_bounds()

    # ------------------------------------------------------------ inspection

    def open_incident_id(self, rule_id: str, key: str) -> str | None:
        """The id of the incident the rule has open for ``key`` (None: none, or no such rule)."""
        rr = self._by_id.get(rule_id)
        state = rr.states.get(key) if rr is not None else None
        inc = state.incident if state is not None else None
        return inc.incident_id if inc is not None else None

    def released(self, rule_id: str) -> int:
        """Every event of the rule before this event time has been handed to it (NEG_INF: none
        yet; a rule this engine does not run: NEG_INF)."""
        rr = self._by_id.get(rule_id)
        return rr.released if rr is not None else NEG_INF

    def pending_events(self) -> int:
        """Events buffered until their rule's release (summed over rules and suppressions: an
        event two rules wait for counts twice), the engine's part of memory that a source read
        faster than the watermark moves (a flood replayed at full speed) drives. O(states)."""
        n = sum(len(state.pending) for rr in self.rules for state in rr.states.values())
        n += sum(len(st.pending) for entries in self._suppress.values() for _, states in entries
                 for st in states.values())
        return n

    def state_size(self) -> int:
        """Number of live (rule, key) states plus suppression states: memory's main driver."""
        n = sum(len(rr.states) for rr in self.rules)
        n += sum(len(states) for entries in self._suppress.values() for _, states in entries)
        return n


__all__ = ["CorrelationEngine", "EngineStats", "LateEvent", "StepResult"]
