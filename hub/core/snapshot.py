"""Engine state as plain JSON-able dicts, one per (rule, key), so the runtime can persist it.

The online worker writes each changed state to a changelog-backed table after every batch and
rebuilds the engine from those entries after a restart or rebalance. Nothing here does I/O.
"""

from __future__ import annotations

import heapq
from typing import Any

from hub.core.state import KeyState, OpenIncident, SuppressState
from hub.model.events import Event

Snapshot = dict[str, Any]


def event_to_dict(event: Event) -> list[Any]:
    return [event.kind, dict(event.fields)]


def event_from_dict(data: list[Any]) -> Event:
    return Event.from_record(data[0], data[1])


def key_state_to_dict(state: KeyState) -> Snapshot:
    out: Snapshot = {}
    if state.pending:
        out["p"] = [event_to_dict(e) for _, e in sorted(state.pending, key=lambda x: x[0])]
    if state.window:
        out["w"] = [[mask, event_to_dict(e)] for mask, e in state.window]
    if state.timers:
        out["t"] = [[d, event_to_dict(e)] for d, _, e in sorted(state.timers, key=lambda x: x[:2])]
    inc = state.incident
    if inc is not None:
        out["i"] = {
            "id": inc.incident_id,
            "v": inc.version,
            "ft": inc.first_event_time,
            "lt": inc.last_event_time,
            "r": inc.risk_level,
            "e": [event_to_dict(e) for e in inc.evidence],
            "vals": sorted(inc.values, key=repr),
        }
    return out


def key_state_from_dict(data: Snapshot) -> KeyState:
    state = KeyState()
    for raw in data.get("p", ()):
        state.add_pending(event_from_dict(raw))
    state.window = [(int(mask), event_from_dict(raw)) for mask, raw in data.get("w", ())]
    for deadline, raw in data.get("t", ()):
        e = event_from_dict(raw)
        heapq.heappush(state.timers, (int(deadline), e.order_key, e))
    if "i" in data:
        i = data["i"]
        evidence = [event_from_dict(raw) for raw in i["e"]]
        state.incident = OpenIncident(
            incident_id=i["id"],
            version=int(i["v"]),
            first_event_time=int(i["ft"]),
            last_event_time=int(i["lt"]),
            risk_level=i["r"],
            evidence=evidence,
            evidence_ids={(e.kind, e.event_id) for e in evidence},
            values=set(i.get("vals", ())),
        )
    return state


def suppress_state_to_dict(state: SuppressState) -> Snapshot:
    out: Snapshot = {"last": state.last_time}
    if state.pending:
        out["p"] = [event_to_dict(e) for _, e in sorted(state.pending, key=lambda x: x[0])]
    return out


def suppress_state_from_dict(data: Snapshot) -> SuppressState:
    state = SuppressState(last_time=data.get("last"))
    for raw in data.get("p", ()):
        e = event_from_dict(raw)
        state.pending_ids.add((e.kind, e.event_id))
        heapq.heappush(state.pending, (e.order_key, e))
    return state
