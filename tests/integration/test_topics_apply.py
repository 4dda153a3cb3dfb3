"""``apply_topics`` on the real broker: creates, is idempotent, raises partitions, fixes drift."""

from __future__ import annotations

from dataclasses import replace

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from hub.adapters.kafka.admin import admin_client, apply_topics, describe_topics
from hub.adapters.topic_specs import TopicSpec, load_topic_specs
from hub.settings import DEADLETTER_TOPIC, REGISTRY_TOPIC, Settings
from hub.stack.testing import delete_topics, unique_topic_name

pytestmark = pytest.mark.integration


@pytest.fixture
def spec_names(stack_settings: Settings):
    made: list[str] = []
    yield made
    delete_topics(stack_settings, made)


def _spec(name: str, partitions: int = 2, retention_ms: int = 3_600_000) -> TopicSpec:
    return TopicSpec(name, partitions, 1, retention_ms, "delete", "test topic")


def test_declared_topics_exist_with_their_policies(stack_settings: Settings) -> None:
    specs = load_topic_specs(stack_settings.topics_file)
    states = describe_topics(admin_client(stack_settings.bootstrap), [s.name for s in specs])
    assert set(states) == {s.name for s in specs}
    assert states[REGISTRY_TOPIC].configs["cleanup.policy"] == "compact"
    assert int(states[DEADLETTER_TOPIC].configs["retention.ms"]) >= 30 * 86_400_000
    assert all(st.partitions >= 4 for st in states.values())


def test_apply_twice_second_time_changes_nothing(stack_settings: Settings, spec_names) -> None:
    admin = admin_client(stack_settings.bootstrap)
    specs = [_spec(unique_topic_name("apply")), _spec(unique_topic_name("apply"), 3)]
    spec_names.extend(s.name for s in specs)
    first = apply_topics(admin, specs)
    assert [c.action for c in first] == ["create", "create"]
    assert apply_topics(admin, specs) == []
    states = describe_topics(admin, spec_names)
    assert [states[s.name].partitions for s in specs] == [2, 3]


def test_apply_raises_partitions_and_fixes_config_drift(
    stack_settings: Settings, spec_names
) -> None:
    admin = admin_client(stack_settings.bootstrap)
    spec = _spec(unique_topic_name("grow"), partitions=2)
    spec_names.append(spec.name)
    apply_topics(admin, [spec])
    # Someone changes retention by hand: apply puts the declared value back.
    res = ConfigResource(
        ResourceType.TOPIC,
        spec.name,
        incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(15)
    grown = replace(spec, partitions=4)
    changes = apply_topics(admin, [grown])
    assert sorted(c.action for c in changes) == ["add_partitions", "alter_configs"]
    state = describe_topics(admin, [spec.name])[spec.name]
    assert state.partitions == 4
    assert state.configs["retention.ms"] == str(spec.retention_ms)
    assert apply_topics(admin, [grown]) == []


def test_lower_partition_count_is_a_warning_not_a_change(
    stack_settings: Settings, spec_names
) -> None:
    admin = admin_client(stack_settings.bootstrap)
    spec = _spec(unique_topic_name("shrink"), partitions=3)
    spec_names.append(spec.name)
    apply_topics(admin, [spec])
    changes = apply_topics(admin, [replace(spec, partitions=1)])
    assert [c.action for c in changes] == ["warn"]
    assert describe_topics(admin, [spec.name])[spec.name].partitions == 3
