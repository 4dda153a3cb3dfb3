"""The plain checks compiled per kind (hub.codec.plain_check) never let through what the full
check refuses, and let the plain records through."""

from __future__ import annotations

from typing import Any

import pytest

from hub.codec import load_codec
from hub.codec.plain_check import compile_plain_check
from hub.model.events import MAX_TIME_MS, MIN_TIME_MS, SOURCE_KINDS
from tests.unit.codec.test_validate_fast_path import VARIANTS, _full, _outcome

CODEC = load_codec()
RANGES = ("severity", "similarity", "households", "rental_units")


def test_every_source_kind_has_a_compiled_check() -> None:
    assert set(SOURCE_KINDS) <= set(CODEC._plain)


def test_what_a_compiled_check_lets_through_the_full_check_passes() -> None:
    checked = plain = 0
    for kind, record in VARIANTS:
        check = CODEC._plain.get(kind)
        if check is None:
            continue
        checked += 1
        if check(record):
            plain += 1
            failed = _outcome(_full, kind, record)
            assert failed is None or failed[1] in RANGES, (kind, record, failed)
    assert checked > 400 and plain > 80, (checked, plain)


def test_codec_check_rules_raises_what_the_full_check_raises() -> None:
    wrong = [(kind, record, got, want) for kind, record in VARIANTS
             if (got := _outcome(CODEC.check_rules, kind, record))
             != (want := _outcome(_full, kind, record))]
    assert not wrong, f"{len(wrong)} of {len(VARIANTS)} differ, e.g. {wrong[0]}"


@pytest.mark.parametrize("change", [
    {"extra": "x"},                       # a field the schema does not have
    {"door_id": 7},                       # another type than the schema's
    {"door_id": ["D1"]},
    {"result": "OPEN_SESAME"},            # not one of the enum's symbols
    {"result": ["GRANTED"]},
    {"event_time": 1_700_000_000},        # seconds
    {"event_time": "1700000000000"},
    {"credential_hash": " "},             # blank
    {"device_id": "d\u202e1"},            # a bidirectional override
    {"severity": "3"},                    # text where a number goes (not an access_swipe field)
])
def test_a_doubtful_record_is_not_plain(change: dict[str, Any]) -> None:
    record = next(r for k, r in VARIANTS if k == "access_swipe")
    check = CODEC._plain["access_swipe"]
    assert check(record)
    assert not check({**record, **change})


def test_a_record_missing_a_field_is_not_plain() -> None:
    record = dict(next(r for k, r in VARIANTS if k == "access_swipe"))
    del record["door_id"]
    assert not CODEC._plain["access_swipe"](record)


@pytest.mark.parametrize("field_type", [{"type": "array", "items": "string"},
                                        {"type": "map", "values": "long"}, "bytes",
                                        ["null", "string", "long"]])
def test_a_field_shape_it_does_not_compile_gets_the_generic_path(field_type: Any) -> None:
    schema = {"type": "record", "name": "W", "fields": [{"name": "a", "type": field_type}]}
    assert compile_plain_check(schema, min_time=MIN_TIME_MS, max_time=MAX_TIME_MS) is None
