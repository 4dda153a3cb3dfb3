"""Dahua event-manager lines -> perimeter_alarm (pure).

``GET /cgi-bin/eventManager.cgi?action=attach&codes=[All]`` streams one block per event::

    Code=CrossLineDetection;action=Start;index=0;data={ ...JSON, often over several lines... }

A Start and its Stop are one event: :func:`pair` (state passed in and returned) emits the Start,
drops the Stop that closes it; a Pulse (one-shot event) is emitted as it comes. Field table,
sources and decisions: this folder's README.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.common import (
    Mapped,
    MappingError,
    Site,
    as_mapping,
    check_size,
    epoch_ms,
    integer,
    parse_time,
    perimeter_alarm,
    plausible,
    stable_id,
    text,
)
from hub.codec.json_names import loads_once
from hub.model.events import MAX_TIME_MS, MIN_TIME_MS

VENDOR = "dahua"

#: Event codes -> (AlarmType, severity 1..5). Other codes: UNKNOWN, 2 (never a crash).
ALARM_TYPES: dict[str, tuple[str, int]] = {
    "CrossLineDetection": ("LINE_CROSSING", 3),  # 绊线入侵 (tripwire)
    "CrossRegionDetection": ("INTRUSION", 4),  # 区域入侵
    "CrossFenceDetection": ("CLIMB", 4),  # 翻越围栏
    "WanderDetection": ("LOITERING", 2),  # 徘徊检测
    "VideoBlind": ("TAMPER", 3),  # 视频遮挡
    "SceneChange": ("TAMPER", 3),  # 场景变更 (camera moved)
    "AlarmLocal": ("INTRUSION", 3),  # local alarm input (fence detector, beam, contact)
    "VideoLoss": ("FAULT", 2),
}
UNKNOWN_ALARM = ("UNKNOWN", 2)
#: Codes that report device housekeeping, not an alarm: nothing is produced.
IGNORED_CODES = frozenset({"NTPAdjustTime", "TimeChange", "NewFile", "LeFunctionStatusSync",
                           "VideoMotionInfo", "RtspSessionDisconnect", "SystemState",
                           "Heartbeat", "InterVideoAccess", "DiskCapacityAlarm", "Reboot",
                           "StorageChange", "IntelliFrame", "NumberStat", "LoginFailure"})
#: Start/Stop: an alarm's begin and end; Pulse: a one-shot event; State: a status report.
ACTIONS = frozenset({"Start", "Stop", "Pulse", "State"})

_LINE = re.compile(r"^Code=([^;]*);action=([^;]*);index=([^;]*)(?:;data=(.*))?$", re.DOTALL)
#: A block starts at ``Code=`` and ends at the next block or multipart boundary (``--...``).
_BLOCK_START = re.compile(r"(?m)^(?=Code=|--)")


@dataclass(frozen=True)
class DahuaEvent:
    """One parsed event line (``data`` is the JSON object, empty when the line has none)."""

    code: str
    action: str
    index: int
    data: Mapping[str, Any] = field(default_factory=dict)


def split_events(body: str) -> list[str]:
    """The event blocks of a stream body: each starts with ``Code=`` at a line start and runs to
    the next block or multipart boundary line (``--myboundary``); the data's JSON may span lines.
    Boundaries and part headers are left out."""
    return [b.strip() for b in _BLOCK_START.split(body) if b.strip().startswith("Code=")]


def parse_event(line: str) -> DahuaEvent:
    """One ``Code=...;action=...;index=...[;data={...}]`` block."""
    check_size(line, "Code")
    match = _LINE.match(line.strip())
    if match is None:
        raise MappingError("Code", "not a Dahua event line; expected "
                           "Code=<code>;action=<Start|Stop|Pulse>;index=<n>[;data={...}]",
                           reason="DECODE_ERROR")
    code, action, index_text, data_text = match.groups()
    if not code.strip():
        raise MappingError("Code", "empty event code", reason="DECODE_ERROR")
    if action not in ACTIONS:
        raise MappingError("action", f"{action!r} is not Start, Stop, Pulse or State",
                           reason="DECODE_ERROR")
    index = integer({"index": index_text}, "index", "index")
    if index is None or index < 0:
        raise MappingError("index", f"{index_text!r} is not a channel index (0, 1, ...)",
                           reason="DECODE_ERROR")
    data: Mapping[str, Any] = {}
    if data_text is not None and data_text.strip():
        try:
            parsed = loads_once(data_text)
        except (ValueError, RecursionError) as exc:
            raise MappingError("data", f"not valid JSON ({exc}); send the whole event block",
                               reason="DECODE_ERROR") from None
        data = as_mapping(parsed, "data")
    return DahuaEvent(code.strip(), action, index, data)


#: The state of :func:`pair`: per (device_id, code, index) whose Start has been emitted and whose
#: Stop has not arrived yet, when that Start was (ms; None: unknown) and its EventID (or None).
OpenEvents = frozenset[tuple[str, str, int, int | None, int | None]]
#: A Start of an event still open is the same alarm (a connector re-attaching while it lasts)
#: within this long of the open Start; later, that alarm's Stop was lost and this is a new one.
#: Without it, one lost Stop silenced the channel for good (an outside probe: Starts a day and
#: four weeks later were each "skipped").
REPEAT_WITHIN_MS = 5 * 60_000


def when(event: DahuaEvent, site: Site, received_ms: int | None) -> int | None:
    """The event's time as :func:`map_event` reads it; None when it cannot be read (the
    mapping then says why)."""
    try:
        return _event_time(event.data, site, received_ms)
    except MappingError:
        return None


def pair(open_events: OpenEvents, device_id: str, event: DahuaEvent,
         at: int | None = None) -> tuple[OpenEvents, bool]:
    """Start/Stop pairing, pure: ``(new state, emit?)``; ``at``: the event's time (:func:`when`).

    - Start: emitted unless the same code and index is already open with the same EventID, or
      (EventIDs unknown) within REPEAT_WITHIN_MS of the open Start: a repeated Start, e.g. after
      the connector re-attaches while the alarm lasts, is the same event;
    - Stop: closes the open event, never emitted (a Stop without its Start is dropped);
    - Pulse: a one-shot event, always emitted, no state;
    - State: a status report (e.g. SystemState), never emitted, no state.
    """
    if event.action == "Pulse":
        return open_events, True
    if event.action == "State":
        return open_events, False
    key = (device_id, event.code, event.index)
    held = next((o for o in open_events if o[:3] == key), None)
    rest = open_events - {held} if held is not None else open_events
    if event.action != "Start":
        return rest, False
    vendor_id = _event_id(event)
    if held is not None:
        _, _, _, since, held_id = held
        if vendor_id is not None and held_id is not None:
            repeat = vendor_id == held_id
        else:
            repeat = at is None or since is None or abs(at - since) <= REPEAT_WITHIN_MS
        if repeat:
            return open_events, False
    return rest | {(*key, at, vendor_id)}, True


def _event_id(event: DahuaEvent) -> int | None:
    try:
        return integer(event.data, "EventID", "data.EventID")
    except MappingError:
        return None


def map_event(event: DahuaEvent, *, device_id: str, site: Site,
              received_ms: int | None = None) -> Mapped | None:
    """One event -> a perimeter_alarm record, or None for an ignored (housekeeping) code.

    Pairing is the caller's (see :func:`map_stream`); this maps whatever it is given.
    ``device_id``: the device the connector attached to (the lines do not name it).
    ``received_ms``: the event time when the line carries none (no ``data``); without it such a
    line is an error.
    """
    if event.code in IGNORED_CODES:
        return None
    if not device_id.strip():
        raise MappingError("device_id", "empty; configure the id of the attached device")
    alarm_type, severity = ALARM_TYPES.get(event.code, UNKNOWN_ALARM)
    event_time = _event_time(event.data, site, received_ms)
    name = text(event.data, "Name", "data.Name", required=False)
    zone_id = f"{device_id}:{event.index}:{event.code}" + (f":{name}" if name else "")
    vendor_event = integer(event.data, "EventID", "data.EventID")
    description = f"{event.code}" + (f" {name}" if name else "")
    direction = text(event.data, "Direction", "data.Direction", required=False)
    if direction:
        description += f" ({direction})"
    return Mapped("perimeter_alarm", perimeter_alarm(
        event_id=stable_id("dh", device_id, event.code, event.index,
                           vendor_event if vendor_event is not None else "", event_time),
        vendor=VENDOR, device_id=device_id, site=site, event_time=event_time, zone_id=zone_id,
        alarm_type=alarm_type, severity=severity, description=description))


def map_stream(body: str, *, device_id: str, site: Site, open_events: OpenEvents = frozenset(),
               received_ms: int | None = None,
               ) -> tuple[list[Mapped | MappingError], OpenEvents]:
    """Every block of ``body``, paired and mapped: one outcome per emitted event (a record, or
    the error of a block that could not be read), and the new pairing state."""
    outcomes: list[Mapped | MappingError] = []
    state = open_events
    for block in split_events(body):
        try:
            event = parse_event(block)
            new_state, emit = pair(state, device_id, event, when(event, site, received_ms))
            mapped = map_event(event, device_id=device_id, site=site,
                               received_ms=received_ms) if emit else None
        except MappingError as exc:
            outcomes.append(exc)  # the state stays: a later Start of the same event may succeed
            continue
        state = new_state
        if mapped is not None:
            outcomes.append(mapped)
    return outcomes, state


def _event_time(data: Mapping[str, Any], site: Site, received_ms: int | None) -> int:
    """``data.UTC`` (epoch seconds) + ``data.UTCMS``; else ``data.LocaleTime`` in the site's
    zone; else ``received_ms``.

    Trap: some firmware writes the local wall-clock time into ``UTC``. When ``LocaleTime`` is
    present too and ``UTC`` equals it read as if it were UTC (off by exactly the zone's offset),
    ``LocaleTime`` in the site's zone is the truth.
    """
    utc = _seconds(data.get("UTC"))
    locale = text(data, "LocaleTime", "data.LocaleTime", required=False)
    local_ms = parse_time(locale, "data.LocaleTime", site) if locale else None
    if utc is not None:
        millis = integer(data, "UTCMS", "data.UTCMS") or 0
        utc_ms = utc * 1000 + (millis if 0 <= millis < 1000 else 0)
        if local_ms is not None and locale is not None and local_ms != utc_ms:
            try:
                naive = datetime.fromisoformat(locale.strip()).replace(tzinfo=UTC)
            except ValueError:  # the compact form: no trap check
                return utc_ms
            if abs(epoch_ms(naive) - utc_ms) < 1000:
                return local_ms
        return utc_ms
    if local_ms is not None:
        return local_ms
    if received_ms is not None:
        return received_ms
    raise MappingError("data.UTC", "the event carries no time (no data.UTC or "
                       "data.LocaleTime) and no receive time was given")


#: 9999-12-31T23:59:59Z: the last second a timestamp-millis field (and Python) can carry
LAST_EPOCH_SECOND = 253_402_300_799


def _seconds(value: Any) -> int | None:
    """``data.UTC``: epoch seconds as an integer, a float (SceneChange sends one) or digits."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise MappingError("data.UTC", "expected epoch seconds (a number)")
    if not 0 <= value <= LAST_EPOCH_SECOND:  # 1e308 used to come back as a 309-digit time
        hint = ("; that looks like epoch milliseconds: send seconds (divide by 1000)"
                if MIN_TIME_MS <= value < MAX_TIME_MS else "")
        raise MappingError("data.UTC", f"expected epoch seconds from 0 to {LAST_EPOCH_SECOND} "
                                       f"(9999-12-31), got {str(value)[:24]}{hint}")
    plausible(int(value) * 1000, "data.UTC", int(value))
    return int(value)


def map_lines(lines: Iterable[str], *, device_id: str, site: Site,
              open_events: OpenEvents = frozenset(), received_ms: int | None = None,
              ) -> tuple[list[Mapped | MappingError], OpenEvents]:
    """:func:`map_stream` over separate blocks (e.g. one HTTP POST per event)."""
    return map_stream("\n".join(lines), device_id=device_id, site=site,
                      open_events=open_events, received_ms=received_ms)
