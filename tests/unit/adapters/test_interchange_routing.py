"""Where interchange records go on Kafka: topic per kind, key per kind, producer settings."""

from __future__ import annotations

import pytest

from hub.adapters.kafka.io import (
    DeliveryReport,
    KafkaIOError,
    consumer_config,
    producer_config,
    topic_for_kind,
)
from hub.settings import (
    DEADLETTER_TOPIC,
    INCIDENTS_TOPIC,
    REGISTRY_TOPIC,
    SOURCE_TOPICS,
    Settings,
)


@pytest.mark.parametrize("kind", sorted(SOURCE_TOPICS))
def test_source_kinds_go_to_their_topic(kind: str) -> None:
    assert topic_for_kind(kind) == SOURCE_TOPICS[kind] == f"hub.src.{kind}"


def test_other_kinds() -> None:
    assert topic_for_kind("building_identity") == REGISTRY_TOPIC
    assert topic_for_kind("incident") == INCIDENTS_TOPIC
    assert topic_for_kind("dead_letter") == DEADLETTER_TOPIC
    with pytest.raises(KafkaIOError):
        topic_for_kind("parking")


def test_producer_partitions_like_faust_and_never_loses() -> None:
    config = producer_config(Settings(bootstrap="h:1"))
    assert config["partitioner"] == "murmur2_random"
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["bootstrap.servers"] == "h:1"
    assert producer_config(Settings(), acks="1")["acks"] == "1"


def test_anonymous_consumer_commits_nothing() -> None:
    anon = consumer_config(Settings(), from_beginning=True)
    assert anon["enable.auto.commit"] is False and anon["auto.offset.reset"] == "earliest"
    assert anon["group.id"] != consumer_config(Settings())["group.id"]
    named = consumer_config(Settings(), group_id="ops")
    assert named["group.id"] == "ops" and named["enable.auto.commit"] is True
    assert named["auto.offset.reset"] == "latest"


class _Msg:
    def topic(self) -> str:
        return "t"


class _Err:
    def str(self) -> str:
        return "Broker: Unknown topic"


def test_delivery_report_counts() -> None:
    report = DeliveryReport()
    report.callback(None, _Msg())  # type: ignore[arg-type]
    report.callback(_Err(), _Msg())  # type: ignore[arg-type]
    report.callback(_Err(), _Msg())  # type: ignore[arg-type]
    assert (report.delivered, report.failed) == (1, 2)
    assert report.by_topic == {"t": 1}
    assert report.errors == {"t: Broker: Unknown topic": 2}
