"""A JSON object naming a field twice, and a personal value given under two names that disagree,
are refused naming the field (hub.codec.json_names, hub.codec.interchange.check_one_source):
either way the reader would keep one value without a word."""

from __future__ import annotations

import json

import pytest

from hub.codec import load_codec, parse_line
from hub.codec.json_names import loads, loads_line, loads_once
from hub.core.pseudonym import pseudonymize
from hub.model.errors import RecordError

KEY = "unit-pseudonym-key"
CODEC = load_codec()
SWIPE = ('"kind":"access_swipe","event_id":"ac-1","event_time":1740935623149,"vendor":"v",'
         '"site_id":"S","building_id":"B","door_id":"D","device_id":"X","method":"CARD",'
         '"direction":"IN"')


def refused(text: str) -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse_line(text, 3, pseudonym_key=KEY, codec=CODEC)
    return caught.value


@pytest.mark.parametrize("text", [
    '{' + SWIPE + ',"result":"DENIED","result":"GRANTED"}',
    '{' + SWIPE + ',"result" : "DENIED", "result" :"GRANTED"}',  # spaces: not counted as '":'
    '{' + SWIPE + ',"result":"DENIED","result":"DENIED"}',  # even the same value twice
])
def test_a_field_given_twice_is_refused_naming_it(text: str) -> None:
    exc = refused(text)
    assert exc.reason == "VALIDATION_ERROR"
    assert exc.field == "result" and "more than once" in exc.detail
    assert str(exc).startswith("line 3: result: ")


def test_a_value_holding_the_name_separator_is_not_taken_for_a_repeat() -> None:
    text = '{' + SWIPE.replace('"door_id":"D",', '') + ',"result":"DENIED","door_id":"a\\":b"}'
    kind, record = parse_line(text, 1, pseudonym_key=KEY, codec=CODEC)
    assert (kind, record["door_id"], record["result"]) == ("access_swipe", 'a":b', "DENIED")


def test_the_readers_agree_with_json_when_nothing_repeats() -> None:
    for text in ('{"a":1,"b":[{"c":2}],"d":"x\\":y"}', '{"a" : 1}', '[{"a":1},{"a":2}]', '3'):
        assert loads(text) == json.loads(text) == loads_line(text)
    twice = loads('[{"a":1},{"b":1,"b":2}]')
    assert twice[1] == {"b": 2} and twice[1].names == ("b",)
    assert not hasattr(twice[0], "names")


@pytest.mark.parametrize(("fields", "field"), [
    ('"card_no":"0012345678","credential":"0099999999"', "credential"),
    ('"card_no":"0012345678","credential_hash":"p1:00000000000000000000000000000000"',
     "credential_hash"),
])
def test_one_personal_value_under_two_names_that_differ_is_refused(fields: str,
                                                                   field: str) -> None:
    exc = refused('{' + SWIPE + ',"result":"DENIED",' + fields + '}')
    assert exc.field == field and "card_no" in exc.detail and "differ" in exc.detail
    assert "0012345678" not in str(exc) and "0099999999" not in str(exc)


@pytest.mark.parametrize("fields", [
    '"card_no":"0012345678","credential":" 0012345678"',
    '"card_no":12345678,"credential":"12345678"',
    f'"card_no":"0012345678","credential_hash":"{pseudonymize("0012345678", KEY)}"',
])
def test_two_names_that_agree_give_one_pseudonym(fields: str) -> None:
    _, record = parse_line('{' + SWIPE + ',"result":"DENIED",' + fields + '}', 1,
                           pseudonym_key=KEY, codec=CODEC)
    raw = "12345678" if "12345678," in fields else "0012345678"
    assert record["credential_hash"] == pseudonymize(raw, KEY)
    assert "card_no" not in record and "credential" not in record


def test_loads_once_refuses_a_name_given_twice_at_any_depth() -> None:
    assert loads_once('{"a": {"b": 1}, "c": [{"d": 2}]}') == {"a": {"b": 1}, "c": [{"d": 2}]}
    with pytest.raises(ValueError, match="'IDNumber' is given more than once"):
        loads_once('{"x": {"IDNumber": "1", "IDNumber": "2"}}')
