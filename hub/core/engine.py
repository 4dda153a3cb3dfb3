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
from bisect import insort
from collections.abc import Collection, Iterable, Mapping

from hub.core.dedup import DedupLogic
from hub.core.dispatch import KindDispatch
from hub.core.flapping import FlappingSuppression
from hub.core.incident_versions import IncidentVersions
from hub.core.lanes import key_for
from hub.core.logic import prune_window
from hub.core.outcomes import EngineStats, LateEvent, StepResult
from hub.core.registry import BuildingRegistry
from hub.core.release import RuleRelease
from hub.core.restore import EngineSnapshots, StateRef
from hub.core.rule_runtime import POS_INF, RuleRuntime, pair_order
from hub.core.rules import Matcher, Rule, RulePack, Suppression
from hub.core.state import KeyState, SuppressState
from hub.core.watermark import NEG_INF, SourceClocks
from hub.model.events import Event


class CorrelationEngine(RuleRelease, FlappingSuppression, IncidentVersions, EngineSnapshots):
    """Pure, single-threaded engine; the online runtime keeps one per partition it owns.

    Input (``process``, ``tick``, ``flush``) and buffering are here; the parts it is built from
    are mixins, each in its own module: release by watermark (hub.core.release), flapping
    suppression (hub.core.flapping), incident versions (hub.core.incident_versions), and export
    and restore of its state (hub.core.restore). Mixins rather than objects of their own: the
    hot path calls them as methods of the engine, with no extra call layer per event.
    """

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
            RuleRuntime(r, pack.limits.window_events) for r in pack.rules
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
        entries: dict[str, list[tuple[RuleRuntime, int, Matcher]]] = {}
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
        self._readers: dict[str, list[RuleRuntime]] = {}
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
            current = self._bounds[kind]  # == clocks.release_bound() before this event
            if len(clocks.origins) == 1 and newest is not None:  # one origin, just seen: its
                bound: int | None = newest - clock.lateness  # watermark
            elif (moved and max_seen is not None and current is not None
                  and max_seen - clock.lateness > current):
                # Its watermark was above the kind's bound and moved on: it was not, and is not,
                # the slowest origin (its bound is now its watermark), so the bound stands. Most
                # events are such, with four or more origins per kind: no walk over every clock.
                bound = current
            else:
                bound = clocks.release_bound()
            changed = bound != current
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
        """End of input: release everything, fire every pending absence, close all.

        Then the engine goes on from the newest event time it has seen (``closed_at``): an event
        at or before it is LATE, its time closed; a newer one is taken as usual. Leaving every
        rule released to infinity made each later event LATE for ever, restarts included (the
        bound is state): one ``hub flush`` sent to a live hub by mistake stopped it for good.
        """
        result = StepResult()
        self._release_suppressions(lambda _kind: POS_INF, result)
        for rr in self.rules:
            self._release_rule(rr, POS_INF, result)
            if rr.held:
                self._publish_held(rr, POS_INF, result)
        self._reopen(self.closed_at())
        return result

    def closed_at(self) -> int:
        """Just after the newest event time any source has seen: where a flush closes time."""
        seen = [c.max_seen for cs in self.clocks.values() for c in cs.origins.values()
                if c.max_seen is not None]
        return max(seen) + 1 if seen else NEG_INF

    def _reopen(self, closed: int) -> None:
        for rr in self.rules:
            if rr.released >= POS_INF:
                rr.released = closed
                rr.next_gc = NEG_INF

    # ------------------------------------------------------------- internals

    def key_of(self, rule: Rule, event: Event) -> str | None:
        """The rule's key for ``event`` (registry fields joined by building_id); None: unkeyed."""
        return key_for(rule.by, event.fields, self.registry, event.event_time)

    def _key(self, rr: RuleRuntime, event: Event) -> str | None:
        """``key_of`` with the common case first: one key field the event carries itself."""
        key_field = rr.key_field
        if key_field is not None:
            value = event.fields.get(key_field)
            if value is not None and value != "":
                return str(value)
            if not rr.join:
                return None
        pair = rr.key_pair
        if pair is not None:  # as key_for: "a|b", None when either is missing or empty
            fields = event.fields
            a, b = fields.get(pair[0]), fields.get(pair[1])
            if a is None or a == "" or b is None or b == "":
                return None
            return f"{a}|{b}"
        return self.key_of(rr.rule, event)

    def _feed(self, event: Event, result: StepResult) -> None:
        dispatch = self._dispatch.get(event.kind)
        if dispatch is None:
            return
        late_rules: list[RuleRuntime] | None = None
        fields = event.fields
        t = event.event_time
        dirty = self._dirty
        ident = event.order_key
        for rr, mask in dispatch.pairs(fields):
            # ``_key``'s common case in line (it runs for every rule an event reaches)
            key_field = rr.key_field
            if key_field is not None and (value := fields.get(key_field)) is not None \
                    and value != "":
                key = value if type(value) is str else str(value)
            elif (pair := rr.key_pair) is not None and (a := fields.get(pair[0])) \
                    and (b := fields.get(pair[1])):  # a site's door (else _key decides)
                key = f"{a}|{b}"
            else:
                found = self._key(rr, event)
                if found is None:
                    self.stats.unkeyed += 1
                    continue
                key = found
            if t < rr.released:
                if late_rules is None:
                    late_rules = []
                late_rules.append(rr)
                continue
            states = rr.states
            state = states.get(key)
            fresh = state is None
            if dirty is not None:
                dirty.add(("R", rr.rule.id, key))
            if state is None:
                if rr.lone_waits:
                    lone = rr.lone
                    prior = lone.get(key)
                    if prior is None:  # dormant: one event alone cannot match (RuleRuntime)
                        lone[key] = (mask, event)
                        continue
                    first = prior[1]
                    if first.order_key == ident:
                        continue  # the same event again, still waiting: nothing new
                    del lone[key]
                    state = states[key] = KeyState.of_lone(prior)
                    if t > state.touched:
                        state.touched = t
                else:
                    state = states[key] = KeyState(t)
            elif t > state.touched:
                state.touched = t
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
                    insort(window, (2, event), key=pair_order)
                if not fresh:
                    states[key] = states.pop(key)  # most recently touched last (the sweep)
                continue
            pending = state.pending
            if ident in pending:
                continue  # the same event again, still waiting: nothing new
            pending[ident] = (mask, event)
            if rr.per_key:
                pq = state.pq
                if pq is not None:  # kept while several are pending; else built at release
                    heapq.heappush(pq, (event.order_key, ident))
                scheduled = state.scheduled
                if scheduled is not None:
                    if scheduled <= t:
                        continue  # the key is queued already, no later than this event
                elif rr.lone_waits:
                    if len(pending) == 1 and not state.window and state.incident is None:
                        continue  # dormant: one event alone cannot match (see RuleRuntime)
                    if len(pending) > 1:  # a dormant key wakes: queue its earliest event
                        first_mask, first = min(pending.values(), key=pair_order)
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
        n += sum(len(rr.lone) for rr in self.rules)
        n += sum(len(st.pending) for entries in self._suppress.values() for _, states in entries
                 for st in states.values())
        return n

    def state_size(self) -> int:
        """Number of live (rule, key) states plus suppression states: memory's main driver."""
        n = sum(len(rr.states) + len(rr.lone) for rr in self.rules)
        n += sum(len(states) for entries in self._suppress.values() for _, states in entries)
        return n



__all__ = ["CorrelationEngine", "EngineStats", "LateEvent", "StepResult"]
