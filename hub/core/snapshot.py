"""Engine state as plain JSON-able dicts, one per (rule, key), so the runtime can persist it.

The online worker writes each changed state to a changelog-backed table after every batch and
rebuilds the engine from those entries after a restart or rebalance. Nothing here does I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from hub.core.state import KeyState, OpenIncident, OrderKey, SuppressState
from hub.core.watermark import NEG_INF
from hub.model.events import Event

Snapshot = dict[str, Any]


def compact_json(value: Any) -> str:
    """Compact JSON text (non-ASCII as UTF-8, not escaped) for the engine's state and the
    worker's frames and headers.

    orjson rather than the standard library: ingest encodes every event it forwards and the
    correlator's state is written at every checkpoint; orjson takes ~0.4 µs for an event where
    ``json`` took ~3.9 (BENCHMARKS.md §3). It refuses what JSON cannot carry exactly (a dict key
    that is not a string, an integer past 64 bits) with a TypeError instead of guessing.
    """
    return orjson.dumps(value).decode()


def event_to_dict(event: Event) -> list[Any]:
    """An event as the compact ``[kind, fields]`` pair the snapshots store."""
    return [event.kind, dict(event.fields)]


def event_json(event: Event) -> str:
    """``event_to_dict`` as JSON text, computed once per event."""
    text = event.json_cache
    if text is None:
        text = compact_json([event.kind, event.fields])
        object.__setattr__(event, "json_cache", text)
    return text


def event_from_dict(data: list[Any]) -> Event:
    """The inverse of event_to_dict."""
    return Event.from_record(data[0], data[1])


def key_state_to_dict(state: KeyState) -> Snapshot:
    """A key's state as JSON-able data with short field names and empty parts omitted (every changed
    state is written after each batch, so size matters); key_state_from_dict inverts it."""
    out: Snapshot = {}
    if state.pending:
        items = sorted(state.pending.values(), key=lambda x: x[1].order_key)
        out["p"] = [[m, event_to_dict(e)] for m, e in items]
    if state.window:
        out["w"] = [[mask, event_to_dict(e)] for mask, e in state.window]
    if state.timers:
        timers = sorted(state.timers.values(), key=lambda x: (x[0], x[1].order_key))
        out["t"] = [[d, event_to_dict(e)] for d, e in timers]
    out["u"] = state.touched
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
            **_bounds_of(inc),
        }
    return out


def _bounds_of(inc: OpenIncident) -> Snapshot:
    """The flood-bound fields of an open incident, left out while they say nothing."""
    out: Snapshot = {}
    if inc.evidence_count != len(inc.evidence):
        out["n"] = inc.evidence_count
    if inc.dropped is not None:
        out["d"] = [list(inc.dropped[0]), list(inc.dropped[1])]
    if inc.emitted_at != NEG_INF:
        out["ea"] = inc.emitted_at
    if inc.held_at is not None:
        out["ha"] = inc.held_at
    return out


def key_state_to_json(state: KeyState) -> str:
    """``json.dumps(key_state_to_dict(state))``, compactly, built from each event's cached JSON:
    the text that key_state_from_dict(json.loads(...)) reads back."""
    return "".join(key_state_json_parts(state))


def key_state_json_parts(state: KeyState) -> Iterator[str]:
    """``key_state_to_json``'s text in pieces (about one per event), so a writer can encode and
    compress a flooded key's multi-megabyte state as it goes instead of holding it whole."""
    yield "{"
    if state.pending:
        items = sorted(state.pending.values(), key=lambda x: x[1].order_key)
        yield from _listed('"p":[', ((m, e) for m, e in items))
        yield ","
    if state.window:
        yield from _listed('"w":[', state.window)
        yield ","
    if state.timers:
        timers = sorted(state.timers.values(), key=lambda x: (x[0], x[1].order_key))
        yield from _listed('"t":[', timers)
        yield ","
    yield f'"u":{int(state.touched)}'
    inc = state.incident
    if inc is not None:
        head = compact_json({"id": inc.incident_id, "v": inc.version, "ft": inc.first_event_time,
                        "lt": inc.last_event_time, "r": inc.risk_level,
                        "vals": sorted(inc.values, key=repr), **_bounds_of(inc)})
        yield f',"i":{head[:-1]},"e":['
        for i, e in enumerate(inc.evidence):
            yield ("," if i else "") + event_json(e)
        yield "]}"
    yield "}"


def _listed(head: str, pairs: Iterable[tuple[int, Event]]) -> Iterator[str]:
    """``head`` then ``[n,<event JSON>]`` per pair, comma-separated, then ``]``."""
    yield head
    sep = ""
    for n, e in pairs:
        yield f"{sep}[{n},{event_json(e)}]"
        sep = ","
    yield "]"


def _order(raw: list[Any]) -> OrderKey:
    return (int(raw[0]), int(raw[1]), str(raw[2]))


def key_state_from_dict(data: Snapshot) -> KeyState:
    """The KeyState a key_state_to_dict snapshot describes."""
    state = KeyState(touched=int(data.get("u", NEG_INF)))
    for mask, raw in data.get("p", ()):
        e = event_from_dict(raw)
        state.pending[e.order_key] = (int(mask), e)
    state.window = [(int(mask), event_from_dict(raw)) for mask, raw in data.get("w", ())]
    for deadline, raw in data.get("t", ()):
        e = event_from_dict(raw)
        state.add_timer(int(deadline), e, queue=False)  # the engine queues restored timers
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
            evidence_ids={e.order_key for e in evidence},
            values=set(i.get("vals", ())),
            evidence_count=int(i.get("n", len(evidence))),
            dropped=None if "d" not in i else (_order(i["d"][0]), _order(i["d"][1])),
            emitted_at=int(i.get("ea", NEG_INF)),
            held_at=None if i.get("ha") is None else int(i["ha"]),
        )
    return state


def suppress_state_to_dict(state: SuppressState) -> Snapshot:
    """A suppression's state as JSON-able data; suppress_state_from_dict inverts it."""
    out: Snapshot = {"last": state.last_time}
    if state.pending:
        out["p"] = [event_to_dict(e) for _, e in sorted(state.pending, key=lambda x: x[0])]
    return out


def suppress_state_from_dict(data: Snapshot) -> SuppressState:
    """The SuppressState a suppress_state_to_dict snapshot describes."""
    state = SuppressState(last_time=data.get("last"))
    for raw in data.get("p", ()):
        e = event_from_dict(raw)
        state.pending_ids.add(e.order_key)
        heapq.heappush(state.pending, (e.order_key, e))
    return state
