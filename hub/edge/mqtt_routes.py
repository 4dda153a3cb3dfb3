"""What ``hub mqtt-bridge`` does with one MQTT message, without MQTT or Kafka: pure.

- :class:`Subscription`: one entry of ``topology/mqtt.yaml``: a topic filter whose levels may be
  named placeholders (``hub/hikvision/{site_id}/{device_id}``), the payload's format, and fixed
  values for what neither the topic nor the payload says (``zone``, ``building_id``, ...);
- :func:`plan_message`: a payload -> the validated records to produce, the pieces to keep on the
  dead-letter topic (the bytes of that piece, with the reason) and the count of events with
  nothing to store, through the vendor mappings of ``connectors/``;
- :class:`AckOrder`: which received messages may be acknowledged to the broker now.

The validator (``EdgeSink.validate``: the hub's own contract, pseudonymization included) is a
parameter, so the whole path from bytes to records is testable without a broker.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connectors.common import DEFAULT_ZONE, MAX_PAYLOAD_BYTES, Mapped, MappingError, Site
from connectors.dahua import mapping as dahua
from connectors.gat1400 import mapping as gat1400
from connectors.hikvision_isapi import mapping as hikvision
from hub.model.errors import ConfigError, DecodeError, RecordError
from hub.model.events import SOURCE_KINDS

#: Payload formats a subscription can name; each is also the vendor label of the edge metrics.
FORMATS = ("interchange", "hikvision", "dahua", "gat1400")
#: What a topic level or a fixed value may fill in: the site (小区), its building and time zone,
#: the device (Dahua lines do not name it) and, for interchange payloads, the kind.
PLACEHOLDERS = ("site_id", "building_id", "zone", "device_id", "kind")
#: Vendor label of a message on a topic no subscription matches (a stale subscription the broker
#: kept in the bridge's persistent session after the config changed).
UNROUTED = "unrouted"
#: Largest piece of an oversized payload kept on the dead-letter topic (Kafka takes ~1 MiB).
DEAD_LETTER_HEAD = 64 * 1024

_PLACEHOLDER = re.compile(r"^\{([a-z_]+)\}$")

Validate = Callable[..., tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Subscription:
    """One subscription of ``topology/mqtt.yaml``.

    ``pattern``: the configured filter (``hub/dahua/{site_id}/{device_id}``); ``topic_filter``:
    what is subscribed at the broker (placeholders as ``+``); ``names``: per topic level, the
    placeholder it fills or None; ``fixed``: configured values (``site_id``, ``zone``, ...).
    """

    pattern: str
    topic_filter: str
    format: str
    qos: int
    names: tuple[str | None, ...]
    multi_level: bool
    fixed: Mapping[str, str] = field(default_factory=dict)

    def match(self, topic: str) -> dict[str, str] | None:
        """The placeholder values of ``topic``, or None when it does not match this filter.

        MQTT's own rules: ``+`` and ``{name}`` are one level, a trailing ``#`` any number (also
        none); topics starting with ``$`` never match a wildcard at the first level."""
        levels = topic.split("/")
        filters = self.topic_filter.split("/")
        if topic.startswith("$") and filters[0] in ("+", "#"):
            return None
        if self.multi_level:
            filters = filters[:-1]
            if len(levels) < len(filters):
                return None
        elif len(levels) != len(filters):
            return None
        captured: dict[str, str] = {}
        for level, want, name in zip(levels, filters, self.names, strict=False):
            if want == "+":
                if name is not None:
                    if not level:
                        return None  # an empty level names nothing
                    captured[name] = level
            elif level != want:
                return None
        return captured

    def values(self, captured: Mapping[str, str]) -> dict[str, str]:
        """Topic values over fixed ones (they cannot both be configured: load refuses it)."""
        return {**self.fixed, **captured}


def parse_subscriptions(data: Any, source: str = "mqtt.yaml") -> list[Subscription]:
    """``{"subscriptions": [{topic, format, qos?, kind?, site_id?, building_id?, zone?,
    device_id?}, ...]}`` -> subscriptions; :class:`ConfigError` names the entry, field and fix."""
    if not isinstance(data, Mapping) or not isinstance(data.get("subscriptions"), list):
        raise ConfigError(f"{source}: expected a mapping with a list 'subscriptions:' (see "
                          "docs/mqtt.md)")
    out: list[Subscription] = []
    filters: set[str] = set()
    for i, item in enumerate(data["subscriptions"]):
        where = f"{source}: subscriptions[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping with topic and format")
        unknown = set(item) - {"topic", "format", "qos", *PLACEHOLDERS}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; use "
                              f"topic, format, qos, {', '.join(PLACEHOLDERS)}")
        sub = _subscription(item, where)
        if sub.topic_filter in filters:
            raise ConfigError(f"{where}.topic: {sub.topic_filter!r} is subscribed twice; a "
                              "message would be stored twice, merge the entries")
        filters.add(sub.topic_filter)
        out.append(sub)
    if not out:
        raise ConfigError(f"{source}: 'subscriptions:' is empty; the bridge would hear nothing")
    return out


def _subscription(item: Mapping[str, Any], where: str) -> Subscription:
    pattern = item.get("topic")
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError(f"{where}.topic: missing; e.g. topic: hub/hikvision/{{site_id}}/"
                          "{device_id}")
    fmt = item.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r}; use one of {', '.join(FORMATS)}")
    qos = item.get("qos", 1)
    if qos not in (0, 1) or isinstance(qos, bool):
        raise ConfigError(f"{where}.qos: {qos!r}; use 1 (acknowledged once Kafka has the "
                          "event) or 0 (best effort)")
    fixed: dict[str, str] = {}
    for name in PLACEHOLDERS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
            raise ConfigError(f"{where}.{name}: expected text, got {value!r}")
        fixed[name] = str(value).strip()
    levels = pattern.strip().split("/")
    names: list[str | None] = []
    filter_levels: list[str] = []
    for n, level in enumerate(levels):
        placeholder = _PLACEHOLDER.match(level)
        if placeholder:
            name = placeholder.group(1)
            if name not in PLACEHOLDERS:
                raise ConfigError(f"{where}.topic: {{{name}}} is not a placeholder; use "
                                  f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} or +")
            if name in names:
                raise ConfigError(f"{where}.topic: {{{name}}} appears twice")
            if name in fixed:
                raise ConfigError(f"{where}: {name} is both a topic placeholder and a fixed "
                                  "value; keep one")
            names.append(name)
            filter_levels.append("+")
            continue
        if level == "#" and n != len(levels) - 1:
            raise ConfigError(f"{where}.topic: '#' must be the last level")
        if ("#" in level or "+" in level or "{" in level or "}" in level) \
                and level not in ("#", "+"):
            raise ConfigError(f"{where}.topic: level {level!r}: a wildcard or placeholder must "
                              "be a whole level ({name}, + or #)")
        names.append(None)
        filter_levels.append(level)
    multi = filter_levels[-1] == "#"
    values = {name for name in names if name} | set(fixed)
    if fmt != "interchange" and "site_id" not in values:
        raise ConfigError(f"{where}: {fmt} payloads do not say their site; add {{site_id}} to "
                          "the topic or a fixed site_id:")
    if fmt == "dahua" and "device_id" not in values:
        raise ConfigError(f"{where}: Dahua event lines do not name the device; add {{device_id}} "
                          "to the topic or a fixed device_id:")
    if "kind" in values and fmt != "interchange":
        raise ConfigError(f"{where}: kind is only for interchange payloads (a vendor mapping "
                          "decides the kind)")
    if "kind" in fixed and fixed["kind"] not in SOURCE_KINDS:
        raise ConfigError(f"{where}.kind: {fixed['kind']!r}; use one of "
                          f"{', '.join(SOURCE_KINDS)}")
    if "zone" in fixed:
        try:
            Site("check", fixed["zone"]).tzinfo()
        except MappingError as exc:
            raise ConfigError(f"{where}.zone: {exc.detail}") from None
    return Subscription(pattern.strip(), "/".join(filter_levels), fmt, int(qos), tuple(names),
                        multi, fixed)


def load_subscriptions(path: Path) -> list[Subscription]:
    """Read ``path`` (YAML); errors name the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); set HUB_MQTT_FILE or pass "
                          "--config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_subscriptions(data, str(path))


def route(subscriptions: Iterable[Subscription], topic: str
          ) -> tuple[Subscription, dict[str, str]] | None:
    """The first subscription whose filter matches ``topic``, with its placeholder values."""
    for sub in subscriptions:
        captured = sub.match(topic)
        if captured is not None:
            return sub, captured
    return None


def site_of(values: Mapping[str, str]) -> Site:
    """The device's site from topic and fixed values (``site_id`` required)."""
    site_id = values.get("site_id", "").strip()
    if not site_id:
        raise MappingError("topic.site_id", "empty; the topic level of {site_id} must name the "
                           "hub's site id")
    site = Site(site_id, values.get("zone") or DEFAULT_ZONE, values.get("building_id") or None)
    site.tzinfo()
    return site


# -- plans -----------------------------------------------------------------------------------------


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
            f"no subscription of mqtt.yaml matches topic {topic!r} (a subscription the broker "
            "kept from an earlier config?); add one, or clear the bridge's session",
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
    if sub.format == "hikvision":
        _hikvision(plan, site, payload, validate, pseudonym_key)
    elif sub.format == "gat1400":
        _gat1400(plan, site, payload, validate, pseudonym_key)
    else:
        return _dahua(plan, site, values["device_id"], payload, validate, received_ms,
                      dahua_open)
    return plan, dahua_open


def _accept(plan: Plan, mapped: Mapped, raw: bytes, validate: Validate) -> None:
    """The hub's own validator has the last word on a mapped record too."""
    try:
        plan.records.append(validate(mapped.line(), accept=[mapped.kind]))
    except RecordError as exc:
        plan.reject(raw, exc, mapped.kind)


def _interchange(plan: Plan, values: Mapping[str, str], payload: bytes,
                 validate: Validate) -> None:
    try:
        pieces = json_pieces(payload.decode("utf-8"))
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
        raise RecordError(f"{given!r} does not match the topic's kind {fixed_kind!r}; leave "
                          "kind out or publish on that kind's topic", field="kind")
    kind = given if given is not None else fixed_kind
    if kind is not None and kind not in SOURCE_KINDS:
        raise RecordError(f"{kind!r} is not taken over MQTT; use one of "
                          f"{', '.join(SOURCE_KINDS)}", field="kind", reason="UNKNOWN_SCHEMA")
    obj = {**item, "kind": kind} if kind is not None else dict(item)
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
    decoder = json.JSONDecoder()
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


def _hikvision(plan: Plan, site: Site, payload: bytes, validate: Validate,
               key: str | bytes) -> None:
    plan.received = 1
    try:
        mapped = hikvision.map_alert(payload, site=site, pseudonym_key=key)
    except MappingError as exc:
        plan.reject(payload, exc)
        return
    if mapped is None:
        plan.skipped += 1  # heartbeat, inactive state, door state change
    else:
        _accept(plan, mapped, payload, validate)


def _gat1400(plan: Plan, site: Site, payload: bytes, validate: Validate,
             key: str | bytes) -> None:
    try:
        outcomes = gat1400.map_notifications(payload, site=site, pseudonym_key=key)
    except MappingError as exc:
        plan.received = 1
        plan.reject(payload, exc)
        return
    plan.received = len(outcomes)
    items = _gat1400_items(payload)
    for index, outcome in enumerate(outcomes):
        raw = json.dumps(items[index], ensure_ascii=False).encode("utf-8") \
            if index < len(items) else payload
        if isinstance(outcome, MappingError):
            plan.reject(raw, outcome)
        else:
            _accept(plan, outcome, raw, validate)


def _gat1400_items(payload: bytes) -> list[Any]:
    """The raw notifications (map_notifications read them already: this cannot fail then)."""
    envelope = json.loads(payload).get(gat1400.LIST, {})
    items = envelope.get(gat1400.ITEM) if isinstance(envelope, Mapping) else None
    if isinstance(items, Mapping):
        return [items]
    return items if isinstance(items, list) else []


def _dahua(plan: Plan, site: Site, device_id: str, payload: bytes, validate: Validate,
           received_ms: int, state: dahua.OpenEvents) -> tuple[Plan, dahua.OpenEvents]:
    """Event blocks; a Start and its Stop are one event (pairing per device, state in and out).

    The state moves on at once: the bridge keeps retrying what Kafka did not take, and a bridge
    that stops before it is stored leaves the message unacknowledged, so the broker redelivers
    it to a fresh state."""
    try:
        body = payload.decode("utf-8")
    except UnicodeDecodeError:  # older Chinese firmware: GB18030 rule names
        body = payload.decode("gb18030", errors="replace")
    blocks = dahua.split_events(body)
    if not blocks:
        plan.received = 1
        plan.reject(payload, MappingError("Code", "no event block; expected lines Code=<code>;"
                                          "action=<Start|Stop|Pulse>;index=<n>[;data={...}]",
                                          reason="DECODE_ERROR"))
        return plan, state
    plan.received = len(blocks)
    for block in blocks:
        raw = block.encode("utf-8")
        try:
            event = dahua.parse_event(block)
            new_state, emit = dahua.pair(state, device_id, event)
            mapped = dahua.map_event(event, device_id=device_id, site=site,
                                     received_ms=received_ms) if emit else None
        except MappingError as exc:
            plan.reject(raw, exc)  # the state stays, as in map_stream
            continue
        state = new_state
        if mapped is None:
            plan.skipped += 1  # a Stop, a repeated Start, housekeeping
        else:
            _accept(plan, mapped, raw, validate)
    return plan, state


# -- acknowledgement order -------------------------------------------------------------------------


class AckOrder:
    """PUBACKs leave in the order the PUBLISHes came (MQTT 3.1.1 §4.6 asks it of a client), and
    only for messages whose every piece Kafka stored: a message settled early waits for the ones
    before it. Not thread-safe: the bridge holds its lock around it.

    Tickets are sequence numbers, not packet ids: a broker reuses a packet id once acknowledged.
    """

    def __init__(self) -> None:
        self._next = 0
        self._queue: deque[list[Any]] = deque()  # [ticket, mid, qos, settled]

    def received(self, mid: int, qos: int) -> int:
        """A message came in; its ticket (QoS 0 ones need no answer and do not wait)."""
        ticket = self._next
        self._next += 1
        if qos > 0:
            self._queue.append([ticket, mid, qos, False])
        return ticket

    def settle(self, ticket: int) -> list[tuple[int, int]]:
        """Message ``ticket`` is stored; the (mid, qos) that may be acknowledged now, in order."""
        for entry in self._queue:
            if entry[0] == ticket:
                entry[3] = True
                break
        ready: list[tuple[int, int]] = []
        while self._queue and self._queue[0][3]:
            _, mid, qos, _ = self._queue.popleft()
            ready.append((mid, qos))
        return ready

    def reset(self) -> int:
        """The connection is gone: none of these may be acknowledged any more (the broker sends
        them again on the next connection); how many were waiting."""
        waiting = len(self._queue)
        self._queue.clear()
        return waiting

    def __len__(self) -> int:
        return len(self._queue)
