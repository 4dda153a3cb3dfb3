"""Hikvision ISAPI EventNotificationAlert -> perimeter_alarm / access_swipe."""

from __future__ import annotations

import time

import pytest

from connectors.common import Mapped, MappingError, Site
from connectors.hikvision_isapi.mapping import MINOR_CODES, map_alert
from hub.core.pseudonym import pseudonymize

from .support import KEY, assert_no_raw, assert_valid, fixture

SITE = Site("S-3301-0001", building_id="B-3301-0001-03")
CARD = "3908412345"
EMPLOYEE = "E20240017"
ACS = "bc:ba:c2:11:22:33"


def alert(name: str, site: Site = SITE) -> Mapped | None:
    return map_alert(fixture("hikvision_isapi", name), site=site, pseudonym_key=KEY)


def mapped(name: str, site: Site = SITE) -> Mapped:
    result = alert(name, site)
    assert result is not None
    assert_valid(result)
    return result


def test_linedetection_with_offset() -> None:
    assert mapped("linedetection.xml") == Mapped("perimeter_alarm", {
        "event_id": "hik-a6fb6e6c4c821f657c24",
        "vendor": "hikvision",
        "device_id": "44:19:b6:6d:24:85",
        "site_id": "S-3301-0001",
        "event_time": 1714574412000,  # 2024-05-01T22:40:12+08:00
        "zone_id": "44:19:b6:6d:24:85:ch1:linedetection:r2",
        "building_id": "B-3301-0001-03",
        "alarm_type": "LINE_CROSSING",
        "severity": 3,
        "description": "linedetection alarm",
    })


def test_fielddetection_without_offset_takes_the_site_zone() -> None:
    record = mapped("fielddetection_no_offset.xml").record
    assert record["alarm_type"] == "INTRUSION" and record["severity"] == 4
    assert record["event_time"] == 1714574465000  # 22:41:05 in Asia/Shanghai = 14:41:05Z
    utc_site = Site("S-3301-0001", zone="UTC", building_id="B-3301-0001-03")
    assert mapped("fielddetection_no_offset.xml", utc_site).record["event_time"] == (
        1714574465000 + 8 * 3600 * 1000)


def test_tamper_and_z_suffix() -> None:
    record = mapped("tamperdetection.xml").record
    assert record["alarm_type"] == "TAMPER"
    assert record["event_time"] == 1714574465000  # 2024-05-01T14:41:05Z


def test_unknown_event_type_is_unknown_not_a_crash() -> None:
    record = mapped("motion_unknown_type.xml").record
    assert (record["alarm_type"], record["severity"]) == ("UNKNOWN", 2)


def test_inactive_heartbeat_produces_nothing() -> None:
    assert alert("videoloss_heartbeat.xml") is None


def test_denied_invalid_card_exact_record_and_pseudonymized() -> None:
    result = mapped("access_denied_invalid_card.xml")
    assert result == Mapped("access_swipe", {
        "event_id": f"hik-{ACS}-18342",
        "vendor": "hikvision",
        "device_id": ACS,
        "site_id": "S-3301-0001",
        "event_time": 1714574550000,  # 2024-05-01T22:42:30+08:00
        "building_id": "B-3301-0001-03",
        "door_id": f"{ACS}:door1",
        "credential_hash": pseudonymize(CARD, KEY),
        "method": "CARD",
        "result": "DENIED",
        "direction": "IN",
    })


@pytest.mark.parametrize(("name", "result", "method", "credential"), [
    ("access_granted_card.xml", "GRANTED", "CARD", CARD),
    ("access_denied_no_right_no_offset.xml", "DENIED", "CARD", CARD),
    ("access_forced_open.xml", "FORCED_OPEN", "UNKNOWN", None),
    ("access_unknown_code.xml", "UNKNOWN", "CARD", CARD),
    ("access_face_pass.json", "GRANTED", "FACE", EMPLOYEE),
])
def test_access_codes(name: str, result: str, method: str, credential: str | None) -> None:
    record = mapped(name).record
    assert (record["result"], record["method"]) == (result, method)
    expected = pseudonymize(credential, KEY) if credential else None
    assert record["credential_hash"] == expected


def test_access_time_without_offset_and_exit_reader() -> None:
    record = mapped("access_denied_no_right_no_offset.xml").record
    assert record["event_time"] == 1714574590000  # 22:43:10 Asia/Shanghai
    assert record["direction"] == "OUT"  # card reader 2 = the door's exit reader


def test_door_state_change_is_not_an_access_event() -> None:
    assert alert("access_door_open_normal.xml") is None


def test_retransmission_keeps_the_event_id_and_is_marked() -> None:
    first = mapped("access_denied_invalid_card.xml")
    again = mapped("access_denied_invalid_card_retransmitted.xml")
    assert again.retransmission and not first.retransmission
    assert again.record == first.record  # same event_id: the hub's dedup drops the repeat


def test_perimeter_event_id_is_stable_and_distinct() -> None:
    assert mapped("linedetection.xml").record["event_id"] == mapped(
        "linedetection.xml").record["event_id"]
    ids = {mapped(n).record["event_id"] for n in ("linedetection.xml",
           "fielddetection_no_offset.xml", "tamperdetection.xml", "motion_unknown_type.xml")}
    assert len(ids) == 4


def test_no_raw_card_or_employee_number_in_any_output() -> None:
    names = ["access_granted_card.xml", "access_denied_invalid_card.xml",
             "access_denied_invalid_card_retransmitted.xml", "access_unknown_code.xml",
             "access_denied_no_right_no_offset.xml", "access_face_pass.json"]
    assert_no_raw([mapped(n) for n in names], [CARD, EMPLOYEE, "张伟"])


def test_billion_laughs_is_rejected_fast() -> None:
    payload = fixture("hikvision_isapi", "billion_laughs.xml")
    started = time.perf_counter()
    with pytest.raises(MappingError) as caught:
        map_alert(payload, site=SITE, pseudonym_key=KEY)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.1, f"took {elapsed * 1000:.1f} ms"
    assert caught.value.reason == "DECODE_ERROR"
    assert "DTD" in caught.value.detail


def test_external_entity_is_rejected() -> None:
    with pytest.raises(MappingError, match="DTD or entities"):
        alert("external_entity.xml")


@pytest.mark.parametrize(("name", "field", "reason"), [
    ("truncated.xml", "EventNotificationAlert", "DECODE_ERROR"),
    ("wrong_root.xml", "EventNotificationAlert", "DECODE_ERROR"),
    ("missing_datetime.xml", "EventNotificationAlert.dateTime", "VALIDATION_ERROR"),
])
def test_bad_payloads_name_the_field(name: str, field: str, reason: str) -> None:
    with pytest.raises(MappingError) as caught:
        alert(name)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_access_controller_needs_the_building() -> None:
    with pytest.raises(MappingError) as caught:
        alert("access_granted_card.xml", Site("S-3301-0001"))
    assert caught.value.field == "site.building_id"
    # both edges feed this connector: the fix is named for each
    assert "?building_id=" in str(caught.value) and "topology/mqtt.yaml" in str(caught.value)


def test_bad_site_zone_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        alert("fielddetection_no_offset.xml", Site("S-3301-0001", zone="Mars/Olympus"))
    assert caught.value.field == "site.zone"


@pytest.mark.parametrize("name", ["linedetection.xml", "access_denied_invalid_card.xml",
                                  "access_face_pass.json"])
def test_every_truncation_is_a_mapping_error_or_a_record(name: str) -> None:
    payload = fixture("hikvision_isapi", name)
    for cut in range(0, len(payload), 5):
        try:
            result = map_alert(payload[:cut], site=SITE, pseudonym_key=KEY)
        except MappingError:
            continue
        if result is not None:
            assert_valid(result)


@pytest.mark.parametrize("payload", [
    b"", b"   ", b"{}", b"[]", b"null", b"\xff\xfe<x/>", "<EventNotificationAlert/>",
    b'{"eventType": "AccessControllerEvent", "AccessControllerEvent": []}',
    b'{"eventType": "AccessControllerEvent", "macAddress": "m", "dateTime": "2024-05-01T08:00:00",'
    b' "AccessControllerEvent": {"majorEventType": "five"}}',
    b'{"eventType": 7, "dateTime": {"a": 1}}',
    b'{"eventType": "linedetection", "macAddress": "m", "dateTime": "yesterday"}',
])
def test_garbage_is_a_mapping_error(payload: bytes | str) -> None:
    with pytest.raises(MappingError):
        map_alert(payload, site=SITE, pseudonym_key=KEY)


def test_minor_code_table_covers_the_named_examples() -> None:
    assert MINOR_CODES[1] == ("GRANTED", "CARD")  # MINOR_LEGAL_CARD_PASS
    assert MINOR_CODES[6] == ("DENIED", "CARD")  # MINOR_CARD_NO_RIGHT
    assert MINOR_CODES[9] == ("DENIED", "CARD")  # MINOR_INVALID_CARD
