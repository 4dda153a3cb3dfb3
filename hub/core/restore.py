"""Export and restore of the engine's state, one (rule or suppression, key) at a time.

The online worker writes back exactly the states changed since the last batch (``take_dirty``) and
the watermark progress (``export_meta``) to its changelog, and after a restart or rebalance loads
them into a fresh engine, which then carries on as if it had never stopped. The dict and JSON forms
themselves are in hub.core.snapshot. A mixin of ``CorrelationEngine``, called per batch.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hub.core.logic import prune_window
from hub.core.rule_runtime import RuleRuntime
from hub.core.rules import Suppression
from hub.core.snapshot import (
    Snapshot,
    compact_json,
    key_state_from_dict,
    key_state_json_parts,
    key_state_to_dict,
    key_state_to_json,
    suppress_state_from_dict,
    suppress_state_to_dict,
)
from hub.core.state import KeyState, SuppressState
from hub.core.watermark import SourceClocks

StateRef = tuple[str, str, str]  # ("R", rule id, key) or ("S", suppression id, key)


class EngineSnapshots:
    """The changed-state log, per-state export and load, and the watermark progress."""

    rules: list[RuleRuntime]
    clocks: dict[str, SourceClocks]
    _by_id: dict[str, RuleRuntime]
    _dirty: set[StateRef] | None
    _suppress: dict[str, list[tuple[Suppression, dict[str, SuppressState]]]]
    _suppress_heap: list[tuple[int, str, str]]

    if TYPE_CHECKING:
        def _refresh_bounds(self) -> None: ...
        def closed_at(self) -> int: ...  # noqa: D102 (CorrelationEngine.closed_at)
        def _reopen(self, closed: int) -> None: ...

    def take_dirty(self) -> list[StateRef]:
        """States changed since the last call (the runtime writes exactly these back)."""
        if self._dirty is None:
            return []
        refs = sorted(self._dirty)
        self._dirty.clear()
        return refs

    def _rule_runtime(self, rule_id: str) -> RuleRuntime | None:
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
            if rr is None:
                return None
            state = rr.states.get(key)
            if state is None:  # a dormant lone event is saved as the state it stands for
                lone = rr.lone.get(key)
                return None if lone is None else KeyState.of_lone(lone)
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
        return compact_json(suppress_state_to_dict(state))

    def export_state_parts(self, ref: StateRef) -> Iterator[str] | None:
        """``export_state_json``'s text in pieces (hub.core.snapshot.key_state_json_parts): a
        flooded key's state need not exist as one string. None when the state no longer
        exists."""
        state = self._live_state(ref)
        if isinstance(state, KeyState):
            return key_state_json_parts(state)
        if state is None:
            return None
        return iter((compact_json(suppress_state_to_dict(state)),))

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
        # a state flushed before flushes reopened time (CorrelationEngine.flush) is reopened now
        self._reopen(self.closed_at())
        self._refresh_bounds()


__all__ = ["EngineSnapshots", "StateRef"]
