"""Pseudonymization at the edge: keyed, deterministic, and no raw value survives."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.pseudonym import (
    RAW_ALIASES,
    is_pseudonym,
    pseudonymize,
    pseudonymize_fields,
    raw_fields,
    shield,
)
from hub.model.errors import ValidationError

KEY = "test-key"


def test_format_and_value_are_hmac_sha256_truncated() -> None:
    expected = hmac.new(b"test-key", b"0012345678", hashlib.sha256).hexdigest()[:32]
    assert pseudonymize("0012345678", KEY) == f"p1:{expected}"
    assert is_pseudonym(pseudonymize("x", KEY))


def test_deterministic_keyed_and_whitespace_insensitive() -> None:
    assert pseudonymize("card-1", KEY) == pseudonymize(" card-1\n", KEY)
    assert pseudonymize("card-1", KEY) == pseudonymize("card-1", KEY.encode())
    assert pseudonymize("card-1", KEY) != pseudonymize("card-1", "other-key")
    assert pseudonymize("card-1", KEY) != pseudonymize("card-2", KEY)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="HUB_PSEUDONYM_KEY"):
        pseudonymize("x", "")


@pytest.mark.parametrize(
    "value",
    ["p1:abc", "P1:00112233445566778899AABBCCDDEEFF", "p2:00112233445566778899aabbccddeeff",
     "p1:00112233445566778899aabbccddeeff\n", " p1:00112233445566778899aabbccddeeff"],
)
def test_lookalikes_are_not_pseudonyms(value: str) -> None:
    assert not is_pseudonym(value)


@pytest.mark.parametrize(("raw", "target"), sorted(RAW_ALIASES.items()))
def test_raw_alias_is_hashed_into_target_and_removed(raw: str, target: str) -> None:
    out = pseudonymize_fields({raw: "13800001111", "site_id": "S1"}, KEY, {target})
    assert raw not in out
    assert out[target] == pseudonymize("13800001111", KEY)
    assert out["site_id"] == "S1"


def test_raw_value_in_hash_field_is_hashed_but_pseudonym_kept() -> None:
    already = pseudonymize("someone", KEY)
    out = pseudonymize_fields({"person_hash": "330102199001011234"}, KEY, {"person_hash"})
    assert out["person_hash"] == pseudonymize("330102199001011234", KEY)
    assert pseudonymize_fields({"person_hash": already}, KEY, {"person_hash"}) == {
        "person_hash": already
    }


def test_integer_card_numbers_count_as_their_digits() -> None:
    out = pseudonymize_fields({"card_no": 12345}, KEY, {"credential_hash"})
    assert out == {"credential_hash": pseudonymize("12345", KEY)}


def test_null_and_empty_and_wrong_types_left_for_validation() -> None:
    fields = {"credential_hash"}
    assert pseudonymize_fields({"credential_hash": None}, KEY, fields) == {"credential_hash": None}
    assert pseudonymize_fields({"credential_hash": " "}, KEY, fields) == {"credential_hash": " "}
    assert pseudonymize_fields({"credential_hash": True}, KEY, fields) == {"credential_hash": True}


def test_alias_for_a_field_the_kind_lacks_is_not_renamed() -> None:
    # `phone` on a kind without requester_hash stays, so validation names it as unknown.
    assert pseudonymize_fields({"phone": "138"}, KEY, {"credential_hash"}) == {"phone": "138"}


def test_input_not_mutated() -> None:
    record = {"card_no": "1"}
    pseudonymize_fields(record, KEY, {"credential_hash"})
    assert record == {"card_no": "1"}


@given(st.text(min_size=1).filter(lambda s: s.strip()))
def test_no_raw_value_survives(raw: str) -> None:
    out = pseudonymize_fields({"credential": raw}, KEY, {"credential_hash"})
    assert is_pseudonym(out["credential_hash"])
    assert raw not in out.values()


def test_raw_fields_names_each_raw_value_sorted_and_nothing_else() -> None:
    record = {"phone": "13800001111", "credential_hash": pseudonymize("c", KEY),
              "card_no": 12345678, "face_id": "", "person_id": None,
              "reporter_phone": "p1:00112233445566778899aabbccddeeff\n"}
    fields = ["phone", "credential_hash", "card_no", "face_id", "person_id", "reporter_phone",
              "absent"]
    assert raw_fields(record, fields) == ["card_no", "phone", "reporter_phone"]


def test_shield_returns_a_clean_record_itself_and_protects_one_that_is_not() -> None:
    clean = {"credential_hash": pseudonymize("0012345678", KEY), "description": "门口有人吵架"}
    same, raw = shield(clean, KEY, ["credential_hash"], ["description"])
    assert same is clean and raw == []

    leaky = {"credential_hash": "0012345678", "description": "报警人电话 13912345678"}
    safe, raw = shield(leaky, KEY, ["credential_hash"], ["description"])
    assert raw == ["credential_hash", "description"]
    assert safe["credential_hash"] == pseudonymize("0012345678", KEY)
    assert "13912345678" not in safe["description"]
    assert pseudonymize("13912345678", KEY) in safe["description"]
    assert shield(safe, KEY, ["credential_hash"], ["description"]) == (safe, [])


def test_an_empty_alias_replaces_nothing() -> None:
    """{"credential": "6222...", "card_no": null} was kept as a null credential_hash: the card
    was lost without a word; a null face_id beside a pseudonym made a valid event invalid."""
    card = pseudonymize("6222028888000001", KEY)
    for record in ({"credential": "6222028888000001", "card_no": None},
                  {"card_no": "", "credential": "6222028888000001"},
                  {"card_no": None, "credential_hash": "6222028888000001"},
                  {"credential_hash": card, "card_no": None}):
        assert pseudonymize_fields(record, KEY, {"credential_hash"}) == {"credential_hash": card}
    assert pseudonymize_fields({"card_no": None}, KEY, {"credential_hash"}) == {
        "credential_hash": None}


def test_an_alias_given_only_empty_is_refused_under_its_own_name() -> None:
    """`"credential": ""` was "credential_hash: must not be empty", a field the sender never
    wrote (an outside probe)."""
    for record in ({"credential": ""}, {"credential": "", "credential_hash": None},
                   {"card_no": "", "credential": ""}):
        with pytest.raises(ValidationError, match="hashed into credential_hash") as caught:
            pseudonymize_fields(record, KEY, {"credential_hash"})
        assert caught.value.field in ("credential", "card_no")


def test_a_lone_surrogate_in_a_personal_value_is_that_fields_error() -> None:
    """Hashing "6222\\ud800" raised UnicodeEncodeError: a 500 at the gateway, `hub produce`
    stopped before the good lines after it."""
    for name in ("card_no", "credential_hash"):
        with pytest.raises(ValidationError, match="U\\+D800 at character 4") as caught:
            pseudonymize_fields({name: "6222\ud800"}, KEY, {"credential_hash"})
        assert caught.value.field == name
    assert is_pseudonym(pseudonymize("6222\ud800", KEY))  # never raises itself
