"""The compiled readers give fastavro's record or stand aside (hub.codec.fast_reader)."""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.codec import load_codec
from hub.codec.avro import HEADER_SIZE
from hub.codec.fast_reader import compile_reader
from hub.model.errors import DecodeError
from hub.model.events import RECORD_NAMES
from tests.unit.codec.test_codec_properties import _strategy

CODEC = load_codec()

#: Every Avro type, nested, named twice, recursive, with values of every size.
EVERYTHING = fastavro.parse_schema({
    "type": "record", "name": "Everything", "namespace": "t",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "exact", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "colour", "type": {"type": "enum", "name": "Colour",
                                    "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "other_colour", "type": ["null", "t.Colour"]},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "either", "type": ["null", "string", "long", "t.Digest",
                                    {"type": "array", "items": "int"}]},
        {"name": "next", "type": ["null", "t.Everything"]},
    ],
})

_longs = st.integers(-(2**63), 2**63 - 1)
_ints = st.integers(-(2**31), 2**31 - 1)
_texts = st.text(max_size=80)  # 80: lengths of one and of two varint bytes
_floats32 = st.floats(width=32, allow_nan=False)


def _everything(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "flag": st.booleans(), "small": _ints, "big": _longs, "ratio": _floats32,
        "exact": st.floats(allow_nan=False), "blob": st.binary(max_size=80), "text": _texts,
        "digest": st.binary(min_size=4, max_size=4),
        "colour": st.sampled_from(["RED", "GREEN", "BLUE"]),
        "other_colour": st.none() | st.sampled_from(["RED", "BLUE"]),
        "tags": st.lists(_texts, max_size=4),
        "counts": st.dictionaries(_texts, _longs, max_size=4),
        "either": st.none() | _texts | _longs | st.binary(min_size=4, max_size=4)
        | st.lists(_ints, max_size=3),
        "next": st.none() if depth >= 2 else st.none() | _everything(depth + 1),
    })


def _write(parsed: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    return buf.getvalue()


def _fastavro(parsed: Any, body: bytes) -> Any:
    """fastavro's record, or the type of its error; None when bytes are left over."""
    buf = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buf, parsed, None)
    except Exception as exc:  # any refusal counts as one
        return type(exc)
    return record if buf.tell() == len(body) else None


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types and the same key order all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):  # the same bits: NaN is not equal to itself, -0.0 equals 0.0
        return struct.pack("<d", a) == struct.pack("<d", b)
    return bool(a == b)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(record=_everything())
def test_every_avro_type_reads_as_fastavro_reads_it(record: dict[str, Any]) -> None:
    reader = compile_reader(EVERYTHING)
    assert reader is not None
    body = _write(EVERYTHING, record)
    got = reader(b"xx" + body, 2)
    assert got is not None
    assert _same(got, _fastavro(EVERYTHING, body))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(record=_everything(), data=st.data())
def test_damaged_bytes_read_as_fastavro_reads_them_or_go_to_it(record: dict[str, Any],
                                                               data: st.DataObject) -> None:
    """Whatever the damage: the reader's record is fastavro's, and what fastavro refuses the
    reader leaves to it (None), so the error a producer sees is always fastavro's."""
    reader = compile_reader(EVERYTHING)
    assert reader is not None
    body = bytearray(_write(EVERYTHING, record))
    how = data.draw(st.sampled_from(["cut", "flip", "append", "splice"]))
    if how == "cut":
        del body[data.draw(st.integers(0, len(body) - 1)):]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    elif how == "append":
        body += data.draw(st.binary(min_size=1, max_size=4))
    else:
        at = data.draw(st.integers(0, len(body)))
        body[at:at] = data.draw(st.binary(min_size=1, max_size=6))
    got = reader(bytes(body), 0)
    expected = _fastavro(EVERYTHING, bytes(body))
    if got is not None:
        assert isinstance(expected, dict), f"fastavro refused what the reader read: {expected}"
        assert _same(got, expected)


@pytest.mark.parametrize("kind", list(RECORD_NAMES))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_contract_reads_through_its_compiled_reader(kind: str, data: st.DataObject) -> None:
    schema = CODEC.schema(kind)
    parsed = CODEC._parsed[CODEC.record_name(kind)]
    reader = compile_reader(parsed)
    assert reader is not None, f"{kind}: the current schema has no compiled reader"
    record = data.draw(_strategy(schema, schema["name"], {}))
    value = CODEC.encode(kind, record)
    got = reader(value, HEADER_SIZE)
    assert got is not None
    assert _same(got, _fastavro(parsed, value[HEADER_SIZE:]))
    decoded_kind, decoded = CODEC.decode(value)
    assert decoded_kind == kind and _same(decoded, got)


def test_a_record_the_reader_stands_aside_for_gets_fastavros_error() -> None:
    value = CODEC.encode("perimeter_alarm", {
        "event_id": "e1", "vendor": "v", "device_id": "d", "site_id": "s",
        "event_time": 1_700_000_000_000, "zone_id": "z", "building_id": None,
        "alarm_type": "INTRUSION", "severity": 3, "description": None,
    })
    with pytest.raises(DecodeError, match=r"body does not decode as hub\.PerimeterAlarm"):
        CODEC.decode(value[:-3])
    with pytest.raises(DecodeError, match=r"2 unexpected bytes after the hub\.PerimeterAlarm"):
        CODEC.decode(value + b"\x00\x00")


@pytest.mark.parametrize("value", [2**31, -(2**45), 2**63 - 1, -(2**63)])
def test_an_int_field_holding_a_long_reads_as_fastavro_reads_it(value: int) -> None:
    """Avro writes int and long alike (zig-zag varints); a vendor's int past 32 bits reads as
    fastavro reads it, and a varint past 64 bits is left to fastavro."""
    ints = fastavro.parse_schema({"type": "record", "name": "I", "fields": [
        {"name": "a", "type": "int"}, {"name": "b", "type": "long"}]})
    longs = fastavro.parse_schema({"type": "record", "name": "I", "fields": [
        {"name": "a", "type": "long"}, {"name": "b", "type": "long"}]})
    reader = compile_reader(ints)
    assert reader is not None
    body = _write(longs, {"a": value, "b": value})
    assert _same(reader(body, 0), _fastavro(ints, body))
    assert reader(bytes([0xFF] * 9 + [0x7F]) + b"\x00", 0) is None


@pytest.mark.parametrize("field_type", [{"type": {"type": "string"}}, {"type": ["null", "long"]}])
def test_a_schema_shape_the_compiler_does_not_know_gets_no_reader(field_type: Any) -> None:
    """No reader, so fastavro reads it: not an error while the codec loads."""
    schema = {"type": "record", "name": "W", "fields": [{"name": "a", "type": field_type}]}
    assert compile_reader(schema) is None
