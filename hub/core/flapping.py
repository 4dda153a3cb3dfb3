"""Flapping suppression: a repeat of an alarm within a suppression's span of the previous one is
dropped before any rule sees it (topology/rules ``suppress:``).

The engine buffers a covered event per suppression key until its source's watermark has passed
it, then decides in event-time order, so what is dropped does not depend on arrival order. A mixin
of ``CorrelationEngine``: the engine calls these methods itself, adding no call per event.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from hub.core.rules import Suppression
from hub.core.state import SuppressState
from hub.model.events import Event

if TYPE_CHECKING:
    from hub.core.outcomes import EngineStats, StepResult
    from hub.core.restore import StateRef


def suppression_key(supp: Suppression, event: Event) -> str:
    """The state a flapping suppression keeps for ``event``: its ``by`` values joined."""
    return "|".join("" if (v := event.fields.get(n)) is None else str(v) for n in supp.by)


class FlappingSuppression:
    """The engine's suppression buffers: what is held back, and its release by watermark."""

    _dirty: set[StateRef] | None
    _suppress: dict[str, list[tuple[Suppression, dict[str, SuppressState]]]]
    _suppress_heap: list[tuple[int, str, str]]
    stats: EngineStats

    if TYPE_CHECKING:
        def _feed(self, event: Event, result: StepResult) -> None: ...

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
        ident = event.order_key
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
                state.pending_ids.discard(event.order_key)
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


__all__ = ["FlappingSuppression", "suppression_key"]
