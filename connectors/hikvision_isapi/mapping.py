"""Hikvision ISAPI ``EventNotificationAlert`` -> perimeter_alarm / access_swipe (pure).

The field table, the code tables' sources and the decisions (retransmissions, times without an
offset, ignored events) are in this folder's README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.common import (
    Mapped,
    MappingError,
    Site,
    as_mapping,
    check_size,
    hash_personal,
    integer,
    need,
    parse_time,
    parse_xml,
    perimeter_alarm,
    stable_id,
    text,
)
from hub.codec.json_names import loads_once

VENDOR = "hikvision"
ROOT = "EventNotificationAlert"

#: ISAPI smart/basic event types -> (AlarmType, severity 1..5). Anything else: UNKNOWN, 2.
ALARM_TYPES: dict[str, tuple[str, int]] = {
    "linedetection": ("LINE_CROSSING", 3),  # 越界侦测
    "fielddetection": ("INTRUSION", 4),  # 区域入侵侦测
    "regionentrance": ("INTRUSION", 4),  # 进入区域侦测
    "regionexiting": ("INTRUSION", 3),  # 离开区域侦测
    "loitering": ("LOITERING", 2),  # 徘徊侦测
    "tamperdetection": ("TAMPER", 3),  # 视频遮挡 (video tampering)
    "shelteralarm": ("TAMPER", 3),  # older firmware's name for the same
    "tamper": ("TAMPER", 3),
    "videoloss": ("FAULT", 2),  # active video loss; the inactive one is the heartbeat
}
UNKNOWN_ALARM = ("UNKNOWN", 2)

#: AccessControllerEvent.majorEventType of access events (MAJOR_EVENT).
MAJOR_EVENT = 0x5
#: Other major types are device logs, not door events: alarm 0x1, exception 0x2, operation 0x3.
MAJOR_NOT_DOOR = frozenset({0x1, 0x2, 0x3})

#: MAJOR_EVENT subEventType -> (AccessResult, AccessMethod), from the HCNetSDK macro definitions
#: of NET_DVR_ACS_ALARM_INFO (README.md, "Sources"). ``None``: a door state change that is not an
#: access attempt (normal open/close, lock, exit button, doorbell): nothing is produced.
MINOR_CODES: dict[int, tuple[str, str] | None] = {
    0x01: ("GRANTED", "CARD"),  # MINOR_LEGAL_CARD_PASS
    0x02: ("GRANTED", "CARD"),  # MINOR_CARD_AND_PSW_PASS
    0x03: ("DENIED", "CARD"),  # MINOR_CARD_AND_PSW_FAIL
    0x04: ("DENIED", "CARD"),  # MINOR_CARD_AND_PSW_OVERTIME
    0x05: ("DENIED", "CARD"),  # MINOR_CARD_AND_PSW_OVER_TIME
    0x06: ("DENIED", "CARD"),  # MINOR_CARD_NO_RIGHT
    0x07: ("DENIED", "CARD"),  # MINOR_CARD_INVALID_PERIOD
    0x08: ("DENIED", "CARD"),  # MINOR_CARD_OUT_OF_DATE
    0x09: ("DENIED", "CARD"),  # MINOR_INVALID_CARD
    0x0A: ("ANTI_PASSBACK", "CARD"),  # MINOR_ANTI_SNEAK_FAIL
    0x15: None,  # MINOR_LOCK_OPEN
    0x16: None,  # MINOR_LOCK_CLOSE
    0x17: None,  # MINOR_DOOR_BUTTON_PRESS
    0x18: None,  # MINOR_DOOR_BUTTON_RELEASE
    0x19: None,  # MINOR_DOOR_OPEN_NORMAL
    0x1A: None,  # MINOR_DOOR_CLOSE_NORMAL
    0x1B: ("FORCED_OPEN", "UNKNOWN"),  # MINOR_DOOR_OPEN_ABNORMAL (door contact, no credential)
    0x1C: ("HELD_OPEN", "UNKNOWN"),  # MINOR_DOOR_OPEN_TIMEOUT
    0x25: None,  # MINOR_DOORBELL_RINGING
    0x26: ("GRANTED", "FINGERPRINT"),  # MINOR_FINGERPRINT_COMPARE_PASS
    0x27: ("DENIED", "FINGERPRINT"),  # MINOR_FINGERPRINT_COMPARE_FAIL
    0x28: ("GRANTED", "CARD"),  # MINOR_CARD_FINGERPRINT_VERIFY_PASS
    0x29: ("DENIED", "CARD"),  # MINOR_CARD_FINGERPRINT_VERIFY_FAIL
    0x2A: ("DENIED", "CARD"),  # MINOR_CARD_FINGERPRINT_VERIFY_TIMEOUT
    0x31: ("DENIED", "FINGERPRINT"),  # MINOR_FINGERPRINT_INEXISTENCE
    0x3C: ("GRANTED", "FACE"),  # MINOR_FACE_AND_CARD_VERIFY_PASS
    0x3D: ("DENIED", "FACE"),  # MINOR_FACE_AND_CARD_VERIFY_FAIL
    0x3E: ("DENIED", "FACE"),  # MINOR_FACE_AND_CARD_VERIFY_TIMEOUT
    0x4B: ("GRANTED", "FACE"),  # MINOR_FACE_VERIFY_PASS
    0x4C: ("DENIED", "FACE"),  # MINOR_FACE_VERIFY_FAIL
    0x4D: ("GRANTED", "FACE"),  # MINOR_EMPLOYEENO_AND_FACE_VERIFY_PASS
    0x4E: ("DENIED", "FACE"),  # MINOR_EMPLOYEENO_AND_FACE_VERIFY_FAIL
    0x50: ("DENIED", "FACE"),  # MINOR_FACE_RECOGNIZE_FAIL
    0x65: ("GRANTED", "PIN"),  # MINOR_EMPLOYEENO_AND_PW_PASS
    0x66: ("DENIED", "PIN"),  # MINOR_EMPLOYEENO_AND_PW_FAIL
    0x67: ("DENIED", "PIN"),  # MINOR_EMPLOYEENO_AND_PW_TIMEOUT
    0x71: ("DENIED", "UNKNOWN"),  # MINOR_CERTIFICATE_BLACK_LIST
}
#: Results that involve no credential: credential_hash is null even if a card number is sent.
NO_CREDENTIAL = frozenset({"FORCED_OPEN", "HELD_OPEN"})


def map_alert(payload: bytes | str, *, site: Site, pseudonym_key: bytes | str) -> Mapped | None:
    """One ISAPI alert (XML, or the JSON form access controllers send) -> one record, or None.

    None: nothing to produce (the ``videoloss``/``inactive`` heartbeat, an alarm's inactive
    state, a door state change or device log that is not an access attempt).
    Raises :class:`MappingError` naming the vendor field for anything that cannot be mapped.
    """
    alert = _parse(payload)
    event_type = need(alert, "eventType", f"{ROOT}.eventType")
    retransmission = _flag(alert.get("isDataRetransmission"))
    if event_type == "AccessControllerEvent":
        record = _access_swipe(alert, site, pseudonym_key)
        kind = "access_swipe"
    else:
        state = (text(alert, "eventState", f"{ROOT}.eventState", required=False) or "active")
        if state.lower() != "active":
            return None
        record = _perimeter_alarm(alert, event_type, site)
        kind = "perimeter_alarm"
    if record is None:
        return None
    return Mapped(kind, record, retransmission=retransmission)


def _parse(payload: bytes | str) -> Mapping[str, Any]:
    head = payload.lstrip()[:1]
    if head in ("{", b"{"):
        check_size(payload, ROOT)
        try:
            obj = loads_once(payload)
        except (ValueError, RecursionError) as exc:
            raise MappingError(ROOT, f"not valid JSON ({exc}); send the complete event",
                               reason="DECODE_ERROR") from None
        return as_mapping(obj, ROOT)
    return parse_xml(payload, ROOT)


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _device_id(alert: Mapping[str, Any]) -> str:
    """``deviceID`` (ISUP/EHome devices) or the MAC address: stable ids; the IP address is not."""
    found = text(alert, "deviceID", f"{ROOT}.deviceID", required=False) or text(
        alert, "macAddress", f"{ROOT}.macAddress", required=False)
    if found is None:
        raise MappingError(f"{ROOT}.macAddress", "missing, and no deviceID either: the device "
                           "cannot be identified; enable the MAC address in the alert")
    return found.lower()


def _perimeter_alarm(alert: Mapping[str, Any], event_type: str, site: Site) -> dict[str, Any]:
    device_id = _device_id(alert)
    event_time = parse_time(need(alert, "dateTime", f"{ROOT}.dateTime"), f"{ROOT}.dateTime", site)
    channel = text(alert, "channelID", f"{ROOT}.channelID", required=False) or text(
        alert, "dynChannelID", f"{ROOT}.dynChannelID", required=False) or "1"
    region = _region_id(alert)
    alarm_type, severity = ALARM_TYPES.get(event_type.lower(), UNKNOWN_ALARM)
    zone_id = f"{device_id}:ch{channel}:{event_type.lower()}" + (f":r{region}" if region else "")
    description = text(alert, "eventDescription", f"{ROOT}.eventDescription", required=False)
    return perimeter_alarm(
        event_id=stable_id("hik", device_id, channel, event_type.lower(), region or "",
                           event_time),
        vendor=VENDOR, device_id=device_id, site=site, event_time=event_time, zone_id=zone_id,
        alarm_type=alarm_type, severity=severity, description=description)


def _region_id(alert: Mapping[str, Any]) -> str | None:
    regions = alert.get("DetectionRegionList")
    if not isinstance(regions, Mapping):
        return None
    entry = regions.get("DetectionRegionEntry")
    if isinstance(entry, list):
        entry = entry[0] if entry else None
    if not isinstance(entry, Mapping):
        return None
    return text(entry, "regionID", "DetectionRegionEntry.regionID", required=False)


def _access_swipe(alert: Mapping[str, Any], site: Site,
                  key: bytes | str) -> dict[str, Any] | None:
    path = f"{ROOT}.AccessControllerEvent"
    event = as_mapping(alert.get("AccessControllerEvent"), path)
    major = integer(event, "majorEventType", f"{path}.majorEventType")
    minor = integer(event, "subEventType", f"{path}.subEventType")
    if major is None:
        raise MappingError(f"{path}.majorEventType", "missing; the controller must send the "
                           "event's major type")
    if major in MAJOR_NOT_DOOR:
        return None
    if major == MAJOR_EVENT and minor in MINOR_CODES:
        known = MINOR_CODES[minor]
        if known is None:
            return None
        result, method = known
    else:
        result, method = "UNKNOWN", "UNKNOWN"
    if site.building_id is None:
        raise MappingError("site.building_id", "an access controller needs the building of its "
                           "door: over HTTP add ?building_id=<registry id> to its callback URL; "
                           "over MQTT a {building_id} topic level or a fixed building_id in "
                           "topology/mqtt.yaml")
    device_id = _device_id(alert)
    event_time = parse_time(need(alert, "dateTime", f"{ROOT}.dateTime"), f"{ROOT}.dateTime", site)
    door = text(event, "doorNo", f"{path}.doorNo", required=False) or "1"
    credential = None
    if result not in NO_CREDENTIAL:
        credential = hash_personal(event.get("cardNo"), key, f"{path}.cardNo") or hash_personal(
            event.get("employeeNoString") or event.get("employeeNo"), key,
            f"{path}.employeeNoString")
    if method == "UNKNOWN" and result not in NO_CREDENTIAL and event.get("cardNo"):
        method = "CARD"
    serial = integer(event, "serialNo", f"{path}.serialNo")
    if serial is not None:
        event_id = f"hik-{device_id}-{serial}"
    else:  # old firmware: identify the event by what it says (never by a raw card number)
        event_id = stable_id("hik", device_id, event_time, major, minor, door, credential or "")
    return {
        "event_id": event_id,
        "vendor": VENDOR,
        "device_id": device_id,
        "site_id": site.site_id,
        "event_time": event_time,
        "building_id": site.building_id,
        "door_id": f"{device_id}:door{door}",
        "credential_hash": credential,
        "method": method,
        "result": result,
        "direction": _direction(integer(event, "cardReaderNo", f"{path}.cardReaderNo")),
    }


def _direction(reader: int | None) -> str:
    """Hikvision's default wiring: the odd card reader of a door is its entry reader, the even
    one its exit reader (reader 1/2 = door 1 in/out, 3/4 = door 2 ...)."""
    if reader is None or reader < 1:
        return "UNKNOWN"
    return "IN" if reader % 2 == 1 else "OUT"
