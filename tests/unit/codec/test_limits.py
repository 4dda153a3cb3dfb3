"""Limits at the edge (hub/codec/limits.py): each violation is that record's error, naming the
field, and no other record pays for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.codec import check_rules, load_codec, read_jsonl
from hub.codec.interchange import parse_line
from hub.codec.limits import MAX_DEPTH, MAX_ID_CHARS, MAX_LINE_BYTES, TEXT_MAX
from hub.model.errors import DecodeError, RecordError, ValidationError

CODEC = load_codec()
ALARM: dict[str, Any] = {
    "kind": "perimeter_alarm", "event_id": "pa-1", "vendor": "hik", "device_id": "cam-1",
    "site_id": "S-1", "event_time": "2024-05-01T08:00:00+08:00", "zone_id": "fence-n",
    "alarm_type": "INTRUSION", "severity": 4,
}


def parse(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return parse_line(json.dumps(obj), 7, pseudonym_key="k", codec=CODEC)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("event_id", "e" * (MAX_ID_CHARS + 1), "at most 128"),
    ("event_id", "e" * 50_000, "50,000 characters"),
    ("site_id", "S-\x001", "U+0000"),
    ("site_id", "S-\u202e1", "U+202E"),
    ("device_id", "cam\n1", "U+000A"),
    ("zone_id", "z\u2066", "U+2066"),
    ("description", "d" * (TEXT_MAX["description"] + 1), "at most 4,000"),
    ("description", "x" * 100_000, "100,000 characters"),
    ("description", "a\x00b", "NUL"),
])
def test_each_violation_names_the_field_and_the_line(field: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse({**ALARM, field: value})
    assert err.value.field == field and says in str(err.value)
    assert str(err.value).startswith("line 7: ")


def test_what_is_allowed_still_passes() -> None:
    kind, rec = parse({**ALARM, "event_id": "e" * MAX_ID_CHARS, "site_id": "翠苑三区",
                       "description": "东门\n围栏\t被剪断" + "。" * 3_000})
    assert kind == "perimeter_alarm" and len(rec["event_id"]) == MAX_ID_CHARS


def test_a_decoded_avro_record_is_held_to_the_same_limits() -> None:
    """Ingest validates what it decodes with check_rules: a vendor's Avro is no way around."""
    _, rec = parse(ALARM)
    value = CODEC.encode("perimeter_alarm", {**rec, "site_id": "S\u202e-1"})
    kind, decoded = CODEC.decode(value)
    with pytest.raises(ValidationError, match="site_id"):
        check_rules(kind, decoded)


def test_risk_tags_are_bounded() -> None:
    building = {"kind": "building_identity", "building_id": "B-1", "name": "3号楼",
                "address": "路1号", "site_id": "S-1", "grid_id": "G-1",
                "township_code": "1", "district_code": "2", "city_code": "3", "households": 1,
                "rental_units": 0, "updated_time": 1_714_521_600_000}
    parse({**building, "risk_tags": ["群租"] * 64})
    with pytest.raises(ValidationError, match="65 items"):
        parse({**building, "risk_tags": ["群租"] * 65})


def test_deep_nesting_is_a_decode_error_not_a_crash() -> None:
    with pytest.raises(DecodeError, match="nested deeper"):
        parse_line("[" * 200_000, 1, pseudonym_key="k", codec=CODEC)
    with pytest.raises(DecodeError, match="nested deeper"):
        parse({**ALARM, "extra": json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))})


def test_an_oversize_line_costs_only_itself(tmp_path: Path) -> None:
    big = json.dumps({**ALARM, "event_id": "big", "description": "x" * MAX_LINE_BYTES})
    lines = [json.dumps(ALARM), big, "[" * 200_000, json.dumps({**ALARM, "event_id": "pa-2"})]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = list(read_jsonl(path, pseudonym_key="k", codec=CODEC))
    assert [(x.lineno, x.ok) for x in got] == [(1, True), (2, False), (3, False), (4, True)]
    assert "1,000,000" in str(got[1].error) and "nested deeper" in str(got[2].error)


def test_produce_refuses_the_hubs_own_output(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "forged.jsonl"
    path.write_text(json.dumps({"kind": "incident", "incident_id": "x"}) + "\n"
                    + json.dumps({"kind": "dead_letter"}) + "\n")
    assert main(["produce", str(path), "--bootstrap", "127.0.0.1:1", "--timeout", "1"]) == 1
    out = capsys.readouterr()
    assert "produced 0, rejected 2" in out.out
    assert f"{path}:1: kind: incident lines are not taken here" in out.err
    good = tmp_path / "alarm.jsonl"
    good.write_text(json.dumps(ALARM) + "\n")
    for topic in ("hub.incidents", "hub.incidents.city", "hub.deadletter",
                  "hub.internal.correlate", "tianluo-hub-changelog", "hub.cases",
                  "tianluo-hub-casework-clock", "hub.analytics.risk"):
        assert main(["produce", str(good), "--topic", topic]) == 2
        assert "only the hub writes that topic" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value"), [
    ("site_id", "S-\ud800"), ("event_id", "\udfff"), ("description", "东门\ud83d"),
])
def test_a_lone_surrogate_is_the_fields_error(field: str, value: str) -> None:
    """JSON's "\\ud800" parses to a str that no UTF-8 output can carry."""
    with pytest.raises(ValidationError) as err:
        parse({**ALARM, field: value})
    assert err.value.field == field and "lone UTF-16 surrogate" in str(err.value)
    assert f"U+{ord(value[-1]):04X}" in str(err.value)
    str(err.value).encode("utf-8")  # the error itself is text


def test_a_pair_of_surrogates_escaped_in_json_is_one_character() -> None:
    line = json.dumps({**ALARM, "description": "\U0001f525 围栏"})  # written as \ud83d\udd25
    assert "\\ud83d\\udd25" in line
    _, rec = parse_line(line, 1, pseudonym_key="k", codec=CODEC)
    assert rec["description"] == "\U0001f525 围栏"


def test_correlate_rejects_lone_surrogates_line_by_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hub correlate` once raised UnicodeEncodeError hashing an incident id with one in a key,
    and writing a rejected line that quoted one."""
    lines = [json.dumps({**ALARM, "event_id": f"pa-{i}", **bad}) for i, bad in enumerate([
        {}, {"zone_id": "fence-\ud800"}, {"x\udc00": 1}, {"alarm_type": "INTRUSION\ud800"}])]
    path, rejected = tmp_path / "in.jsonl", tmp_path / "rejected.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code = main(["correlate", "--in", str(path), "--out", str(tmp_path / "out.jsonl"),
                 "--rejected", str(rejected)])
    assert code == 1
    rows = [json.loads(line) for line in rejected.read_text(encoding="utf-8").splitlines()]
    assert [row["lineno"] for row in rows] == [2, 3, 4]
    assert "\\udc00" in rows[1]["detail"]
    assert "1 events" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value"), [
    ("event_time", "x" * 100_000),           # not a time
    ("alarm_type", "Z" * 100_000),           # not a symbol
    ("severity", ["s" * 100_000]),           # not an integer
    ("kind", "k" * 100_000),                 # not a kind
    ("x" * 100_000, 1),                      # not a field
])
def test_an_error_quotes_a_huge_value_or_key_in_a_line_not_whole(field: str, value: Any) -> None:
    """The sender can still recognise it; a 100 kB echo in every error line, HTTP answer and
    dead-letter reason was the sender's payload again."""
    with pytest.raises((ValidationError, DecodeError, RecordError)) as caught:
        parse({**ALARM, field: value})
    assert len(str(caught.value)) < 400, str(caught.value)[:400]
    assert "100,000 characters" in str(caught.value) or "..." in str(caught.value)


class _Endless:
    """A file that is one line with no end (``/dev/zero``), counting what was read."""

    def __init__(self) -> None:
        self.read = 0

    def readline(self, size: int = -1) -> bytes:
        assert 0 < size <= 2_000_000, "a line is read in bounded slices"
        self.read += size
        return b"\x00" * size


def test_a_line_without_end_is_read_in_bounded_slices_and_ends_the_file() -> None:
    """`hub produce /dev/zero` held the one endless line whole: 16 GB in 15 s."""
    from hub.codec.limits import MAX_LINE_BYTES, RUNAWAY_LINE_BYTES, bounded_lines
    endless = _Endless()
    [size] = list(bounded_lines(endless))
    assert RUNAWAY_LINE_BYTES < size <= RUNAWAY_LINE_BYTES + MAX_LINE_BYTES + 1
    assert endless.read == size


def test_a_long_line_is_given_as_its_size_and_the_next_lines_still_read() -> None:
    import io

    from hub.codec.limits import MAX_LINE_BYTES, bounded_lines
    data = b"a\n" + b"x" * (MAX_LINE_BYTES * 3 + 5) + b"\n" + b"b\n"
    assert list(bounded_lines(io.BytesIO(data))) == [b"a\n", MAX_LINE_BYTES * 3 + 6, b"b\n"]


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u2060", "\u00ad", "S-\u200b1"])
def test_an_id_of_invisible_characters_is_refused(invisible: str) -> None:
    """An outside probe's site_id "\\u200b" passed "must not be empty" and was forwarded."""
    from hub.codec import load_codec
    from hub.model.errors import ValidationError
    record = {"event_id": "a-1", "vendor": "dahua", "device_id": "PA-1", "site_id": invisible,
              "event_time": 1_740_967_200_000, "zone_id": "Z-1", "building_id": None,
              "alarm_type": "INTRUSION", "severity": 4, "description": None}
    with pytest.raises(ValidationError) as info:
        load_codec().check_rules("perimeter_alarm", record)
    assert info.value.field == "site_id"
