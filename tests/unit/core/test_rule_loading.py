"""Loading topology/rules/*.yaml: errors name the file, the rule and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.core.durations import format_duration, parse_duration
from hub.core.rule_loading import load_rules, parse_documents
from hub.core.rules import SITE_LANE
from hub.model.errors import ConfigError
from tests.unit.core.helpers import RULES_DIR, default_pack

GOOD: dict[str, Any] = {
    "id": "probe",
    "type": "threshold",
    "title": "探测 probe",
    "by": ["door_id"],
    "within": "2m",
    "match": {"kind": "access_swipe", "where": {"result": "DENIED"}},
    "tiers": [{"count": 3, "risk_level": "MEDIUM"}, {"count": 6, "risk_level": "HIGH"}],
}


def write_rules(tmp_path: Path, *rules: dict[str, Any], name: str = "bad.yaml") -> Path:
    (tmp_path / name).write_text(
        yaml.safe_dump({"rules": list(rules)}, allow_unicode=True), encoding="utf-8"
    )
    return tmp_path


def load_error(tmp_path: Path, rule: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_rules(write_rules(tmp_path, rule))
    return str(info.value)


def variant(**changes: Any) -> dict[str, Any]:
    rule = copy.deepcopy(GOOD)
    for k, v in changes.items():
        if v is None:
            rule.pop(k, None)
        else:
            rule[k] = v
    return rule


def assert_names(msg: str, tmp_path: Path, rule: str | None, field: str) -> None:
    assert str(tmp_path / "bad.yaml") in msg, msg
    if rule is not None:
        assert f"rule {rule!r}" in msg, msg
    assert f"field {field!r}" in msg, msg


def test_good_rule_loads(tmp_path: Path) -> None:
    pack = load_rules(write_rules(tmp_path, GOOD, name="good.yaml"))
    (rule,) = pack.rules
    assert rule.id == "probe" and rule.within == 120_000 and rule.by == ("site_id", "door_id")
    assert [(t.count, t.risk_level) for t in rule.tiers] == [(3, "MEDIUM"), (6, "HIGH")]
    assert rule.risk_for(2) is None
    assert rule.risk_for(3) == "MEDIUM" and rule.risk_for(7) == "HIGH"
    assert rule.source_file.endswith("good.yaml")
    assert rule.lane == SITE_LANE


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"type": "window"}, "type", "not a rule type"),
        ({"match": {"kind": "door_swipe"}}, "match.kind", "unknown kind 'door_swipe'"),
        ({"within": "5 minutes"}, "within", "not a duration"),
        ({"within": "0s"}, "within", "longer than zero"),
        ({"within": -5}, "within", "negative"),
        ({"within": None}, "within", "needs a window"),
        (
            {"match": {"kind": "access_swipe", "where": {"result": {"like": "D%"}}}},
            "match.where",
            "unknown operator 'like'",
        ),
        (
            {"match": {"kind": "access_swipe", "where": {"n": {"gt": 1, "lt": 3}}}},
            "match.where",
            "exactly one operator",
        ),
        (
            {"match": {"kind": "access_swipe", "where": {"n": {"gt": "five"}}}},
            "match.where",
            "takes a finite number",
        ),
        (
            {"match": {"kind": "access_swipe", "where": {"result": {"in": "DENIED"}}}},
            "match.where",
            "non-empty list",
        ),
        ({"title": None}, "title", "needs a title"),
        ({"title": "   "}, "title", "needs a title"),
        ({"colour": "red"}, "colour", "not a key of a threshold rule"),
        ({"steps": []}, "steps", "not a key of a threshold rule"),
        (
            {"tiers": [{"count": 5, "risk_level": "MEDIUM"}, {"count": 3, "risk_level": "HIGH"}]},
            "tiers",
            "strictly increasing",
        ),
        (
            {"tiers": [{"count": 3, "risk_level": "MEDIUM"}, {"count": 3, "risk_level": "HIGH"}]},
            "tiers",
            "strictly increasing",
        ),
        (
            {"tiers": [{"count": 3, "risk_level": "SEVERE"}]},
            "tiers[0].risk_level",
            "not a risk level",
        ),
        ({"tiers": [{"count": 0, "risk_level": "LOW"}]}, "tiers[0].count", ">= 1"),
        ({"tiers": []}, "tiers", "non-empty list"),
        ({"by": []}, "by", "field name"),
        ({"by": None}, "by", "field name"),
        ({"route": {"level": "PROVINCE"}}, "route.level", "GRID"),
        ({"match": {"kind": "access_swipe", "colour": 1}}, "match", "unknown keys"),
    ],
)
def test_rule_errors_name_file_rule_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, words: str
) -> None:
    msg = load_error(tmp_path, variant(**changes))
    assert_names(msg, tmp_path, "probe", field)
    assert words in msg


def test_missing_id_names_file_and_field(tmp_path: Path) -> None:
    msg = load_error(tmp_path, variant(id=None))
    assert_names(msg, tmp_path, None, "id")


def test_bad_id_characters(tmp_path: Path) -> None:
    msg = load_error(tmp_path, variant(id="door rule!"))
    assert_names(msg, tmp_path, "door rule!", "id")


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (
            {
                "id": "s",
                "type": "single",
                "title": "t",
                "by": "door_id",
                "within": "1m",
                "match": {"kind": "access_swipe"},
            },
            "risk_level",
        ),
        (
            {
                "id": "s",
                "type": "sequence",
                "title": "t",
                "by": "site_id",
                "within": "1m",
                "risk_level": "HIGH",
                "steps": [{"kind": "access_swipe"}],
            },
            "steps",
        ),
        (
            {
                "id": "s",
                "type": "all",
                "title": "t",
                "by": "site_id",
                "within": "1m",
                "risk_level": "HIGH",
                "steps": [{"kind": "access_swipe"}, {"kind": "radar"}],
            },
            "steps[1].kind",
        ),
        (
            {
                "id": "s",
                "type": "distinct",
                "title": "t",
                "by": "site_id",
                "within": "1m",
                "count": 2,
                "risk_level": "LOW",
                "match": {"kind": "access_swipe"},
            },
            "field",
        ),
        (
            {
                "id": "s",
                "type": "threshold",
                "title": "t",
                "by": "site_id",
                "within": "1m",
                "count": 0,
                "risk_level": "LOW",
                "match": {"kind": "access_swipe"},
            },
            "count",
        ),
        (
            {
                "id": "s",
                "type": "absence",
                "title": "t",
                "by": "door_id",
                "within": "1m",
                "risk_level": "HIGH",
                "event": {"kind": "access_swipe"},
                "absent": {"kind": "access_swipe"},
                "direction": "around",
            },
            "direction",
        ),
        (
            {
                "id": "s",
                "type": "absence",
                "title": "t",
                "by": "door_id",
                "within": "1m",
                "risk_level": "HIGH",
                "event": {"kind": "access_swipe"},
            },
            "absent",
        ),
        (
            {
                "id": "s",
                "type": "single",
                "title": "t",
                "by": "door_id",
                "within": "1m",
                "risk_level": "HIGH",
                "match": "access_swipe",
            },
            "match",
        ),
    ],
)
def test_type_specific_errors(tmp_path: Path, rule: dict[str, Any], field: str) -> None:
    msg = load_error(tmp_path, rule)
    assert_names(msg, tmp_path, "s", field)


def test_duplicate_id_names_both_files(tmp_path: Path) -> None:
    write_rules(tmp_path, GOOD, name="a.yaml")
    write_rules(tmp_path, GOOD, name="b.yaml")
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "b.yaml") in msg and str(tmp_path / "a.yaml") in msg
    assert "rule 'probe'" in msg and "field 'id'" in msg


def test_duplicate_id_in_one_file(tmp_path: Path) -> None:
    msg = load_error_many(tmp_path, GOOD, GOOD)
    assert "rule 'probe'" in msg and "field 'id'" in msg


def load_error_many(tmp_path: Path, *rules: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_rules(write_rules(tmp_path, *rules))
    return str(info.value)


def test_disabled_rule_is_skipped_and_does_not_clash(tmp_path: Path) -> None:
    off = variant(enabled=False)
    pack = load_rules(write_rules(tmp_path, off, GOOD))
    assert [r.id for r in pack.rules] == ["probe"]


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rules directory not found"):
        load_rules(tmp_path / "nope")
    (tmp_path / "x.yaml").write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml: not valid YAML"):
        load_rules(tmp_path)
    (tmp_path / "x.yaml").write_text("rulez: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml: unknown top-level keys \['rulez'\]"):
        load_rules(tmp_path)
    (tmp_path / "x.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml: expected a mapping"):
        load_rules(tmp_path)
    (tmp_path / "x.yaml").write_text("rules: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no rules found"):
        load_rules(tmp_path)


def test_sources_and_suppress_errors() -> None:
    with pytest.raises(ConfigError, match=r"s\.yaml: field 'sources\.radar': unknown kind"):
        parse_documents([("s.yaml", {"sources": {"radar": {"lateness": "1s"}}})])
    with pytest.raises(ConfigError, match=r"s\.yaml: field 'sources\.access_swipe'.*duration"):
        parse_documents([("s.yaml", {"sources": {"access_swipe": {"lateness": "soon"}}})])
    with pytest.raises(ConfigError, match=r"s\.yaml: rule 'f': field 'kind'"):
        parse_documents(
            [
                (
                    "s.yaml",
                    {
                        "suppress": [
                            {"id": "f", "kind": "radar", "by": ["device_id"], "within": "10s"}
                        ]
                    },
                )
            ]
        )
    with pytest.raises(ConfigError, match=r"rule 'f': field 'within/where'"):
        parse_documents(
            [
                (
                    "s.yaml",
                    {
                        "suppress": [
                            {
                                "id": "f",
                                "kind": "perimeter_alarm",
                                "by": ["device_id"],
                                "within": "ten",
                            }
                        ]
                    },
                )
            ]
        )
    with pytest.raises(ConfigError, match=r"rule 'f': field 'by'"):
        parse_documents(
            [("s.yaml", {"suppress": [{"id": "f", "kind": "perimeter_alarm", "within": "10s"}]})]
        )


def test_durations() -> None:
    assert parse_duration("250ms") == 250
    assert parse_duration("30s") == 30_000
    assert parse_duration(" 5m ") == 300_000
    assert parse_duration("1.5h") == 5_400_000
    assert parse_duration("7d") == 604_800_000
    assert parse_duration(1234) == 1234
    for bad in ("5", "5 minutes", "m", True, None, 1.5, "-5m"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert parse_duration("36500d") == 36_500 * 86_400_000
    for huge in ("36501d", "99999999999999999999999d", 10**30):
        with pytest.raises(ValueError, match="longer than 100 years"):
            parse_duration(huge)
    assert [format_duration(x) for x in (604_800_000, 7_200_000, 300_000, 30_000, 1500)] == [
        "7d",
        "2h",
        "5m",
        "30s",
        "1500ms",
    ]


def test_default_pack_is_what_issue_3_lists() -> None:
    pack = default_pack()
    rules = {r.id: r for r in pack.rules}
    expect = {
        "perimeter_breach_entry": ("sequence", ("site_id",), 300_000),
        "forced_door": ("absence", ("site_id", "door_id"), 30_000),
        "credential_brute_force": ("threshold", ("site_id", "door_id"), 120_000),
        "cloned_credential": ("distinct", ("credential_hash",), 180_000),
        "watchlist_entry": ("all", ("site_id",), 600_000),
        "dispute_hotspot": ("distinct", ("site_id", "building_id"), 7 * 86_400_000),
        "lookup_spike": ("distinct", ("site_id", "building_id"), 1_800_000),
        "door_held_open": ("single", ("site_id", "door_id"), 600_000),
        "device_tamper": ("single", ("site_id", "device_id"), 600_000),
    }
    assert {k: (r.type, r.by, r.within) for k, r in rules.items()} == expect
    (flap,) = pack.suppressions
    assert (flap.kind, flap.by, flap.within) == (
        "perimeter_alarm",
        ("device_id", "alarm_type"),
        10_000,
    )
    assert pack.policy("access_swipe").lateness == 30_000
    assert pack.policy("grid_report").lateness == 86_400_000
    assert pack.policy("perimeter_alarm").idle == 10_000
    # cross-site rule needs its own lane online; site-local rules share the site lane
    assert rules["cloned_credential"].lane == "by:credential_hash"
    assert rules["forced_door"].lane == SITE_LANE
    assert RULES_DIR.is_dir()
