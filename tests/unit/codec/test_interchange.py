"""The JSON-lines interchange form: parsing, validation messages, pseudonymization, output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.codec import (
    error_lineno,
    format_error,
    incident_to_json,
    parse_line,
    read_jsonl,
    record_to_json,
    to_building,
    to_event,
    topic_key,
)
from hub.core.pseudonym import is_pseudonym, pseudonymize
from hub.model.errors import DecodeError, UnknownSchemaError, ValidationError
from hub.model.events import Building, Event
from hub.model.incidents import Evidence, Incident, Route
from hub.settings import Settings

SAMPLES = Settings().schemas_dir / "samples"

KEY = "unit-test-key"

ALARM: dict[str, Any] = {
    "kind": "perimeter_alarm",
    "event_id": "pa-1",
    "vendor": "hikvision",
    "device_id": "cam-1",
    "site_id": "S1",
    "event_time": "2024-05-01T08:00:00+08:00",
    "zone_id": "north",
    "alarm_type": "INTRUSION",
    "severity": 4,
}
SWIPE: dict[str, Any] = {
    "kind": "access_swipe",
    "event_id": "ac-1",
    "vendor": "zkteco",
    "device_id": "door-ctl-1",
    "site_id": "S1",
    "event_time": 1714521780000,
    "building_id": "B1",
    "door_id": "main",
    "card_no": "0012345678",
    "method": "CARD",
    "result": "DENIED",
}
FACE: dict[str, Any] = {
    "kind": "face_match",
    "event_id": "fm-1",
    "vendor": "sx",
    "device_id": "cam-2",
    "site_id": "S1",
    "event_time": 1714521780000,
    "watchlist_id": "WL1",
    "person_id": "330102199001011234",
    "similarity": 0.9,
}


def line(obj: dict[str, Any], **change: Any) -> str:
    return json.dumps({**obj, **change}, ensure_ascii=False)


def parse(obj: dict[str, Any], lineno: int | None = None, **change: Any) -> dict[str, Any]:
    return parse_line(line(obj, **change), lineno, pseudonym_key=KEY)[1]


def error_of(obj: dict[str, Any], lineno: int | None = None, **change: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_line(line(obj, **change), lineno, pseudonym_key=KEY)
    return info.value


# -- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T08:00:00+08:00",
        "2024-05-01T00:00:00Z",
        "2024-05-01T00:00:00.000+00:00",
        1714521600000,
    ],
)
def test_times_iso_with_offset_or_epoch_ms(value: Any) -> None:
    assert parse(ALARM, event_time=value)["event_time"] == 1714521600000


def test_naive_iso_time_names_field_and_fix() -> None:
    err = error_of(ALARM, 3, event_time="2024-05-01T08:00:00")
    assert err.field == "event_time"
    assert "no UTC offset" in err.detail and "+08:00" in err.detail
    assert str(err).startswith("line 3: event_time:")


def test_epoch_seconds_are_spotted() -> None:
    err = error_of(ALARM, event_time=1714521600)
    assert err.field == "event_time" and "multiply by 1000" in err.detail


@pytest.mark.parametrize("value", [0, 946684799999, 4102444800000, -5])
def test_implausible_times_rejected(value: int) -> None:
    assert error_of(ALARM, event_time=value).field == "event_time"


@pytest.mark.parametrize("value", ["tomorrow", "2024-13-01T00:00:00Z", True, None, [1]])
def test_unreadable_times_rejected(value: Any) -> None:
    assert error_of(ALARM, event_time=value).field == "event_time"


# -- shape ----------------------------------------------------------------------------------------


def test_unknown_enum_symbol_lists_allowed() -> None:
    err = error_of(ALARM, alarm_type="EARTHQUAKE")
    assert err.field == "alarm_type"
    assert "INTRUSION" in err.detail and "UNKNOWN" in err.detail and "EARTHQUAKE" in err.detail


def test_missing_required_field() -> None:
    obj = dict(ALARM)
    del obj["zone_id"]
    err = error_of(obj, 9)
    assert err.field == "zone_id" and "required" in err.detail
    assert error_lineno(err) == 9


def test_unknown_field_rejected_with_allowed_list() -> None:
    err = error_of(ALARM, zone="north")
    assert err.field == "zone" and "zone_id" in err.detail


def test_raw_alias_on_wrong_kind_is_an_unknown_field() -> None:
    err = error_of(ALARM, phone="13800001111")
    assert err.field == "phone" and "raw personal value" not in err.detail  # no such field here


def test_an_unknown_field_of_a_personal_kind_names_the_raw_names_taken() -> None:
    """``card_no`` is taken but is not a schema field: the allowed list alone did not say so."""
    swipe = {k: v for k, v in SWIPE.items() if k != "card_no"}
    err = error_of(swipe, card_number="0012345678")
    assert err.field == "card_number"
    assert "credential or card_no for credential_hash" in err.detail
    assert "0012345678" not in err.detail  # the raw value is never echoed


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "4"}, "severity"),
        ({"severity": 4.5}, "severity"),
        ({"severity": True}, "severity"),
        ({"site_id": 7}, "site_id"),
        ({"building_id": 3}, "building_id"),
        ({"site_id": None}, "site_id"),
    ],
)
def test_wrong_types_name_the_field(change: dict[str, Any], field: str) -> None:
    assert error_of(ALARM, **change).field == field


def test_optional_fields_default_to_null() -> None:
    record = parse(ALARM)
    assert record["building_id"] is None and record["description"] is None


def test_whole_float_accepted_as_integer() -> None:
    assert parse(ALARM, severity=4.0)["severity"] == 4


# -- rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 6, -1])
def test_severity_range(value: int) -> None:
    err = error_of(ALARM, severity=value)
    assert err.field == "severity" and "1" in err.detail and "5" in err.detail


@pytest.mark.parametrize("value", [-0.01, 1.01, 93])
def test_similarity_range(value: float) -> None:
    err = error_of(FACE, similarity=value)
    assert err.field == "similarity" and "0.0 to 1.0" in err.detail


@pytest.mark.parametrize("value", [0, 1, 0.5])
def test_similarity_bounds_accepted(value: float) -> None:
    assert parse(FACE, similarity=value)["similarity"] == float(value)


@pytest.mark.parametrize("field", ["event_id", "vendor", "device_id", "site_id", "zone_id"])
def test_empty_ids_rejected(field: str) -> None:
    err = error_of(ALARM, **{field: "  "})
    assert err.field == field and "empty" in err.detail


def test_empty_optional_id_rejected() -> None:
    assert error_of(ALARM, building_id="").field == "building_id"


def test_negative_households_rejected() -> None:
    building = json.loads((SAMPLES / "building_identity.jsonl").read_text().splitlines()[0])
    assert error_of(building, households=-1).field == "households"


# -- not JSON, bad kind ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["garbage", '{"kind": "perimeter_alarm"', "[1, 2]", '"x"'])
def test_not_a_json_object(text: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_line(text, 4, pseudonym_key=KEY)
    assert error_lineno(info.value) == 4 and "line 4" in str(info.value)


@pytest.mark.parametrize("kind", [None, "parking", 3])
def test_bad_kind(kind: Any) -> None:
    obj = {k: v for k, v in ALARM.items() if k != "kind"}
    if kind is not None:
        obj["kind"] = kind
    with pytest.raises(UnknownSchemaError) as info:
        parse_line(json.dumps(obj), pseudonym_key=KEY)
    assert info.value.field == "kind" and "perimeter_alarm" in info.value.detail


# -- pseudonymization -----------------------------------------------------------------------------


def test_raw_personal_values_are_pseudonymized() -> None:
    swipe = parse(SWIPE)
    assert "card_no" not in swipe
    assert swipe["credential_hash"] == pseudonymize("0012345678", KEY)
    face = parse(FACE)
    assert "person_id" not in face and is_pseudonym(face["person_hash"])
    assert "330102199001011234" not in json.dumps(face)


def test_raw_value_in_hash_field_is_hashed() -> None:
    obj = {k: v for k, v in FACE.items() if k != "person_id"}
    assert parse(obj, person_hash="Zhang San")["person_hash"] == pseudonymize("Zhang San", KEY)


def test_forced_open_needs_no_credential() -> None:
    obj = {k: v for k, v in SWIPE.items() if k != "card_no"}
    assert parse(obj, result="FORCED_OPEN")["credential_hash"] is None


def test_pseudonyms_are_deterministic_across_lines() -> None:
    assert parse(SWIPE)["credential_hash"] == parse(SWIPE, event_id="ac-2")["credential_hash"]


# -- files ----------------------------------------------------------------------------------------


def test_a_byte_order_mark_before_a_line_is_not_part_of_it(tmp_path: Path) -> None:
    """Windows editors start a UTF-8 file with one; `hub produce` rejected the first line
    ("Unexpected UTF-8 BOM (decode using utf-8-sig)") while the gateway took the same JSON.
    Files joined with `cat` carry it into the middle: that line is read too (stop 39's probe
    was told to "decode using utf-8-sig", Python's advice, not the hub's)."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (line(ALARM) + "\n" + line(SWIPE) + "\n").encode())
    assert [(x.lineno, x.kind, x.ok) for x in read_jsonl(path, pseudonym_key=KEY)] == [
        (1, "perimeter_alarm", True), (2, "access_swipe", True)]
    path.write_bytes((line(ALARM) + "\n\ufeff" + line(SWIPE) + "\n").encode())
    assert [x.ok for x in read_jsonl(path, pseudonym_key=KEY)] == [True, True]


def test_only_skips_other_kinds_but_rejects_lines_that_name_no_kind(tmp_path: Path) -> None:
    """`hub analytics` reads two kinds; a garbage or binary line used to be skipped with the
    other kinds' lines, unseen and uncounted."""
    path = tmp_path / "in.jsonl"
    path.write_bytes("\n".join([line(ALARM), line(SWIPE), "garbage", "{\"no\": 1}"]).encode()
                     + b"\n\x89PNG\x00\xff\n")
    got = [(x.lineno, x.kind, x.ok)
           for x in read_jsonl(path, pseudonym_key=KEY, only=("access_swipe",))]
    assert got == [(2, "access_swipe", True), (3, None, False), (4, None, False),
                   (5, None, False)]


def test_only_rejects_a_line_whose_kind_is_misspelt(tmp_path: Path) -> None:
    """`hub analytics` dropped a grid report written `"kind": "grid_reprot"` unseen: it named a
    kind, just not one it needed. A kind the hub does not know is now read, and rejected."""
    path = tmp_path / "in.jsonl"
    typo = line(ALARM).replace('"perimeter_alarm"', '"perimeter_alrm"')
    assert typo != line(ALARM)
    path.write_text("\n".join([line(ALARM), typo, line(SWIPE)]) + "\n")
    got = [(x.lineno, x.ok, str(x.error or ""))
           for x in read_jsonl(path, pseudonym_key=KEY, only=("access_swipe",))]
    assert [(n, ok) for n, ok, _ in got] == [(2, False), (3, True)]
    assert "'perimeter_alrm' is not a known kind" in got[0][2]


def test_read_jsonl_reports_every_bad_line_and_keeps_going(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            [
                line(ALARM),
                "",
                line(ALARM, severity=9),
                "not json",
                line(SWIPE),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    lines = list(read_jsonl(path, pseudonym_key=KEY))
    assert [(x.lineno, x.kind, x.ok) for x in lines] == [
        (1, "perimeter_alarm", True),
        (3, None, False),
        (4, None, False),
        (5, "access_swipe", True),
    ]
    bad = lines[1].error
    assert bad is not None
    assert format_error(bad, str(path)).startswith(f"{path}:3: severity: ")


# -- output ---------------------------------------------------------------------------------------


def test_record_to_json_deterministic_schema_order_epoch_ms() -> None:
    kind, record = parse_line(line(ALARM), pseudonym_key=KEY)
    shuffled = dict(reversed(list(record.items())))
    text = record_to_json(kind, shuffled)
    assert text == record_to_json(kind, record)
    assert text.startswith('{"kind":"perimeter_alarm","event_id":"pa-1","vendor":"hikvision",')
    assert '"event_time":1714521600000' in text and " " not in text
    assert parse_line(text, pseudonym_key=KEY) == (kind, record)


def test_dead_letter_bytes_as_base64() -> None:
    text = (SAMPLES / "dead_letter.jsonl").read_text().splitlines()[0]
    kind, record = parse_line(text, pseudonym_key=KEY)
    assert kind == "dead_letter" and record["original_value"] == b"garbage"
    assert '"original_value":"Z2FyYmFnZQ=="' in record_to_json(kind, record)


def _incident() -> Incident:
    building = Building(
        "B1", "3号楼", "addr", "S1", "G1", "330106001", "330106", "3301", None, "GW1", 10, 2,
        ("group_rental",), 1713585600000,
    )  # fmt: skip
    return Incident(
        incident_id="inc-1",
        version=1,
        rule_id="perimeter_breach_entry",
        rule_type="sequence",
        title="t",
        risk_level="HIGH",
        key="S1",
        site_id="S1",
        building_id="B1",
        grid_id="G1",
        first_event_time=1714521600000,
        last_event_time=1714521780000,
        evidence=(
            Evidence("perimeter_alarm", "pa-1", 1714521600000),
            Evidence("access_swipe", "ac-1", 1714521780000),
        ),
        route=Route("DISTRICT", "330106"),
        unrouted=False,
        building=building,
        emitted_time=1714521780000,
        tags=("a",),
    )


def test_incident_to_json_round_trips_through_the_model() -> None:
    incident = _incident()
    text = incident_to_json(incident)
    assert text.startswith('{"kind":"incident","incident_id":"inc-1","version":1,')
    kind, record = parse_line(text, pseudonym_key=KEY)
    assert kind == "incident"
    assert Incident.from_record(record) == incident


def test_to_event_and_to_building() -> None:
    kind, record = parse_line(line(SWIPE), pseudonym_key=KEY)
    event = to_event(kind, record)
    assert isinstance(event, Event)
    assert (event.kind, event.event_id, event.event_time, event.site_id) == (
        "access_swipe",
        "ac-1",
        1714521780000,
        "S1",
    )
    assert event.get("result") == "DENIED"
    text = (SAMPLES / "building_identity.jsonl").read_text().splitlines()[0]
    _, brecord = parse_line(text, pseudonym_key=KEY)
    building = to_building(brecord)
    assert building.building_id == "B-3301-0001-03" and building.risk_tags == ("group_rental",)
    assert building.to_record() == brecord
    with pytest.raises(UnknownSchemaError):
        to_event("building_identity", brecord)


def test_topic_keys() -> None:
    assert topic_key("access_swipe", parse(SWIPE)) == "S1"
    assert topic_key("building_identity", {"building_id": "B1"}) == "B1"
    assert topic_key("incident", _incident().to_record()) == "inc-1"


def test_a_number_too_long_for_python_is_said_without_pythons_advice(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(line(ALARM)[:-1] + ', "x": ' + "9" * 5_000 + "}\n", encoding="utf-8")
    [got] = read_jsonl(path, pseudonym_key=KEY)
    assert got.error is not None and "more than 4,300 digits" in str(got.error)
    assert "set_int_max_str_digits" not in str(got.error)
