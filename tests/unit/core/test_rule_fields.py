"""Rule files are checked against the event contracts: a misspelt field is an error, not silence."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.codec import event_fields, load_codec
from hub.core.rule_loading import load_rules
from hub.model.errors import ConfigError

RULES = Path(__file__).resolve().parents[3] / "topology" / "rules"


@pytest.fixture(scope="module")
def known() -> dict[str, frozenset[str]]:
    return event_fields(load_codec())


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "r.yaml").write_text(body, encoding="utf-8")
    return tmp_path


def test_default_pack_names_only_contract_fields(known: dict[str, frozenset[str]]) -> None:
    pack = load_rules(RULES, known)
    assert len(pack.rules) == 9


def test_misspelt_where_field_is_named(tmp_path: Path, known: dict[str, frozenset[str]]) -> None:
    d = _write(tmp_path, """
rules:
  - {id: r1, type: single, title: t, by: [door_id], within: 1m, risk_level: LOW,
     match: {kind: access_swipe, where: {reslt: DENIED}}}
""")
    with pytest.raises(ConfigError, match=r"r\.yaml: rule 'r1': field 'match\.where\.reslt'"):
        load_rules(d, known)
    load_rules(d)  # without contracts the loader cannot know


def test_misspelt_by_field_is_named(tmp_path: Path, known: dict[str, frozenset[str]]) -> None:
    d = _write(tmp_path, """
rules:
  - {id: r2, type: single, title: t, by: [dor_id], within: 1m, risk_level: LOW,
     match: {kind: access_swipe}}
""")
    with pytest.raises(ConfigError, match=r"rule 'r2': field 'by': 'dor_id'"):
        load_rules(d, known)


def test_registry_fields_may_key_any_rule(tmp_path: Path, known: dict[str, frozenset[str]]) -> None:
    d = _write(tmp_path, """
rules:
  - {id: r3, type: threshold, title: t, by: [grid_id], within: 1h, count: 3, risk_level: LOW,
     match: {kind: perimeter_alarm}}
""")
    assert load_rules(d, known).rules[0].by == ("grid_id",)


def test_key_must_exist_on_every_step(tmp_path: Path, known: dict[str, frozenset[str]]) -> None:
    d = _write(tmp_path, """
rules:
  - {id: r4, type: all, title: t, by: [door_id], within: 1m, risk_level: LOW,
     steps: [{kind: face_match}, {kind: access_swipe}]}
""")
    with pytest.raises(ConfigError, match="'door_id' is not a field of every event"):
        load_rules(d, known)


def test_boolean_count_is_rejected(tmp_path: Path) -> None:
    d = _write(tmp_path, """
rules:
  - {id: r5, type: threshold, title: t, by: [door_id], within: 1m, count: true,
     risk_level: LOW, match: {kind: access_swipe}}
""")
    with pytest.raises(ConfigError, match="field 'count'"):
        load_rules(d)
