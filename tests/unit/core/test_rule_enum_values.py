"""Filter values of enum-typed fields are checked against the Avro enums (schemas/avro/*.avsc).

``where: {result: FORCED_OPENED}`` used to load and silently never match: no event can carry a
symbol its enum does not have. Now it is a load error naming the file, the rule, the field and
the symbols to choose from, wherever the filter language names a value.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.codec import event_enums, event_fields, load_codec
from hub.core.rule_loading import load_rules
from hub.core.rules import EnumType
from tests.unit.core.helpers import load_rule_text, rule_load_error

RULES = Path(__file__).resolve().parents[3] / "topology" / "rules"
ACCESS_RESULTS = "GRANTED, DENIED, FORCED_OPEN, HELD_OPEN, TAILGATE, ANTI_PASSBACK, UNKNOWN"
Contracts = tuple[dict[str, frozenset[str]], dict[str, dict[str, EnumType]]]
CATEGORIES = ("DISPUTE, SAFETY_HAZARD, FIRE_HAZARD, SUSPICIOUS_PERSON, PUBLIC_ORDER, ENVIRONMENT, "
              "OTHER")


@pytest.fixture(scope="module")
def contracts() -> Contracts:
    codec = load_codec()
    return event_fields(codec), event_enums(codec)


def _single(kind: str, where: str) -> str:
    return ("rules:\n  - {id: r1, type: single, title: t, by: [site_id], within: 1m, "
            f"risk_level: LOW, match: {{kind: {kind}, where: {where}}}}}\n")


def test_contracts_give_the_enums_of_each_kind(contracts: Contracts) -> None:
    enums = contracts[1]
    assert enums["access_swipe"]["result"].name == "AccessResult"
    assert ", ".join(enums["access_swipe"]["result"].symbols) == ACCESS_RESULTS
    assert enums["grid_report"]["category"].name == "ReportCategory"
    assert "similarity" not in enums["face_match"]  # a number, not an enum


def test_unknown_access_result_is_named_with_the_symbols(
    tmp_path: Path, contracts: Contracts
) -> None:
    msg = rule_load_error(tmp_path, _single("access_swipe", "{result: FORCED_OPENED}"), contracts)
    assert msg == (f"{tmp_path / 'r.yaml'}: rule 'r1': field 'match.where.result': "
                   f"'FORCED_OPENED' is not an AccessResult; use one of {ACCESS_RESULTS}")


def test_unknown_report_category_is_named_with_the_symbols(
    tmp_path: Path, contracts: Contracts
) -> None:
    msg = rule_load_error(tmp_path, _single("grid_report", "{category: FIRE}"), contracts)
    assert msg == (f"{tmp_path / 'r.yaml'}: rule 'r1': field 'match.where.category': "
                   f"'FIRE' is not a ReportCategory; use one of {CATEGORIES}")


@pytest.mark.parametrize("where", [
    "{result: {eq: FORCED_OPENED}}",
    "{result: {ne: FORCED_OPENED}}",  # would hold for every event
    "{result: {in: [DENIED, FORCED_OPENED]}}",
    "{result: {not_in: [GRANTED, FORCED_OPENED]}}",
])
def test_every_operator_that_names_a_value_is_checked(
    where: str, tmp_path: Path, contracts: Contracts
) -> None:
    msg = rule_load_error(tmp_path, _single("access_swipe", where), contracts)
    assert msg.endswith("field 'match.where.result': 'FORCED_OPENED' is not an AccessResult; "
                        f"use one of {ACCESS_RESULTS}"), msg


def test_case_matters(tmp_path: Path, contracts: Contracts) -> None:
    msg = rule_load_error(tmp_path, _single("access_swipe", "{result: denied}"), contracts)
    assert "'denied' is not an AccessResult" in msg


def test_a_list_as_plain_value_points_to_in(tmp_path: Path, contracts: Contracts) -> None:
    msg = rule_load_error(tmp_path, _single("access_swipe", "{result: [DENIED, GRANTED]}"),
                          contracts)
    assert "a plain value takes one value, got ['DENIED', 'GRANTED']" in msg
    assert msg.endswith("; for any of several write {in: [...]}")


def test_a_comparison_on_an_enum_never_holds(tmp_path: Path, contracts: Contracts) -> None:
    msg = rule_load_error(tmp_path, _single("grid_report", "{category: {gte: 2}}"), contracts)
    assert "field 'match.where.category': 'category' is a ReportCategory, not a number" in msg


@pytest.mark.parametrize(("rule", "field"), [
    ("{id: r1, type: sequence, title: t, by: [site_id], within: 5m, risk_level: HIGH, steps: ["
     "{kind: perimeter_alarm, where: {alarm_type: INTRUSION}}, "
     "{kind: access_swipe, where: {result: {in: [DENIED, FORCED_OPENED]}}}]}",
     "steps[1].where.result"),
    ("{id: r1, type: absence, title: t, by: [door_id], within: 30s, risk_level: HIGH, "
     "event: {kind: access_swipe, where: {result: FORCED_OPEN}}, "
     "absent: {kind: access_swipe, where: {result: FORCED_OPENED}}}",
     "absent.where.result"),
])
def test_steps_and_absent_events_are_checked(
    rule: str, field: str, tmp_path: Path, contracts: Contracts
) -> None:
    msg = rule_load_error(tmp_path, f"rules:\n  - {rule}\n", contracts)
    assert f"rule 'r1': field '{field}': 'FORCED_OPENED' is not an AccessResult" in msg


def test_suppression_filters_are_checked(tmp_path: Path, contracts: Contracts) -> None:
    body = _single("access_swipe", "{result: DENIED}") + (
        "suppress:\n  - {id: s1, kind: perimeter_alarm, by: [device_id], within: 10s, "
        "where: {alarm_type: {in: [TAMPERED]}}}\n")
    msg = rule_load_error(tmp_path, body, contracts)
    assert msg.startswith(f"{tmp_path / 'r.yaml'}: suppression 's1': field 'where.alarm_type': "
                          "'TAMPERED' is not an AlarmType; use one of INTRUSION,"), msg


def test_valid_values_load(tmp_path: Path, contracts: Contracts) -> None:
    body = (
        _single("access_swipe", "{result: {in: [DENIED, FORCED_OPEN]}, direction: {ne: OUT}, "
                "method: {not_in: [PIN]}, credential_hash: {exists: true}}")
        + "  - {id: r2, type: single, title: t, by: [site_id], within: 1m, risk_level: LOW, "
        "match: {kind: grid_report, where: {category: FIRE_HAZARD, severity: {gte: 3}}}}\n"
    )
    pack = load_rule_text(tmp_path, body, contracts)
    assert [r.id for r in pack.rules] == ["r1", "r2"]


def test_the_default_pack_names_only_enum_symbols(contracts: Contracts) -> None:
    assert len(load_rules(RULES, *contracts).rules) == 9


def test_without_the_enums_values_are_not_checked(tmp_path: Path, contracts: Contracts) -> None:
    (tmp_path / "r.yaml").write_text(_single("access_swipe", "{result: FORCED_OPENED}"),
                                     encoding="utf-8")
    assert load_rules(tmp_path, contracts[0]).rules  # old callers: field names only
