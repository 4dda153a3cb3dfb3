"""Parsing registry exports: each bad row named by line and field, the good rows kept."""

from __future__ import annotations

import io
import json

import pytest

from hub.buildings.cards import (
    CardFileError,
    file_format,
    format_row_error,
    parse_csv,
    parse_jsonl,
    read_cards,
)
from hub.buildings.mirror import card_json, card_key
from hub.codec import load_codec
from hub.model.events import Building

CODEC = load_codec()
KEY = "test-key"
NOW = 1_760_000_000_000
HEADER = ("building_id,name,address,site_id,grid_id,township_code,district_code,city_code,"
          "police_station_id,grid_worker_id,households,rental_units,risk_tags,updated_time")
GOOD = ('BLDG-1,3号楼,"杭州市 1号, 2单元",SITE-1,GRID-1,330102001,330102,3301,,GW-7,24,3,'
        "group_rental; elderly_alone ,2025-05-01T08:00:00+08:00")


def rows(text: str) -> list:
    return list(parse_csv(text, codec=CODEC, pseudonym_key=KEY, now_ms=NOW))


def test_a_good_row_converts_cells_by_the_schema() -> None:
    [row] = rows(f"{HEADER}\n{GOOD}\n")
    assert row.ok and row.lineno == 2
    assert row.record == {
        "building_id": "BLDG-1", "name": "3号楼", "address": "杭州市 1号, 2单元",
        "site_id": "SITE-1", "grid_id": "GRID-1", "township_code": "330102001",
        "district_code": "330102", "city_code": "3301", "police_station_id": None,
        "grid_worker_id": "GW-7", "households": 24, "rental_units": 3,
        "risk_tags": ["group_rental", "elderly_alone"], "updated_time": 1_746_057_600_000,
    }


def test_optional_columns_may_be_left_out_and_updated_time_defaults_to_now() -> None:
    header = "building_id,name,address,site_id,grid_id,township_code,district_code,city_code," \
             "households,rental_units"
    [row] = rows(f"\ufeff{header}\r\nB2,n,a,S,G,T,D,C,1,0\r\n")  # Excel's BOM and CRLF
    assert row.record is not None
    assert row.record["updated_time"] == NOW
    assert row.record["risk_tags"] == [] and row.record["police_station_id"] is None


def test_empty_updated_time_cell_is_now_and_epoch_ms_is_taken() -> None:
    base = "B,n,a,S,G,T,D,C,,,1,0,,"
    got = rows(f"{HEADER}\n{base}\n{base}1700000000000\n")
    assert [r.record["updated_time"] for r in got] == [NOW, 1_700_000_000_000]


@pytest.mark.parametrize(("cells", "field", "words"), [
    ("B,n,a,S,G,T,D,C,,,x12,0,,", "households", "not a whole number"),
    ("B,n,a,S,G,T,D,C,,,1e3,0,,", "households", "not a whole number"),
    ("B,n,a,S,G,T,D,C,,,１２,0,,", "households", "not a whole number"),
    ("B,n,a,S,G,T,D,C,,,12.5,0,,", "households", "not a whole number"),
    ("B,n,a,S,G,T,D,C,,,,0,,", "households", "empty; write a whole number"),
    ("B,n,a,S,G,T,D,C,,,3,-1,,", "rental_units", "negative"),
    ("B,n,a,,G,T,D,C,,,3,1,,", "site_id", "must not be empty"),
    ("B,n,a,S,G,T,D,C,,,3,1,,2025-05-01 08:00", "updated_time", "no UTC offset"),
    ("B,n,a,S,G,T,D,C,,,3,1,,1700000000", "updated_time", "epoch seconds"),
])
def test_a_bad_cell_names_line_and_field(cells: str, field: str, words: str) -> None:
    got = rows(f"{HEADER}\n{GOOD}\n{cells}\n{GOOD}\n")
    assert [r.ok for r in got] == [True, False, True]
    bad = got[1]
    assert bad.lineno == 3 and bad.error is not None and bad.error.field == field
    message = format_row_error(bad, "f.csv")
    assert message.startswith(f"f.csv:3: {field}: ") and words in message


def test_a_row_with_too_many_cells_is_rejected_alone() -> None:
    got = rows(f"{HEADER}\nB,n,a,b,S,G,T,D,C,,,1,0,,\n{GOOD}\n")
    assert [r.ok for r in got] == [False, True]
    assert "15 cells, the header has 14" in format_row_error(got[0], "f.csv")


def test_line_numbers_count_lines_inside_quoted_cells_and_blank_lines() -> None:
    multi = GOOD.replace('"杭州市 1号, 2单元"', '"line one\nline two"')
    got = rows(f"{HEADER}\n{multi}\n\nB,n,a,,G,T,D,C,,,1,0,,\n")
    assert [r.lineno for r in got] == [2, 5]
    assert got[0].record is not None and got[0].record["address"] == "line one\nline two"


@pytest.mark.parametrize(("header", "words"), [
    (HEADER.replace("households", "households_count"), "'households_count' is not a "
     "BuildingIdentity field"),
    (HEADER.replace(",households", ""), "required column(s) missing: households"),
    (HEADER + ",name", "'name' appears twice"),
    ("", "the file is empty"),
])
def test_a_bad_header_is_a_file_error(header: str, words: str) -> None:
    with pytest.raises(CardFileError, match=None) as info:
        rows(f"{header}\n{GOOD}\n" if header else "")
    assert words in str(info.value)


def test_a_file_that_is_not_utf8_names_the_line_and_the_fix(tmp_path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(f"{HEADER}\n".encode() + GOOD.encode("gbk") + b"\n")
    with pytest.raises(CardFileError, match=r"gbk.csv:2: not UTF-8 .* iconv -f GBK"):
        read_cards(path, "csv", codec=CODEC, pseudonym_key=KEY, now_ms=NOW)


def test_format_from_suffix_or_flag() -> None:
    assert file_format("a/B.CSV") == "csv" and file_format("b.jsonl") == "jsonl"
    assert file_format("x.txt", "jsonl") == "jsonl"
    with pytest.raises(CardFileError, match="--format csv"):
        file_format("x.txt")


def jsonl(*lines: str | bytes) -> list:
    data = b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines)
    return list(parse_jsonl(io.BytesIO(data), codec=CODEC, pseudonym_key=KEY))


CARD = {"building_id": "B1", "name": "n", "address": "a", "site_id": "S", "grid_id": "G",
        "township_code": "T", "district_code": "D", "city_code": "C", "households": 1,
        "rental_units": 0, "updated_time": "2025-05-01T08:00:00+08:00"}


def test_jsonl_kind_is_optional_and_other_kinds_are_refused() -> None:
    got = jsonl(json.dumps(CARD), "", json.dumps({"kind": "building_identity", **CARD}),
                json.dumps({"kind": "face_match", **CARD}), b"\xff\xfe", "{not json",
                json.dumps({**CARD, "households": "many"}), "[1]")
    assert [r.lineno for r in got] == [1, 3, 4, 5, 6, 7, 8]
    assert [r.ok for r in got] == [True, True, False, False, False, False, False]
    messages = [format_row_error(r, "c.jsonl") for r in got if not r.ok]
    assert messages[0].startswith("c.jsonl:4: kind: face_match lines are not taken here")
    assert messages[1].startswith("c.jsonl:5: not UTF-8")
    assert messages[2].startswith("c.jsonl:6: not valid JSON")
    assert messages[3].startswith("c.jsonl:7: households: expected an integer")
    assert messages[4].startswith("c.jsonl:8: expected a JSON object")


def test_the_mirror_json_is_the_workers() -> None:
    [row] = jsonl(json.dumps(CARD))
    assert row.record is not None
    assert card_key("B1") == "hub:building:B1"
    assert json.loads(card_json(row.record)) == Building.from_record(row.record).to_record()
    assert "3号楼" in card_json({**row.record, "name": "3号楼"})  # not \\u-escaped


@pytest.mark.parametrize(("text", "says"), [
    (f"{HEADER},colour\n{GOOD},red\n", ":1: column 'colour' is not a BuildingIdentity field"),
    ("", ": the file is empty"),
])
def test_a_header_error_names_the_file_as_row_errors_do(tmp_path, text: str, says: str) -> None:
    path = tmp_path / "cards.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CardFileError) as info:
        read_cards(path, "csv", codec=CODEC, pseudonym_key=KEY, now_ms=NOW)
    assert str(info.value).startswith(f"{path}{says}"), str(info.value)


def test_a_quote_never_closed_says_so_and_where_its_row_starts() -> None:
    """It used to read as "13 cells, the header has 14": the quote swallowed the rest."""
    plain = GOOD.replace('"杭州市 1号, 2单元"', "杭州市 1号")
    broken = plain.replace("3号楼", '"3号楼', 1)
    got = rows(f"{HEADER}\n{plain}\n{broken}\n{plain}\n{plain}\n")
    assert [r.ok for r in got] == [True, False]
    assert got[1].lineno == 3
    assert str(got[1].error).startswith("a quote opened in this row is never closed (lines 3-5 "
                                        "were read as one row); close it"), got[1].error
    (_, bad) = rows(f"{HEADER}\n{plain}\n{broken}\n")
    assert "(the row runs to the end of the file)" in str(bad.error)
    old_mac = rows(f"{HEADER}\r{plain}\r{broken}\r{plain}\r")  # \r alone ends a line too
    assert [(r.lineno, r.ok) for r in old_mac] == [(2, True), (3, False)]
