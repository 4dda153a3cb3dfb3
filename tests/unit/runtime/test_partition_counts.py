"""Partition counts come from topology/topics.yaml (or the broker), never from a number in hub/:
raising hub.internal.correlate to 8 partitions makes ticks and flushes reach all 8."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import hub.runtime.control as control
from hub.adapters.topic_specs import load_topic_specs, partitions_of
from hub.codec.internal import APP_HEADER
from hub.model.errors import ConfigError
from hub.runtime.pipeline import Clients, Pipeline
from hub.settings import CORRELATE_TOPIC, Settings

TOPICS = Settings().topics_file


def _topics_with_correlate_at(tmp_path: Path, n: int) -> Path:
    lines = TOPICS.read_text(encoding="utf-8").splitlines()
    at = lines.index(f"  - name: {CORRELATE_TOPIC}")
    assert lines[at + 1].strip().startswith("partitions:")
    lines[at + 1] = f"    partitions: {n}"
    path = tmp_path / "topics.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Sent:
    def __init__(self) -> None:
        self.partitions: list[int] = []

    def send(self, topic: str, key: Any, value: Any, headers: Any = None, *,
             partition: int | None = None) -> None:
        assert topic == CORRELATE_TOPIC and partition is not None
        self.partitions.append(partition)


class NoSources:
    def assignment(self) -> list[Any]:
        return []


def test_partitions_of_reads_the_declared_count(tmp_path: Path) -> None:
    specs = load_topic_specs(_topics_with_correlate_at(tmp_path, 8))
    assert partitions_of(specs, CORRELATE_TOPIC) == 8
    with pytest.raises(ConfigError, match="not declared"):
        partitions_of(specs, "no.such.topic")


def test_ticks_reach_every_declared_correlation_partition(tmp_path: Path) -> None:
    specs = load_topic_specs(_topics_with_correlate_at(tmp_path, 8))
    ingestor = SimpleNamespace(progress={}, app_header=(APP_HEADER, b"t"))
    pipe: Any = Pipeline(clients=Clients({}, {}), ingestor=cast(Any, ingestor),
                         correlator=cast(Any, None), registry=cast(Any, None),
                         codec=cast(Any, None), metrics=cast(Any, None), worker_id="w",
                         tick_seconds=1.0,
                         correlate_partitions=partitions_of(specs, CORRELATE_TOPIC))
    sent = Sent()
    pipe._send_ticks(NoSources(), sent)
    assert sent.partitions == list(range(8))


class EightPartitions:
    """A producer whose broker has the correlation topic with 8 partitions."""

    def __init__(self) -> None:
        self.partitions: list[int] = []

    def list_topics(self, topic: str, timeout: float) -> Any:
        meta = type("T", (), {"error": None, "partitions": dict.fromkeys(range(8))})()
        return type("M", (), {"topics": {topic: meta}})()

    def produce(self, topic: str, *, value: bytes, partition: int, headers: Any) -> None:
        self.partitions.append(partition)

    def flush(self, timeout: float) -> int:
        return 0


def test_flush_reaches_every_partition_the_broker_has(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = EightPartitions()
    monkeypatch.setattr(control, "make_producer", lambda settings, **_config: producer)
    assert control.send_flush(Settings()) == 8
    assert producer.partitions == list(range(8))
