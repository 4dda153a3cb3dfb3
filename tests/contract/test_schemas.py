"""The compatibility guard of the event contracts.

- every schema file parses, is documented, and follows the conventions (namespace, times, enum
  defaults, personal fields marked);
- the public field names (``CONTRACT``) are all there;
- every sample line round-trips: interchange -> Avro single-object -> decode -> equal;
- every released version in schemas/avro/history and the current schema read each other's data,
  checked by the Avro resolution rules and by actually resolving data with fastavro;
- a change that would break readers makes the checker fail (shown on mutated schemas).
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError

from hub.codec import full_problems, load_codec, parse_line, read_jsonl, read_problems
from hub.codec.avro import MAGIC
from hub.codec.schemas import (
    WIRE_RECORDS,
    expand,
    fingerprint,
    iter_history,
    load_named_types,
    strip_logical_types,
)
from hub.model.errors import REASONS
from hub.model.events import COMMON_FIELDS, RECORD_NAMES, SOURCE_KINDS, Building
from hub.model.incidents import RISK_LEVELS, ROUTE_LEVELS
from hub.settings import Settings

SCHEMAS = Settings().schemas_dir
KEY = "contract-test-key"
CODEC = load_codec(SCHEMAS)
TYPES = load_named_types(SCHEMAS)
HISTORY = list(iter_history(SCHEMAS))

#: These names are the public contract (more fields may be added).
CONTRACT: dict[str, tuple[str, ...]] = {
    "PerimeterAlarm": (*COMMON_FIELDS, "zone_id", "building_id", "alarm_type", "severity"),
    "AccessSwipe": (
        *COMMON_FIELDS, "building_id", "door_id", "credential_hash", "method", "result",
        "direction",
    ),
    "FaceMatch": (*COMMON_FIELDS, "building_id", "watchlist_id", "person_hash", "similarity"),
    "BuildingLookup": (
        *COMMON_FIELDS, "building_id", "requester_hash", "requester_role", "channel",
    ),
    "GridReport": (
        *COMMON_FIELDS, "report_id", "grid_id", "building_id", "reporter_hash", "category",
        "status", "severity", "description",
    ),
    "BuildingIdentity": (
        "building_id", "name", "address", "site_id", "grid_id", "township_code", "district_code",
        "city_code", "police_station_id", "grid_worker_id", "households", "rental_units",
        "risk_tags", "updated_time",
    ),
    "Incident": (
        "incident_id", "version", "rule_id", "title", "risk_level", "site_id", "building_id",
        "grid_id", "first_event_time", "last_event_time", "evidence", "route", "building",
        "emitted_time",
    ),
    "DeadLetter": (
        "reason", "detail", "source_topic", "source_partition", "source_offset", "original_key",
        "original_value", "original_headers", "time",
    ),
    # the area analytics (docs/analytics.md)
    "DisputeFunnel": (
        "area_level", "area_code", "period", "period_start", "period_end", "reported",
        "accepted", "resolved", "unresolved", "in_progress", "success_rate",
        "median_hours_to_resolve",
    ),
    "RiskWarning": (
        "area_level", "area_code", "case_type", "week_start", "count", "baseline_mean",
        "p_value", "risk_level", "route", "final",
    ),
    "SafetyIndex": (
        "area_level", "area_code", "day_start", "incidents_critical", "incidents_high",
        "incidents_medium", "incidents_low", "open_disputes", "households", "households_used",
        "per_households", "penalty", "index",
    ),
}  # fmt: skip
ENUMS: dict[str, tuple[str, ...]] = {
    "AlarmType": (
        "INTRUSION", "LINE_CROSSING", "FENCE_CUT", "CLIMB", "LOITERING", "TAMPER", "FAULT",
        "UNKNOWN",
    ),
    "AccessMethod": ("CARD", "FACE", "QR", "PIN", "FINGERPRINT", "UNKNOWN"),
    "AccessResult": (
        "GRANTED", "DENIED", "FORCED_OPEN", "HELD_OPEN", "TAILGATE", "ANTI_PASSBACK", "UNKNOWN",
    ),
    "Direction": ("IN", "OUT", "UNKNOWN"),
    "RequesterRole": (
        "POLICE", "GRID_WORKER", "PROPERTY", "RESIDENT", "VISITOR", "SYSTEM", "UNKNOWN",
    ),
    "LookupChannel": ("QR_SCAN", "APP", "API", "UNKNOWN"),
    "ReportCategory": (
        "DISPUTE", "SAFETY_HAZARD", "FIRE_HAZARD", "SUSPICIOUS_PERSON", "PUBLIC_ORDER",
        "ENVIRONMENT", "OTHER",
    ),
    "ReportStatus": ("REPORTED", "ACCEPTED", "MEDIATING", "RESOLVED", "UNRESOLVED"),
    "RiskLevel": RISK_LEVELS,
    "RouteLevel": ROUTE_LEVELS,
    "DeadLetterReason": REASONS,
    "AnalyticsPeriod": ("DAY", "WEEK", "MONTH", "YEAR"),
}  # fmt: skip


def _fields(name: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in TYPES[f"hub.{name}"]["fields"]}


# -- conventions --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_schema_parses_and_is_documented(name: str) -> None:
    schema = TYPES[name]
    assert schema.get("namespace") == "hub", name
    assert schema.get("doc"), f"{name} needs a doc"
    fastavro.parse_schema(expand(name, TYPES), named_schemas={})
    for field in schema.get("fields", []):
        assert field.get("doc"), f"{name}.{field['name']} needs a doc"


@pytest.mark.parametrize("name", sorted(n for n, s in TYPES.items() if s["type"] == "enum"))
def test_enums_have_a_default_symbol(name: str) -> None:
    schema = TYPES[name]
    assert schema.get("default") in ("UNKNOWN", "OTHER"), f"{name} needs a default symbol"
    assert schema["default"] in schema["symbols"]


def _all_fields() -> list[tuple[str, dict[str, Any]]]:
    return [(name, field) for name, schema in TYPES.items() for field in schema.get("fields", [])]


def test_times_are_timestamp_millis() -> None:
    for name, field in _all_fields():
        if field["name"] == "time" or field["name"].endswith("_time"):
            types = field["type"] if isinstance(field["type"], list) else [field["type"]]
            logical = [t for t in types if isinstance(t, dict)]
            assert logical and all(
                t == {"type": "long", "logicalType": "timestamp-millis"} for t in logical
            ), f"{name}.{field['name']} must be a timestamp-millis long"


def test_personal_fields_are_marked() -> None:
    for name, field in _all_fields():
        is_hash = field["name"].endswith("_hash")
        assert (field.get("pii") == "pseudonymized") == is_hash, (
            f"{name}.{field['name']}: pseudonymized personal fields end in _hash and carry "
            '"pii": "pseudonymized"'
        )


@pytest.mark.parametrize("record", sorted(CONTRACT))
def test_contract_field_names_present(record: str) -> None:
    missing = set(CONTRACT[record]) - set(_fields(record))
    assert not missing, f"{record} lost contract fields {sorted(missing)}"


@pytest.mark.parametrize("enum", sorted(ENUMS))
def test_contract_enum_symbols_present(enum: str) -> None:
    missing = set(ENUMS[enum]) - set(TYPES[f"hub.{enum}"]["symbols"])
    assert not missing, f"{enum} lost symbols {sorted(missing)}"


def test_every_kind_has_a_record_and_the_model_matches() -> None:
    assert set(RECORD_NAMES.values()) == set(WIRE_RECORDS)
    for record in WIRE_RECORDS:
        assert f"hub.{record}" in TYPES
    for kind in SOURCE_KINDS:
        assert list(_fields(RECORD_NAMES[kind]))[:5] == list(COMMON_FIELDS)
    building = Building.from_record({"building_id": "B"}).to_record()
    assert list(building) == list(_fields("BuildingIdentity"))


def test_incident_schema_matches_to_record_exactly() -> None:
    sample = (SCHEMAS / "samples" / "incident.jsonl").read_text(encoding="utf-8").splitlines()[0]
    from hub.model.incidents import Incident

    _, record = parse_line(sample, pseudonym_key=KEY)
    incident = Incident.from_record(record)
    assert list(incident.to_record()) == list(_fields("Incident"))
    assert incident.to_record() == record
    assert CODEC.decode(CODEC.encode("incident", incident.to_record()))[1] == record


# -- samples round-trip -------------------------------------------------------------------------


SAMPLE_FILES = sorted((SCHEMAS / "samples").glob("*.jsonl"))


def test_every_kind_has_samples() -> None:
    assert {p.stem for p in SAMPLE_FILES} == set(RECORD_NAMES)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_samples_round_trip(path: Any) -> None:
    lines = list(read_jsonl(path, pseudonym_key=KEY, codec=CODEC))
    assert lines
    for line in lines:
        assert line.error is None, f"{path.name}:{line.lineno}: {line.error}"
        assert line.kind == path.stem and line.record is not None
        data = CODEC.encode(line.kind, line.record)
        assert data[:2] == MAGIC and data[2:10] == CODEC.fingerprint(line.kind)
        assert CODEC.decode(data) == (line.kind, line.record)


# -- history: released versions stay compatible, both ways --------------------------------------


def test_current_wire_schemas_are_released() -> None:
    released = {fingerprint(h.schema) for h in HISTORY}
    for record in WIRE_RECORDS:
        assert CODEC.fingerprint(record) in released, (
            f"{record} changed since its last release: check the change keeps old data readable, "
            "then run `python -m hub.codec.freeze` to add schemas/avro/history/"
            f"{record}/v<N+1>.avsc"
        )


@pytest.mark.parametrize("hist", HISTORY, ids=lambda h: f"{h.name}-v{h.version}")
def test_history_compatible_with_current_both_ways(hist: Any) -> None:
    current = CODEC.schemas.get(hist.name)
    assert current is not None, f"{hist.name} was released and must not disappear"
    assert full_problems(hist.schema, current) == []


def _write(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _parsed(schema), record)
    return buf.getvalue()


def _read(writer: dict[str, Any], reader: dict[str, Any], data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data), _parsed(writer), _parsed(reader))


def _parsed(schema: dict[str, Any]) -> Any:
    return fastavro.parse_schema(strip_logical_types(schema), named_schemas={})


@pytest.mark.parametrize("hist", HISTORY, ids=lambda h: f"{h.name}-v{h.version}")
def test_history_data_resolves_both_ways(hist: Any) -> None:
    """The samples, written by the current schema and read by the old one, and back again."""
    current = CODEC.schemas[hist.name]
    kind = CODEC.kind_of(hist.name)
    for line in read_jsonl(SCHEMAS / "samples" / f"{kind}.jsonl", pseudonym_key=KEY):
        assert line.record is not None
        as_old = _read(current, hist.schema, _write(current, line.record))
        back = _read(hist.schema, current, _write(hist.schema, as_old))
        assert {k: v for k, v in back.items() if k in as_old} == as_old


# -- the checker fails on breaking changes ------------------------------------------------------


def _alarm() -> dict[str, Any]:
    return copy.deepcopy(CODEC.schemas["hub.PerimeterAlarm"])


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def _remove_required_field(s: dict[str, Any]) -> None:
    s["fields"] = [f for f in s["fields"] if f["name"] != "zone_id"]


def _add_field_without_default(s: dict[str, Any]) -> None:
    s["fields"].append({"name": "camera_angle", "type": "int", "doc": "x"})


def _rename_enum_symbol_without_default(s: dict[str, Any]) -> None:
    enum = _field(s, "alarm_type")["type"]
    enum["symbols"] = ["INTRUDER" if x == "INTRUSION" else x for x in enum["symbols"]]
    del enum["default"]


def _narrow_type(s: dict[str, Any]) -> None:
    _field(s, "event_time")["type"] = "int"


def _make_nullable_required(s: dict[str, Any]) -> None:
    field = _field(s, "building_id")
    field["type"] = "string"
    del field["default"]


def _rename_record(s: dict[str, Any]) -> None:
    s["name"] = "PerimeterAlert"


BREAKING: dict[str, Callable[[dict[str, Any]], None]] = {
    "remove field without default": _remove_required_field,
    "add field without default": _add_field_without_default,
    "rename enum symbol, no default": _rename_enum_symbol_without_default,
    "narrow long to int": _narrow_type,
    "nullable -> required": _make_nullable_required,
    "rename record": _rename_record,
}


@pytest.mark.parametrize("mutate", BREAKING.values(), ids=list(BREAKING))
def test_breaking_change_fails_the_check(mutate: Callable[[dict[str, Any]], None]) -> None:
    old, new = _alarm(), _alarm()
    mutate(new)
    assert full_problems(old, new), "the checker must reject this change"


def test_checker_agrees_with_fastavro_on_a_breaking_change() -> None:
    """Not just a rule: an old reader really cannot read data without the removed field."""
    old, new = _alarm(), _alarm()
    _remove_required_field(new)
    record = CODEC.decode(CODEC.encode("perimeter_alarm", _sample_alarm()))[1]
    del record["zone_id"]
    assert read_problems(new, old)
    with pytest.raises(SchemaResolutionError):
        _read(new, old, _write(new, record))


def _sample_alarm() -> dict[str, Any]:
    text = (SCHEMAS / "samples" / "perimeter_alarm.jsonl").read_text(encoding="utf-8")
    return parse_line(text.splitlines()[0], pseudonym_key=KEY)[1]


def _add_optional_field(s: dict[str, Any]) -> None:
    s["fields"].append({"name": "confidence", "type": ["null", "double"], "default": None})


def _add_enum_symbol(s: dict[str, Any]) -> None:
    enum = _field(s, "alarm_type")["type"]
    enum["symbols"] = [*enum["symbols"], "DRONE"]


def _remove_field_with_default(s: dict[str, Any]) -> None:
    s["fields"] = [f for f in s["fields"] if f["name"] != "description"]


def _docs_only(s: dict[str, Any]) -> None:
    s["doc"] = "reworded"
    _field(s, "severity")["doc"] = "reworded"


COMPATIBLE: dict[str, Callable[[dict[str, Any]], None]] = {
    "add optional field": _add_optional_field,
    "add enum symbol (enum has default)": _add_enum_symbol,
    "remove field with default": _remove_field_with_default,
    "reword docs": _docs_only,
}


@pytest.mark.parametrize("mutate", COMPATIBLE.values(), ids=list(COMPATIBLE))
def test_compatible_change_passes_the_check(mutate: Callable[[dict[str, Any]], None]) -> None:
    old, new = _alarm(), _alarm()
    mutate(new)
    assert full_problems(old, new) == []
    record = _sample_alarm()
    as_new = _read(old, new, _write(old, record))
    _read(new, old, _write(new, as_new))


def test_history_files_are_self_contained_json() -> None:
    for hist in HISTORY:
        text = hist.path.read_text(encoding="utf-8")
        assert json.loads(text) == hist.schema
        fastavro.parse_schema(hist.schema, named_schemas={})


def test_contract_doc_lists_current_fingerprints() -> None:
    doc = (SCHEMAS.parent.parent / "docs" / "contracts.md").read_text(encoding="utf-8")
    for record in WIRE_RECORDS:
        assert f"| {record} | `{CODEC.fingerprint(record).hex()}` |" in doc, (
            f"docs/contracts.md: update the fingerprint of {record}"
        )
