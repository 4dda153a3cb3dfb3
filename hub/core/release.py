"""Release by watermark: buffered events handed to their rules in event-time order.

``_advance`` finds, per rule, the lowest release bound of the sources it reads; everything before
it is handed to the rule's handler (hub.core.logic) in ``Event.order_key`` order, due absence
timers fire, and expired keys are swept. This is what makes incidents depend only on the set of
events. A mixin of ``CorrelationEngine``: it runs when a watermark moves, not per event.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from hub.core.logic import Match, cap_window, on_absence_timer
from hub.core.rule_runtime import POS_INF, RuleRuntime
from hub.core.rules import Suppression
from hub.core.state import KeyState, SuppressState
from hub.core.watermark import NEG_INF

if TYPE_CHECKING:
    from hub.core.outcomes import EngineStats, StepResult
    from hub.core.restore import StateRef


class RuleRelease:
    """Hands each rule what its sources' watermarks allow, fires timers, forgets dead keys."""

    rules: list[RuleRuntime]
    stats: EngineStats
    _dirty: set[StateRef] | None
    _bounds: dict[str, int | None]
    _readers: dict[str, list[RuleRuntime]]
    _suppress: dict[str, list[tuple[Suppression, dict[str, SuppressState]]]]
    _suppress_heap: list[tuple[int, str, str]]

    if TYPE_CHECKING:
        def _release_suppressions(self, bound_of: object, result: StepResult) -> None: ...
        def _apply(self, rr: RuleRuntime, key: str, state: KeyState, matches: list[Match],
                   now: int, result: StepResult) -> None: ...
        def _publish_held(self, rr: RuleRuntime, bound: int, result: StepResult) -> None: ...

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

    def _release_rule(self, rr: RuleRuntime, bound: int, result: StepResult) -> None:
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
                if state.pending.pop(event.order_key, None) is None:
                    continue
                matches = handler(rule, state, event, mask)
                if len(state.window) > rr.window_cap:
                    self.stats.window_dropped += cap_window(state, rr.window_cap)
            else:
                ident = event.order_key
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

    def _release_keys(self, rr: RuleRuntime, bound: int, result: StepResult) -> None:
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
                state.pq = None
                matches = handler(rule, state, event, mask)
                if len(state.window) > rr.window_cap:
                    self.stats.window_dropped += cap_window(state, rr.window_cap)
                if matches:
                    self._apply(rr, key, state, matches, t, result)
            else:
                pq = state.pq
                if pq is None:  # not kept while one was pending (or restored): build it once
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
                if not pq:
                    state.pq = None
            if dirty is not None:
                dirty.add(("R", rule.id, key))
            states[key] = states.pop(key)  # most recently processed last: the sweep's order
        if rr.released >= rr.next_gc:
            self._sweep(rr)

    def _sweep(self, rr: RuleRuntime) -> None:
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
        lone = rr.lone
        if lone:  # dormant lone events, in arrival order: the same test as a dormant state's
            if horizon >= POS_INF:
                dead += lone
            else:
                for key, (_, event) in lone.items():
                    if event.event_time >= limit:
                        break
                    dead.append(key)
        for key in dead:
            if states.pop(key, None) is None:
                del lone[key]
            if self._dirty is not None:
                self._dirty.add(("R", rr.rule.id, key))
        rr.next_gc = horizon + rr.gc_every


__all__ = ["RuleRelease"]
