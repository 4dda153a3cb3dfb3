"""A vendor payload through its ``connectors/`` mapping, the same for every channel: pure.

``hub gateway`` (vendor_routes.py) and ``hub mqtt-bridge`` (mqtt_routes.py) receive the same
Hikvision, Dahua and GA/T 1400 payloads; :func:`map_payload` is the one place that knows which
mapping reads which vendor, how a payload splits into events, which bytes of each event are kept
for the dead-letter topic, and how Dahua's Start/Stop pairing moves. Each channel then only
decides what to do with the pieces (validate, produce, dead-letter, count) in its own terms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.common import Mapped, MappingError, Site
from connectors.dahua import mapping as dahua
from connectors.gat1400 import mapping as gat1400
from connectors.hikvision_isapi import mapping as hikvision

#: The vendors with a mapping here (``interchange`` JSON needs none).
VENDORS = ("hikvision", "dahua", "gat1400")


@dataclass(frozen=True)
class Piece:
    """One event of a payload: its own bytes (what a dead letter keeps) and what became of it.

    ``error``: it could not be mapped; else ``mapped`` None: nothing to store (a heartbeat, an
    alarm's end, a Dahua Stop). ``dahua_event``: the parsed Dahua block that moved the pairing
    state (the gateway replays it over what Kafka stored)."""

    raw: bytes
    mapped: Mapped | None = None
    error: MappingError | None = None
    dahua_event: dahua.DahuaEvent | None = None
    #: that block's time, as the pairing took it
    dahua_at: int | None = None


@dataclass(frozen=True)
class MappedPayload:
    """A payload's pieces in order (a piece's position is the event's index in the payload), and
    the device's Dahua pairing state after them (the state passed in, for other vendors)."""

    vendor: str
    pieces: tuple[Piece, ...]
    dahua_open: dahua.OpenEvents = frozenset()


def map_payload(vendor: str, payload: bytes, *, site: Site, pseudonym_key: str | bytes,
                device_id: str = "", received_ms: int = 0,
                dahua_open: dahua.OpenEvents = frozenset()) -> MappedPayload:
    """Map ``payload`` of ``vendor`` (one of VENDORS) into pieces; never raises MappingError: a
    payload that cannot be read at all is one piece carrying the error and the whole payload.

    ``device_id``, ``received_ms`` and ``dahua_open`` are for Dahua only (its event lines name
    neither the device nor a time; a Start and its Stop are one event)."""
    mapper = _MAPPERS.get(vendor)
    if mapper is None:
        raise ValueError(f"vendor {vendor!r} has no mapping; use one of {', '.join(VENDORS)}")
    return mapper(payload, site, pseudonym_key, device_id, received_ms, dahua_open)


def _hikvision(payload: bytes, site: Site, key: str | bytes, _device_id: str,
               _received_ms: int, state: dahua.OpenEvents) -> MappedPayload:
    try:
        mapped = hikvision.map_alert(payload, site=site, pseudonym_key=key)
    except MappingError as exc:
        return MappedPayload("hikvision", (Piece(payload, error=exc),), state)
    return MappedPayload("hikvision", (Piece(payload, mapped),), state)


def _gat1400(payload: bytes, site: Site, key: str | bytes, _device_id: str,
             _received_ms: int, state: dahua.OpenEvents) -> MappedPayload:
    try:
        outcomes = gat1400.map_notifications(payload, site=site, pseudonym_key=key)
    except MappingError as exc:
        return MappedPayload("gat1400", (Piece(payload, error=exc),), state)
    items = _gat1400_items(payload)
    pieces = []
    for index, outcome in enumerate(outcomes):
        raw = json.dumps(items[index], ensure_ascii=False).encode("utf-8") \
            if index < len(items) else payload
        if isinstance(outcome, MappingError):
            pieces.append(Piece(raw, error=outcome))
        else:
            pieces.append(Piece(raw, outcome))
    return MappedPayload("gat1400", tuple(pieces), state)


def _gat1400_items(payload: bytes) -> list[Any]:
    """The raw notifications (map_notifications read them already: this cannot fail then)."""
    envelope = json.loads(payload).get(gat1400.LIST, {})
    items = envelope.get(gat1400.ITEM) if isinstance(envelope, Mapping) else None
    if isinstance(items, Mapping):
        return [items]
    return items if isinstance(items, list) else []


def _dahua(payload: bytes, site: Site, _key: str | bytes, device_id: str, received_ms: int,
           state: dahua.OpenEvents) -> MappedPayload:
    """Event blocks; the pairing state moves with each block that parsed (a block that did not
    leaves it, as in map_stream)."""
    blocks = dahua.split_events(_dahua_text(payload))
    if not blocks:
        error = MappingError("Code", "no event block; expected lines Code=<code>;"
                             "action=<Start|Stop|Pulse>;index=<n>[;data={...}]",
                             reason="DECODE_ERROR")
        return MappedPayload("dahua", (Piece(payload, error=error),), state)
    pieces = []
    for block in blocks:
        raw = block.encode("utf-8")
        try:
            event = dahua.parse_event(block)
            at = dahua.when(event, site, received_ms)
            new_state, emit = dahua.pair(state, device_id, event, at)
            mapped = dahua.map_event(event, device_id=device_id, site=site,
                                     received_ms=received_ms) if emit else None
        except MappingError as exc:
            pieces.append(Piece(raw, error=exc))
            continue
        state = new_state
        pieces.append(Piece(raw, mapped, dahua_event=event, dahua_at=at))
    return MappedPayload("dahua", tuple(pieces), state)


def _dahua_text(payload: bytes) -> str:
    """Dahua firmware sends UTF-8; older Chinese firmware GB18030 (rule names)."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("gb18030", errors="replace")


_Mapper = Callable[[bytes, Site, "str | bytes", str, int, dahua.OpenEvents], MappedPayload]
_MAPPERS: dict[str, _Mapper] = {"hikvision": _hikvision, "dahua": _dahua, "gat1400": _gat1400}
