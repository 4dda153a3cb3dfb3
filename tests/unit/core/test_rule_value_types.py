"""Rule files that loaded and then silently changed or switched off a rule are refused.

An outside probe of `hub correlate` found each of these loading with status 0: text compared
with a number (`severity: {eq: "4"}` never holds), a bound outside a field's range
(`similarity: {gte: 90}`: a percentage), `where:` with nothing under it (matched every event),
`enabled: "no"` quoted (the rule stayed on), and a key given twice (YAML kept the last). Each
is now a load error naming the file, the rule and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.codec import load_codec, rule_contracts
from hub.codec.validate import FIELD_RANGES, check_rules
from hub.core.rule_loading import load_rules
from hub.core.rules import EnumType, FieldType
from hub.model.errors import ValidationError
from tests.unit.core.helpers import load_rule_text, rule_load_error

RULES = Path(__file__).resolve().parents[3] / "topology" / "rules"
Contracts = tuple[dict[str, frozenset[str]], dict[str, dict[str, EnumType]],
                  dict[str, dict[str, FieldType]]]


@pytest.fixture(scope="module")
def contracts() -> Contracts:
    codec = load_codec()
    return rule_contracts(codec)


def _single(kind: str, where: str, extra: str = "") -> str:
    return ("rules:\n  - {id: r1, type: single, title: t, by: [site_id], within: 1m, "
            f"risk_level: LOW{extra}, match: {{kind: {kind}, where: {where}}}}}\n")


def test_the_default_rules_load_with_every_check(contracts: Contracts) -> None:
    assert load_rules(RULES, *contracts).rules


@pytest.mark.parametrize(("kind", "where", "words"), [
    ("perimeter_alarm", '{severity: {eq: "4"}}', "'4' is not a value 'severity' can hold (a "
     "number from 1 to 5), so the filter never matches (ne/not_in: always); write it without "
     "quotes"),
    ("perimeter_alarm", '{severity: {in: ["a"]}}', "'a' is not a value 'severity' can hold"),
    ("perimeter_alarm", "{severity: 9}", "9 is not a value 'severity' can hold (a number from "
     "1 to 5)"),
    ("perimeter_alarm", "{severity: 3.5}", "3.5 is not a value 'severity' can hold"),
    ("face_match", "{similarity: {gte: 90}}", "gte 90: 'similarity' is a number from 0.0 to "
     "1.0, so the bound is outside anything it can hold; give one within (a percentage? "
     "divide by 100)"),
    ("access_swipe", "{door_id: {gte: 3}}", "'door_id' is text, not a number, so 'gte' never "
     "holds; use eq or in"),
    ("access_swipe", "{door_id: 3}", "3 is not a value 'door_id' can hold (text), so the "
     "filter never matches (ne/not_in: always); quote it"),
    ("access_swipe", "{door_id: yes}", "True is not a value 'door_id' can hold (text), so the "
     "filter never matches (ne/not_in: always); YAML reads yes/no/on/off as true/false: quote "
     "the value"),
    ("access_swipe", "{door_id: null}", "None is not a value 'door_id' can hold"),
])
def test_a_value_the_field_cannot_hold_is_named(tmp_path: Path, contracts: Contracts, kind: str,
                                                where: str, words: str) -> None:
    msg = rule_load_error(tmp_path, _single(kind, where), contracts)
    assert msg.startswith(f"{tmp_path / 'r.yaml'}: rule 'r1': field 'match.where."), msg
    assert words in msg, msg


@pytest.mark.parametrize("where", [
    "{severity: 3}", "{severity: {in: [4, 5]}}", "{severity: {gte: 4}}", "{severity: 4.0}",
    "{building_id: null}", "{building_id: {exists: false}}", "{description: {ne: x}}",
])
def test_values_the_field_can_hold_load(tmp_path: Path, contracts: Contracts,
                                        where: str) -> None:
    assert load_rule_text(tmp_path, _single("perimeter_alarm", where), contracts).rules


def test_the_ranges_are_the_ones_ingest_enforces() -> None:
    """A rule bound is judged by FIELD_RANGES; ingest refuses what lies outside them."""
    for name, (low, high) in FIELD_RANGES.items():
        for inside in (low, high):
            check_rules("perimeter_alarm", {name: inside})
        for outside in (low - 1, high + 0.01):
            with pytest.raises(ValidationError, match="out of range"):
                check_rules("perimeter_alarm", {name: outside})


def test_where_with_nothing_under_it_is_refused(tmp_path: Path, contracts: Contracts) -> None:
    msg = rule_load_error(tmp_path, _single("face_match", "null"), contracts)
    assert msg == (f"{tmp_path / 'r.yaml'}: rule 'r1': field 'match.where': expected field: "
                   "value pairs, got None; leave 'where' out to take every face_match event")
    body = ("rules:\n  - {id: r1, type: single, title: t, by: [site_id], within: 1m, "
            "risk_level: LOW, match: {kind: face_match}}\n")
    assert load_rule_text(tmp_path, body, contracts).rules  # left out: every event, as documented


@pytest.mark.parametrize("value", ['"no"', "0", '"false"'])
def test_enabled_is_true_or_false(tmp_path: Path, contracts: Contracts, value: str) -> None:
    msg = rule_load_error(tmp_path, _single("face_match", "{similarity: {gte: 0.9}}",
                                   f", enabled: {value}"), contracts)
    assert "field 'enabled': expected true or false (unquoted)" in msg, msg
    body = (_single("face_match", "{similarity: {gte: 0.9}}", ", enabled: false")
            + "  - {id: r2, type: single, title: t, by: [site_id], within: 1m, "
            "risk_level: LOW, match: {kind: face_match}}\n")
    off = load_rule_text(tmp_path, body, contracts)
    assert [r.id for r in off.rules] == ["r2"]


def test_a_key_given_twice_is_refused(tmp_path: Path, contracts: Contracts) -> None:
    body = ("rules:\n  - id: r1\n    type: single\n    title: t\n    by: [site_id]\n"
            "    within: 30s\n    risk_level: LOW\n    within: 5m\n"
            "    match: {kind: face_match}\n")
    msg = rule_load_error(tmp_path, body, contracts)
    assert msg == (f"{tmp_path / 'r.yaml'}: key 'within' is given twice (line 6 and line 8); "
                   "YAML would keep only the last: remove one")
