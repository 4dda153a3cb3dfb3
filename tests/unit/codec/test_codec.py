"""Avro single-object encoding: golden bytes, fingerprints, errors, evolution through history."""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint

from hub.codec import Codec, decode, encode, load_codec
from hub.codec.avro import MAGIC
from hub.codec.schemas import (
    canonical_form,
    crc64_avro,
    expand,
    fingerprint,
    load_named_types,
    strip_logical_types,
)
from hub.model.errors import DecodeError, UnknownSchemaError, ValidationError
from hub.settings import Settings

SCHEMAS = Settings().schemas_dir

ALARM: dict[str, Any] = {
    "event_id": "e1",
    "vendor": "v",
    "device_id": "d",
    "site_id": "s",
    "event_time": 1714521600000,
    "zone_id": "z",
    "building_id": None,
    "alarm_type": "INTRUSION",
    "severity": 3,
    "description": None,
}

# fmt: off
GOLDEN_ALARM = bytes([
    0xC3, 0x01,                                      # single-object marker
    0x67, 0xAD, 0xB7, 0xBD, 0xA2, 0x93, 0xFB, 0x01,  # CRC-64-AVRO of PerimeterAlarm, little-endian
    0x04, *b"e1",                                    # event_id: zigzag length 2, bytes
    0x02, *b"v",                                     # vendor
    0x02, *b"d",                                     # device_id
    0x02, *b"s",                                     # site_id
    0x80, 0xC0, 0x9B, 0x97, 0xE6, 0x63,              # event_time 1714521600000, zigzag varint
    0x02, *b"z",                                     # zone_id
    0x00,                                            # building_id: union branch 0 (null)
    0x00,                                            # alarm_type: enum index 0 (INTRUSION)
    0x06,                                            # severity 3, zigzag
    0x00,                                            # description: null
])
# fmt: on


def test_golden_bytes_perimeter_alarm() -> None:
    assert encode("perimeter_alarm", ALARM) == GOLDEN_ALARM
    assert decode(GOLDEN_ALARM) == ("perimeter_alarm", ALARM)


def test_crc64_avro_matches_the_specification_and_fastavro() -> None:
    # The Avro specification's fingerprint of the schema "int".
    assert crc64_avro(b'"int"') == 0x7275D51A3F395C8F
    codec = load_codec()
    for name, schema in codec.schemas.items():
        form = canonical_form(schema)
        assert fingerprint(schema).hex() == fastavro_fingerprint(form, "CRC-64-AVRO"), name


def test_record_name_or_kind_both_work() -> None:
    assert encode("PerimeterAlarm", ALARM) == encode("perimeter_alarm", ALARM)
    assert encode("hub.PerimeterAlarm", ALARM) == GOLDEN_ALARM


def test_defaults_filled_on_encode() -> None:
    minimal = {k: v for k, v in ALARM.items() if k not in ("building_id", "description")}
    assert encode("perimeter_alarm", minimal) == GOLDEN_ALARM


def test_encode_unknown_kind() -> None:
    with pytest.raises(UnknownSchemaError, match="known kinds"):
        encode("parking_event", ALARM)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "high"}, "severity"),
        ({"alarm_type": "EARTHQUAKE"}, "alarm_type"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"site_id": None}, "site_id"),
    ],
)
def test_encode_bad_value_names_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        encode("perimeter_alarm", {**ALARM, **change})
    assert info.value.field == field


def test_encode_missing_required_names_field() -> None:
    record = dict(ALARM)
    del record["zone_id"]
    with pytest.raises(ValidationError) as info:
        encode("perimeter_alarm", record)
    assert info.value.field == "zone_id"


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\xc3\x01\x00", b'{"kind":"perimeter_alarm"}', b"\x00" * 20],
)
def test_decode_rejects_non_single_object(data: bytes) -> None:
    with pytest.raises(DecodeError, match="single-object"):
        decode(data)


def test_decode_unknown_fingerprint() -> None:
    with pytest.raises(UnknownSchemaError, match="01:02:03:04:05:06:07:08"):
        decode(MAGIC + bytes(range(1, 9)) + b"\x00")


def test_an_unknown_fingerprint_of_digits_only_survives_the_dead_letter_scrub() -> None:
    """Sixteen hex digits that are all digits read as a card number: a dead letter said
    "unknown schema fingerprint p1:aa6b..." and the operator could not tell which schema
    (an outside probe)."""
    from hub.codec.deadletter import dead_letter_record

    with pytest.raises(UnknownSchemaError) as info:
        decode(MAGIC + bytes([1] * 8) + b"\x00")
    record = dead_letter_record(info.value, topic="hub.src.access_swipe", partition=0, offset=0,
                                key=b"k", value=b"v", time_ms=0, pseudonym_key="k" * 32)
    assert "fingerprint 01:01:01:01:01:01:01:01:" in record["detail"]


def test_decode_truncated_and_trailing_bytes() -> None:
    with pytest.raises(DecodeError, match="does not decode") as info:
        decode(GOLDEN_ALARM[:-4])
    assert isinstance(info.value.__cause__, Exception)
    assert str(info.value).endswith("the body ends before the record does (truncated?)")
    with pytest.raises(DecodeError, match="unexpected bytes"):
        decode(GOLDEN_ALARM + b"\x00")


def test_decode_enum_index_out_of_range() -> None:
    bad = bytearray(GOLDEN_ALARM)
    bad[-3] = 0x7E  # enum index 63
    with pytest.raises(DecodeError, match="enum symbol or union branch number past"):
        decode(bytes(bad))  # was "IndexError: list index out of range"


def test_times_stay_int_milliseconds() -> None:
    _, record = decode(GOLDEN_ALARM)
    assert type(record["event_time"]) is int


# -- evolution through history -----------------------------------------------------------------


def _single_object(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(MAGIC + fingerprint(schema))
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(strip_logical_types(schema), named_schemas={}), record
    )
    return buf.getvalue()


def _schemas_copy(tmp_path: Path) -> Path:
    target = tmp_path / "avro"
    shutil.copytree(SCHEMAS, target, ignore=shutil.ignore_patterns("history", "samples"))
    return target


def _write_history(schemas_dir: Path, name: str, version: int, schema: dict[str, Any]) -> None:
    path = schemas_dir / "history" / name / f"v{version}.avsc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema), encoding="utf-8")


def _current(name: str) -> dict[str, Any]:
    return expand(f"hub.{name}", load_named_types(SCHEMAS))


def test_old_writer_new_reader(tmp_path: Path) -> None:
    """Data from a released v1 without `description` decodes with the current schema."""
    old = copy.deepcopy(_current("PerimeterAlarm"))
    old["fields"] = [f for f in old["fields"] if f["name"] != "description"]
    schemas_dir = _schemas_copy(tmp_path)
    _write_history(schemas_dir, "PerimeterAlarm", 1, old)
    codec = Codec(schemas_dir)

    old_record = {k: v for k, v in ALARM.items() if k != "description"}
    kind, record = codec.decode(_single_object(old, old_record))
    assert kind == "perimeter_alarm"
    assert record == {**old_record, "description": None}


def test_decoded_strings_are_shared_by_the_compiled_reader_and_by_fastavro(
    tmp_path: Path,
) -> None:
    """Ingest builds its events from decoded records without sharing them again: both ways of
    decoding (the compiled reader for current writers, fastavro for older ones) must share, so
    two decodings of one message hold the same string objects, not equal copies."""
    old = copy.deepcopy(_current("PerimeterAlarm"))
    old["fields"] = [f for f in old["fields"] if f["name"] != "description"]
    schemas_dir = _schemas_copy(tmp_path)
    _write_history(schemas_dir, "PerimeterAlarm", 1, old)
    codec = Codec(schemas_dir)
    alarm = {**ALARM, "description": "x" * 65}  # longer than a shared string
    current = codec.encode("perimeter_alarm", alarm)
    older = _single_object(old, {k: v for k, v in alarm.items() if k != "description"})
    for data in (current, older):
        (_, first), (_, second) = codec.decode(data), codec.decode(data)
        assert first == second
        for name, value in first.items():
            other = second[name]
            assert next(k for k in second if k == name) is next(k for k in first if k == name)
            if isinstance(value, str) and len(value) > 1:
                assert (value is other) == (len(value) <= 64), (name, value)


def test_new_writer_old_reader(tmp_path: Path) -> None:
    """A reader still on v1 reads data from a newer producer: new field ignored, new enum symbol
    mapped to the enum's default."""
    current = _current("PerimeterAlarm")
    newer = copy.deepcopy(current)
    newer["fields"].append({"name": "confidence", "type": "double", "doc": "x", "default": 1.0})
    alarm_type = next(f for f in newer["fields"] if f["name"] == "alarm_type")["type"]
    alarm_type["symbols"] = [*alarm_type["symbols"], "DRONE"]
    schemas_dir = _schemas_copy(tmp_path)  # the old reader's current schemas
    _write_history(schemas_dir, "PerimeterAlarm", 2, newer)  # it learned the fingerprint
    codec = Codec(schemas_dir)

    data = _single_object(newer, {**ALARM, "alarm_type": "DRONE", "confidence": 0.5})
    kind, record = codec.decode(data)
    assert kind == "perimeter_alarm"
    assert record == {**ALARM, "alarm_type": "UNKNOWN"}


def test_history_fingerprints_are_known() -> None:
    codec = load_codec()
    versions = {(w.name, w.version) for w in codec.writers.values()}
    assert ("hub.PerimeterAlarm", 1) in versions
    assert codec.fingerprint("perimeter_alarm") in codec.writers
