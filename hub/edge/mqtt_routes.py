"""What ``hub mqtt-bridge`` does with one MQTT message, without MQTT or Kafka: pure.

:func:`plan_message` turns a payload into the validated records to produce, the pieces to keep
on the dead-letter topic (the bytes of that piece, with the reason) and the count of events with
nothing to store, through the vendor mappings of ``connectors/``. Which subscription a topic
belongs to is hub.edge.mqtt_subscriptions; when a message may be acknowledged is
hub.edge.mqtt_acks.

The validator (``EdgeSink.validate``: the hub's own contract, pseudonymization included) is a
parameter, so the whole path from bytes to records is testable without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.common import MAX_PAYLOAD_BYTES, Mapped, MappingError
from connectors.dahua import mapping as dahua
from hub.codec import json_names
from hub.edge.mqtt_subscriptions import Subscription, site_of
from hub.edge.vendor_mapping import map_payload
from hub.model.errors import DecodeError, RecordError, quoted
from hub.model.events import SOURCE_KINDS

#: Vendor label of a message on a topic no subscription matches: one under the ``unmatched:``
#: filter, or one a subscription the broker kept in the bridge's persistent session after the
#: config changed.
UNROUTED = "unrouted"
#: Largest piece of an oversized payload kept on the dead-letter topic (Kafka takes ~1 MiB).
DEAD_LETTER_HEAD = 64 * 1024

Validate = Callable[..., tuple[str, dict[str, Any]]]


@dataclass
class Plan:
    """What one message becomes: ``received`` events, of which ``records`` are to be produced,
    ``dead`` (bytes, error, kind) rejected and kept on the dead-letter topic, ``skipped`` have
    nothing to store (a heartbeat, an alarm's end)."""

    vendor: str
    received: int = 0
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    dead: list[tuple[bytes, RecordError, str | None]] = field(default_factory=list)
    skipped: int = 0

    def reject(self, raw: bytes, error: RecordError, kind: str | None = None) -> None:
        """Keep ``raw`` for the dead-letter topic, cut to DEAD_LETTER_HEAD bytes (said in the
        error's detail) so one huge message cannot block the topic."""
        if len(raw) > DEAD_LETTER_HEAD:
            raw = raw[:DEAD_LETTER_HEAD]
            error = RecordError(f"{error.detail} (payload cut to its first {DEAD_LETTER_HEAD} "
                                "bytes)", field=error.field, reason=error.reason)
        self.dead.append((raw, error, kind))


def plan_message(sub: Subscription | None, captured: Mapping[str, str], payload: bytes, *,
                 validate: Validate, pseudonym_key: str | bytes, received_ms: int,
                 dahua_open: dahua.OpenEvents = frozenset(), topic: str = "",
                 ) -> tuple[Plan, dahua.OpenEvents]:
    """One MQTT payload -> its :class:`Plan`, and the Dahua pairing state after it.

    ``sub`` None: the topic matches no subscription (the whole payload is dead-lettered).
    ``dahua_open``: the open Start events of this message's device (only Dahua uses it)."""
    if sub is None:
        plan = Plan(UNROUTED, received=1)
        plan.reject(payload, RecordError(
            f"no subscription of mqtt.yaml matches topic {topic!r}; publish under a topic a "
            "subscription reads (hub mqtt-bridge logs them at start), or add one for it "
            "(docs/mqtt.md)",
            field="topic", reason="UNKNOWN_SCHEMA"))
        return plan, dahua_open
    plan = Plan(sub.format)
    values = sub.values(captured)
    if len(payload) > MAX_PAYLOAD_BYTES:
        plan.received = 1
        plan.reject(payload, DecodeError(f"payload of {len(payload)} bytes is over the "
                                         f"{MAX_PAYLOAD_BYTES}-byte limit; publish the event "
                                         "without its picture", field="payload"))
        return plan, dahua_open
    if sub.format == "interchange":
        _interchange(plan, values, payload, validate)
        return plan, dahua_open
    try:
        site = site_of(values)
    except MappingError as exc:
        plan.received = 1
        plan.reject(payload, exc)
        return plan, dahua_open
    mapped = map_payload(sub.format, payload, site=site, pseudonym_key=pseudonym_key,
                         device_id=values.get("device_id", ""), received_ms=received_ms,
                         dahua_open=dahua_open)
    plan.received = len(mapped.pieces)
    for piece in mapped.pieces:
        if piece.error is not None:
            plan.reject(piece.raw, piece.error)
        elif piece.mapped is None:
            plan.skipped += 1  # heartbeat, an alarm's end, a Dahua Stop or repeated Start
        else:
            _accept(plan, piece.mapped, piece.raw, validate)
    return plan, mapped.dahua_open


def _accept(plan: Plan, mapped: Mapped, raw: bytes, validate: Validate) -> None:
    """The hub's own validator has the last word on a mapped record too."""
    try:
        plan.records.append(validate(mapped.line(), accept=[mapped.kind]))
    except RecordError as exc:
        plan.reject(raw, exc, mapped.kind)


def _interchange(plan: Plan, values: Mapping[str, str], payload: bytes,
                 validate: Validate) -> None:
    try:
        # a byte-order mark (Windows tools write one) is not part of the JSON, as at the gateway
        pieces = json_pieces(payload.decode("utf-8").removeprefix("\ufeff"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        plan.received = 1
        plan.reject(payload, DecodeError(f"not valid UTF-8 JSON ({exc}); publish one event "
                                         "object or an array of them", field="payload"))
        return
    if not pieces:
        plan.received = 1
        plan.reject(payload, DecodeError("an empty array; publish one event object or a "
                                         "non-empty array of them", field="payload"))
        return
    plan.received = len(pieces)
    fixed_kind = values.get("kind")
    for item, raw in pieces:
        try:
            plan.records.append(_interchange_event(item, values, fixed_kind, validate))
        except RecordError as exc:
            kind = item.get("kind") if isinstance(item, Mapping) else None
            plan.reject(raw, exc, kind if isinstance(kind, str) else None)


def _interchange_event(item: Any, values: Mapping[str, str], fixed_kind: str | None,
                       validate: Validate) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict):
        raise DecodeError(f"expected an event object, got {type(item).__name__}", field="payload")
    given = item.get("kind")
    if fixed_kind is not None and given is not None and given != fixed_kind:
        raise RecordError(f"{quoted(given)} does not match the topic's kind {fixed_kind!r}; leave "
                          "kind out or publish on that kind's topic", field="kind")
    kind = given if given is not None else fixed_kind
    if kind is not None and kind not in SOURCE_KINDS:
        raise RecordError(f"{quoted(kind)} is not taken over MQTT; use one of "
                          f"{', '.join(SOURCE_KINDS)}", field="kind", reason="UNKNOWN_SCHEMA")
    obj = json_names.with_fields(item, **({"kind": kind} if kind is not None else {}))
    for name in ("site_id", "building_id"):
        expected = values.get(name)
        if expected is None:
            continue
        if obj.get(name) is None:
            obj[name] = expected
        elif obj[name] != expected:
            raise RecordError(f"{obj[name]!r}, but the topic says {expected!r}; a device "
                              f"publishes only for its own {name}", field=name)
    return validate(obj, accept=SOURCE_KINDS)


def json_pieces(text: str) -> list[tuple[Any, bytes]]:
    """A JSON object -> [(it, its bytes)]; an array -> each element with its own bytes, exactly
    as published (so a rejected element is dead-lettered as its sender wrote it).

    Raises ValueError when the text is not one JSON value."""
    decoder = json_names.DECODER
    start = _skip_ws(text, 0)
    if text[start:start + 1] != "[":
        value, end = decoder.raw_decode(text, start)
        if _skip_ws(text, end) != len(text):
            raise ValueError(f"extra data after the JSON value at character {end}")
        return [(value, text[start:end].encode("utf-8"))]
    pieces: list[tuple[Any, bytes]] = []
    pos = _skip_ws(text, start + 1)
    if text[pos:pos + 1] == "]":
        pos += 1
    else:
        while True:
            value, end = decoder.raw_decode(text, pos)
            pieces.append((value, text[pos:end].encode("utf-8")))
            pos = _skip_ws(text, end)
            sep = text[pos:pos + 1]
            pos = _skip_ws(text, pos + 1)
            if sep == "]":
                break
            if sep != ",":
                raise ValueError(f"expected ',' or ']' at character {pos}")
    if _skip_ws(text, pos) != len(text):
        raise ValueError(f"extra data after the JSON array at character {pos}")
    return pieces


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
