"""The pure half of ``hub mqtt-bridge`` (hub.edge.mqtt_routes): the format dispatch from
payload bytes to records and dead letters."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest

from hub.codec import load_codec, parse_object
from hub.edge.mqtt_routes import json_pieces, plan_message
from hub.edge.mqtt_subscriptions import Subscription, parse_subscriptions

ROOT = Path(__file__).resolve().parents[3]
HIK = ROOT / "connectors" / "hikvision_isapi" / "fixtures"
DAHUA = ROOT / "connectors" / "dahua" / "fixtures"
GAT = ROOT / "connectors" / "gat1400" / "fixtures"
KEY = "unit-pseudonym-key"
CODEC = load_codec()
RECEIVED_MS = 1_714_574_500_000


def validate(obj: Mapping[str, Any], *, accept: Collection[str] | None = None
             ) -> tuple[str, dict[str, Any]]:
    return parse_object(obj, pseudonym_key=KEY, codec=CODEC, accept=accept)


def subs(*entries: dict[str, Any]) -> list[Subscription]:
    return parse_subscriptions({"subscriptions": list(entries)}, "test.yaml")


def plan(sub: Subscription, topic: str, payload: bytes, **kw: Any) -> Any:
    captured = sub.match(topic)
    assert captured is not None, (sub.topic_filter, topic)
    return plan_message(sub, captured, payload, validate=validate, pseudonym_key=KEY,
                        received_ms=RECEIVED_MS, topic=topic, **kw)


HIK_SUB = subs({"topic": "hub/hikvision/{site_id}/{device_id}", "format": "hikvision",
                "building_id": "B-1"})[0]
EVT_SUB = subs({"topic": "hub/events/{kind}/{site_id}", "format": "interchange"})[0]
ANY_SUB = subs({"topic": "hub/any", "format": "interchange"})[0]
DAHUA_SUB = subs({"topic": "hub/dahua/{site_id}/{device_id}", "format": "dahua"})[0]
GAT_SUB = subs({"topic": "hub/gat1400/{site_id}", "format": "gat1400"})[0]


def test_hikvision_line_crossing_gets_its_site_from_the_topic() -> None:
    p, _ = plan(HIK_SUB, "hub/hikvision/S-01/cam-1", (HIK / "linedetection.xml").read_bytes())
    assert (p.vendor, p.received, p.skipped, p.dead) == ("hikvision", 1, 0, [])
    ((kind, record),) = p.records
    assert kind == "perimeter_alarm"
    assert record["site_id"] == "S-01" and record["building_id"] == "B-1"
    assert record["alarm_type"] == "LINE_CROSSING"


def test_hikvision_access_event_never_carries_the_raw_card_number() -> None:
    payload = (HIK / "access_granted_card.xml").read_bytes()
    p, _ = plan(HIK_SUB, "hub/hikvision/S-01/door-1", payload)
    ((kind, record),) = p.records
    assert kind == "access_swipe"
    assert "3908412345" not in json.dumps(record)
    assert record["credential_hash"]


def test_hikvision_heartbeat_is_skipped_and_garbage_dead_lettered() -> None:
    p, _ = plan(HIK_SUB, "hub/hikvision/S-01/cam-1",
                (HIK / "videoloss_heartbeat.xml").read_bytes())
    assert (p.received, p.skipped, p.records, p.dead) == (1, 1, [], [])
    payload = (HIK / "wrong_root.xml").read_bytes()
    p, _ = plan(HIK_SUB, "hub/hikvision/S-01/cam-1", payload)
    ((raw, error, _),) = p.dead
    assert raw == payload and error.reason == "DECODE_ERROR" and p.records == []


def _alarm(event_id: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "vendor": "acme", "device_id": "cam-9",
            "event_time": 1_714_574_412_000, "zone_id": "z1", "alarm_type": "INTRUSION",
            "severity": 3, **extra}


def test_interchange_kind_and_site_come_from_the_topic() -> None:
    payload = json.dumps(_alarm("e-1")).encode()
    p, _ = plan(EVT_SUB, "hub/events/perimeter_alarm/S-02", payload)
    ((kind, record),) = p.records
    assert (kind, record["site_id"], record["event_id"]) == ("perimeter_alarm", "S-02", "e-1")


def test_interchange_array_dead_letters_only_the_bad_element_with_its_own_bytes() -> None:
    bad = '{"event_id": "e-2",  "kind": "perimeter_alarm", "severity": "high"}'
    text = ("[ " + json.dumps(_alarm("e-1", kind="perimeter_alarm", site_id="S-1")) + " ,\n "
            + bad + ", 7 ]")
    p, _ = plan(ANY_SUB, "hub/any", text.encode())
    assert p.received == 3
    assert [r["event_id"] for _, r in p.records] == ["e-1"]
    (raw1, err1, kind1), (raw2, err2, _) = p.dead
    assert raw1 == bad.encode() and kind1 == "perimeter_alarm"
    assert err1.field and err1.reason == "VALIDATION_ERROR"
    assert raw2 == b"7" and err2.reason == "DECODE_ERROR"


def test_interchange_after_a_byte_order_mark_is_read_as_at_the_gateway() -> None:
    payload = "\ufeff".encode() + json.dumps(_alarm("e-bom")).encode()
    p, _ = plan(EVT_SUB, "hub/events/perimeter_alarm/S-1", payload)
    assert [r["event_id"] for _, r in p.records] == ["e-bom"] and p.dead == []


def test_interchange_element_naming_a_field_twice_is_dead_lettered_alone() -> None:
    twice = ('{"event_id": "e-2", "vendor": "acme", "device_id": "cam-9", "event_time": '
             '1714574412000, "zone_id": "z1", "alarm_type": "TAMPER", "alarm_type": "INTRUSION",'
             ' "severity": 3}')
    text = "[" + json.dumps(_alarm("e-1")) + ", " + twice + "]"
    p, _ = plan(EVT_SUB, "hub/events/perimeter_alarm/S-1", text.encode())
    assert [r["event_id"] for _, r in p.records] == ["e-1"]
    ((raw, error, _),) = p.dead
    assert raw == twice.encode() and error.field == "alarm_type"
    assert error.reason == "VALIDATION_ERROR" and "more than once" in error.detail


@pytest.mark.parametrize(("topic", "event", "field"), [
    ("hub/events/perimeter_alarm/S-1", _alarm("e", kind="face_match"), "kind"),
    ("hub/events/perimeter_alarm/S-1", _alarm("e", site_id="S-2"), "site_id"),
    ("hub/events/incident/S-1", _alarm("e"), "kind"),
])
def test_interchange_disagreeing_with_the_topic_is_rejected(topic: str, event: dict[str, Any],
                                                             field: str) -> None:
    p, _ = plan(EVT_SUB, topic, json.dumps(event).encode())
    assert p.records == []
    ((_, error, _),) = p.dead
    assert error.field == field


@pytest.mark.parametrize("payload", [b"{not json", b"\xff\xfe", b"[]", b"[1,]", b"{} {}"])
def test_unreadable_interchange_is_one_dead_letter(payload: bytes) -> None:
    p, _ = plan(ANY_SUB, "hub/any", payload)
    assert p.received == 1 and p.records == []
    ((raw, error, _),) = p.dead
    assert raw == payload and error.reason == "DECODE_ERROR" and error.field == "payload"


def test_dahua_pairs_start_and_stop_per_device() -> None:
    stream = (DAHUA / "stream.txt").read_bytes()
    p, state = plan(DAHUA_SUB, "hub/dahua/S-3/nvr-1", stream)
    assert p.records and all(k == "perimeter_alarm" for k, _ in p.records)
    assert p.received == len(p.records) + p.skipped + len(p.dead)
    assert all(r["device_id"] == "nvr-1" and r["site_id"] == "S-3" for _, r in p.records)
    start = b"Code=CrossRegionDetection;action=Start;index=1;data={\"UTC\": 1714574412}"
    p1, open1 = plan(DAHUA_SUB, "hub/dahua/S-3/nvr-1", start, dahua_open=state)
    p2, open2 = plan(DAHUA_SUB, "hub/dahua/S-3/nvr-1", start, dahua_open=open1)
    stop = b"Code=CrossRegionDetection;action=Stop;index=1"
    p3, open3 = plan(DAHUA_SUB, "hub/dahua/S-3/nvr-1", stop, dahua_open=open2)
    assert (len(p1.records), len(p2.records), p2.skipped, len(p3.records)) == (1, 0, 1, 0)
    assert [o[:3] for o in open2 if o[:3] == ("nvr-1", "CrossRegionDetection", 1)]
    assert not [o for o in open3 if o[:3] == ("nvr-1", "CrossRegionDetection", 1)]


def test_dahua_bad_block_is_dead_lettered_alone() -> None:
    payload = (b"Code=CrossLineDetection;action=Pulse;index=0;data={\"UTC\": 1714574412}\n"
               b"Code=Broken;action=Sometimes;index=0\n")
    p, _ = plan(DAHUA_SUB, "hub/dahua/S-3/nvr-1", payload)
    assert (p.received, len(p.records)) == (2, 1)
    ((raw, error, _),) = p.dead
    assert raw == b"Code=Broken;action=Sometimes;index=0" and error.field == "action"


def test_gat1400_items_are_mapped_or_dead_lettered_one_by_one() -> None:
    payload = (GAT / "disposition_bad_items.json").read_bytes()
    p, _ = plan(GAT_SUB, "hub/gat1400/S-4", payload)
    assert p.received == len(p.records) + len(p.dead) and p.records and p.dead
    assert all(k == "face_match" and r["site_id"] == "S-4" for k, r in p.records)
    for raw, _, _ in p.dead:
        assert json.loads(raw)  # each the bytes of its own notification


def test_unrouted_topic_and_oversized_payload_are_dead_letters() -> None:
    p, _ = plan_message(None, {}, b"x", validate=validate, pseudonym_key=KEY,
                        received_ms=RECEIVED_MS, topic="old/topic")
    ((_, error, _),) = p.dead
    assert p.vendor == "unrouted" and error.reason == "UNKNOWN_SCHEMA" and "old/topic" in str(error)
    big = b"<" + b"x" * (1 << 20)
    p, _ = plan(HIK_SUB, "hub/hikvision/S-01/cam-1", big)
    ((raw, error, _),) = p.dead
    assert len(raw) == 64 * 1024 and "over the" in error.detail and "cut" in error.detail


def test_json_pieces_keep_each_element_s_bytes() -> None:
    text = ' [ {"a": "é"} ,[1, 2],"s"\n] '
    assert json_pieces(text) == [({"a": "é"}, '{"a": "é"}'.encode()), ([1, 2], b"[1, 2]"),
                                 ("s", b'"s"')]
    assert json_pieces(' {"a":1} ') == [({"a": 1}, b'{"a":1}')]
    assert json_pieces("[ ]") == []
    for bad in ("[1 2]", "[1,", "[1]x", ""):
        with pytest.raises(ValueError):
            json_pieces(bad)
