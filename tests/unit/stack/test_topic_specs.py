"""topology/topics.yaml validation and the pure apply plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.adapters.kafka.admin import TopicState, plan_changes
from hub.adapters.topic_specs import FOREVER, TopicSpec, load_topic_specs, parse_retention
from hub.model.errors import ConfigError
from hub.settings import (
    ACTIONS_TOPIC,
    ANALYTICS_TOPICS,
    CASES_TOPIC,
    CORRELATE_TOPIC,
    DEADLETTER_TOPIC,
    INCIDENTS_TOPIC,
    LEVEL_TOPICS,
    REGISTRY_TOPIC,
    SOURCE_TOPICS,
    Settings,
)


def test_topics_yaml_declares_exactly_the_settings_topics() -> None:
    specs = {s.name: s for s in load_topic_specs(Settings().topics_file)}
    expected = {
        *SOURCE_TOPICS.values(),
        *LEVEL_TOPICS.values(),
        REGISTRY_TOPIC,
        INCIDENTS_TOPIC,
        DEADLETTER_TOPIC,
        CORRELATE_TOPIC,
        ACTIONS_TOPIC,
        CASES_TOPIC,
        *ANALYTICS_TOPICS.values(),
    }
    assert set(specs) == expected
    assert specs[REGISTRY_TOPIC].cleanup_policy == "compact"
    assert specs[DEADLETTER_TOPIC].retention_ms >= 30 * 86_400_000
    assert specs[CORRELATE_TOPIC].partitions == 4
    assert all(s.partitions == 4 and s.replication == 1 for s in specs.values())
    assert all(s.description for s in specs.values())


@pytest.mark.parametrize(
    ("text", "ms"),
    [("7d", 604_800_000), ("12h", 43_200_000), ("30m", 1_800_000), ("500ms", 500),
     ("forever", FOREVER), (1000, 1000)],
)  # fmt: skip
def test_parse_retention(text: object, ms: int) -> None:
    assert parse_retention(text) == ms


@pytest.mark.parametrize("bad", ["7 days", "0d", -5, True, None, "1w"])
def test_parse_retention_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="retention"):
        parse_retention(bad)


GOOD = """
topics:
  - name: a.b
    partitions: 4
    replication: 1
    retention: 7d
    cleanup_policy: delete
    description: fine
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "topics.yaml"
    p.write_text(text)
    return p


def test_good_file_loads(tmp_path: Path) -> None:
    (spec,) = load_topic_specs(_write(tmp_path, GOOD))
    assert spec.kafka_configs() == {"cleanup.policy": "delete", "retention.ms": "604800000"}


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("partitions: 4", "partitions: zero", "partitions"),
        ("partitions: 4", "partitions: 0", "partitions"),
        ("retention: 7d", "retention: soon", "retention"),
        ("cleanup_policy: delete", "cleanup_policy: shred", "cleanup_policy"),
        ("description: fine", "description: ''", "description"),
        ("name: a.b", "name: 'a b'", "name"),
        ("replication: 1", "replication: 1\n    colour: blue", "colour"),
    ],
)
def test_errors_name_file_topic_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_topic_specs(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"'{field}'" in msg
    if field != "name":
        assert "'a.b'" in msg


def test_duplicate_and_structure_errors(tmp_path: Path) -> None:
    body = GOOD.split("topics:\n", 1)[1]
    with pytest.raises(ConfigError, match="declared twice"):
        load_topic_specs(_write(tmp_path, "topics:\n" + body + body))
    with pytest.raises(ConfigError, match="non-empty 'topics'"):
        load_topic_specs(_write(tmp_path, "topics: []\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_topic_specs(_write(tmp_path, "topics: [\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_topic_specs(tmp_path / "missing.yaml")


def _spec(partitions: int = 4, retention: int = 1000, policy: str = "delete") -> TopicSpec:
    return TopicSpec("t", partitions, 1, retention, policy, "d")


def _state(partitions: int = 4, **configs: str) -> dict[str, TopicState]:
    base = {"cleanup.policy": "delete", "retention.ms": "1000"}
    base.update({k.replace("_", "."): v for k, v in configs.items()})
    return {"t": TopicState("t", partitions, 1, base)}


def test_plan_creates_missing() -> None:
    (change,) = plan_changes([_spec()], {})
    assert change.action == "create" and change.partitions == 4


def test_plan_nothing_when_equal() -> None:
    assert plan_changes([_spec()], _state()) == []


def test_plan_raises_partitions_and_alters_configs() -> None:
    changes = plan_changes([_spec(partitions=8, policy="compact")], _state(partitions=4))
    assert [c.action for c in changes] == ["add_partitions", "alter_configs"]
    assert changes[0].partitions == 8
    assert changes[1].configs == {"cleanup.policy": ("delete", "compact")}


def test_plan_never_lowers_partitions() -> None:
    (change,) = plan_changes([_spec(partitions=2)], _state(partitions=4))
    assert change.action == "warn" and "cannot" in change.detail


def test_plan_cleanup_policy_order_does_not_matter() -> None:
    state = _state(cleanup_policy="delete,compact")
    assert plan_changes([_spec(policy="compact,delete")], state) == []
