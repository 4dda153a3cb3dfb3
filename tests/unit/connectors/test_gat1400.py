"""GA/T 1400 face disposition notifications -> face_match."""

from __future__ import annotations

import json

import pytest

from connectors.common import Mapped, MappingError, Site
from connectors.gat1400.mapping import map_notifications
from hub.core.pseudonym import pseudonymize

from .support import KEY, assert_no_raw, assert_valid, fixture

SITE = Site("S-3301-0001", building_id="B-3301-0001-03")
RAW_IDS = ["330102199001011234", "P-330102-000451", "P-330102-000733", "王某某",
           "330102000011900000010220240501224210000010600001",
           "330102000011900000020220240501224300000010600002",
           "330102000011900000020220240501224400000010600003"]


def outcomes(name: str, site: Site = SITE) -> list[Mapped | MappingError]:
    return map_notifications(fixture("gat1400", name), site=site, pseudonym_key=KEY)


def records(name: str, site: Site = SITE) -> list[Mapped]:
    out = outcomes(name, site)
    assert all(isinstance(o, Mapped) for o in out)
    mapped = [o for o in out if isinstance(o, Mapped)]
    for m in mapped:
        assert_valid(m)
    return mapped


def test_face_hits_exact_records() -> None:
    out = records("disposition_face_hits.json")
    assert [m.record for m in out] == [
        {"event_id": "gat1400-33010200001190000001022024050122421000001", "vendor": "gat1400",
         "device_id": "33010200001190000001", "site_id": "S-3301-0001",
         "event_time": 1714574530000,  # 20240501224210, no zone: Asia/Shanghai
         "building_id": "B-3301-0001-03",
         "watchlist_id": "330102000011900000012024040100000007",
         "person_hash": pseudonymize("330102199001011234", KEY),  # the id number wins
         "similarity": 0.93},
        {"event_id": "gat1400-33010200001190000002022024050122430000002", "vendor": "gat1400",
         "device_id": "33010200001190000002", "site_id": "S-3301-0001",
         "event_time": 1714574580000,  # 2024-05-01 22:43:00, no zone
         "building_id": "B-3301-0001-03",
         "watchlist_id": "330102000011900000012024040100000009",
         "person_hash": pseudonymize("P-330102-000733", KEY),
         "similarity": 0.87},  # 87 (percent) -> 0.87
        {"event_id": "gat1400-33010200001190000002022024050122440000003", "vendor": "gat1400",
         "device_id": "33010200001190000002", "site_id": "S-3301-0001",
         "event_time": 1714574640000,  # 2024-05-01T14:44:00Z
         "building_id": "B-3301-0001-03",
         "watchlist_id": "330102000011900000012024040100000009",
         "person_hash": pseudonymize("330102000011900000020220240501224400000010600003", KEY),
         "similarity": 0.81},
    ]


def test_times_without_a_zone_take_the_sites_zone() -> None:
    utc = Site("S-3301-0001", zone="UTC", building_id="B-3301-0001-03")
    shanghai = [m.record["event_time"] for m in records("disposition_face_hits.json")]
    in_utc = [m.record["event_time"] for m in records("disposition_face_hits.json", utc)]
    eight_hours = 8 * 3600 * 1000
    assert in_utc == [shanghai[0] + eight_hours, shanghai[1] + eight_hours, shanghai[2]]


def test_no_raw_person_or_face_id_in_any_output() -> None:
    out = records("disposition_face_hits.json") + records("single_object.json")
    assert_no_raw(out, [*RAW_IDS, "330102000011900000010220240501231000000010600020"])


def test_same_notification_twice_has_the_same_event_id() -> None:
    assert records("single_object.json") == records("single_object.json")


def test_single_object_instead_of_a_list() -> None:
    (only,) = records("single_object.json")
    assert only.record["similarity"] == 0.95


def test_bad_items_are_errors_in_place_the_rest_is_mapped() -> None:
    out = outcomes("disposition_bad_items.json")
    assert isinstance(out[0], Mapped)
    assert_valid(out[0])
    fields = [o.field for o in out[1:] if isinstance(o, MappingError)]
    assert fields == ["DispositionNotificationObject[1].TriggerTime",
                      "DispositionNotificationObject[2].Similarity",
                      "DispositionNotificationObject[3].Similarity",
                      "DispositionNotificationObject[4]",
                      "DispositionNotificationObject[5].TriggerTime"]


@pytest.mark.parametrize(("name", "field"), [
    ("wrong_root.json", "DispositionNotificationListObject"),
    ("truncated.json", "DispositionNotificationListObject"),
])
def test_unreadable_envelopes(name: str, field: str) -> None:
    with pytest.raises(MappingError) as caught:
        outcomes(name)
    assert (caught.value.field, caught.value.reason) == (field, "DECODE_ERROR")


@pytest.mark.parametrize("payload", [
    b"", b"[]", b"null", b"{\"DispositionNotificationListObject\": 3}",
    b"{\"DispositionNotificationListObject\": {}}", b"\xff\xfe", b"[" * 100_000])
def test_garbage_envelopes_are_mapping_errors(payload: bytes) -> None:
    with pytest.raises(MappingError):
        map_notifications(payload, site=SITE, pseudonym_key=KEY)


def test_missing_ids_name_the_field() -> None:
    body = {"DispositionNotificationListObject": {"DispositionNotificationObject": [
        {"NotificationID": "n1", "DispositionID": "d1", "TriggerTime": "20240501230000",
         "FaceObject": {"Similarity": 0.9, "DeviceID": "33010200001190000001"}},
        {"NotificationID": "n2", "DispositionID": "d1", "TriggerTime": "20240501230000",
         "FaceObject": {"Similarity": 0.9, "FaceID": "f"}},
        {"DispositionID": "d1", "TriggerTime": "20240501230000"},
        {"NotificationID": "n4", "DispositionID": "d1", "TriggerTime": "20240501230000",
         "FaceObject": "oops"},
    ]}}
    out = map_notifications(json.dumps(body), site=SITE, pseudonym_key=KEY)
    assert [o.field for o in out if isinstance(o, MappingError)] == [
        "DispositionNotificationObject[0].PersonObject.PersonID",
        "DispositionNotificationObject[1].FaceObject.DeviceID",
        "DispositionNotificationObject[2].NotificationID",
        "DispositionNotificationObject[3].FaceObject"]
