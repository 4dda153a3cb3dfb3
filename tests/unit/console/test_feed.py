"""The feed's "read to the end" (hub/console/feed.py) over a stand-in consumer that answers as
librdkafka does at start: nothing before its first fetch comes back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hub.adapters.kafka import TopicPartition
from hub.codec import load_codec
from hub.console.board import Board
from hub.console.feed import Feed
from hub.core.cases import CaseBook, load_dispatch
from hub.settings import CASES_TOPIC, Settings
from tests.unit.core.test_cases import NOW, incident

CODEC = load_codec()


class SlowStart:
    """A consumer of one partition of hub.cases holding ``values``: its first two answers are
    empty (no fetch back yet), then it delivers 10 records an answer."""

    def __init__(self, values: list[bytes], feed: Feed) -> None:
        self.values, self.feed, self.at, self.calls = values, feed, -1001, 0
        self.seen_at_caught_up: int | None = None

    def list_topics(self, timeout: float) -> Any:
        topics = {name: SimpleNamespace(partitions={0: None}) for name in self._names()}
        return SimpleNamespace(topics=topics)

    @staticmethod
    def _names() -> list[str]:
        from hub.console import feed as feed_module
        return [feed_module.CASES_TOPIC, feed_module.INCIDENTS_TOPIC, feed_module.REGISTRY_TOPIC,
                *feed_module.ANALYTICS_TOPICS.values()]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return (0, len(self.values)) if tp.topic == CASES_TOPIC else (0, 0)

    def assign(self, parts: list[TopicPartition]) -> None:
        pass

    def consume(self, n: int, timeout: float) -> list[Any]:
        self.calls += 1
        if self.feed.caught_up.is_set() and self.seen_at_caught_up is None:
            self.seen_at_caught_up = max(self.at, 0)
        if self.calls <= 2 or self.at >= len(self.values):
            if self.at >= len(self.values):
                self.feed.stop.set()
            return []
        start = max(self.at, 0)
        batch = self.values[start:start + 10]
        self.at = start + len(batch)
        return [SimpleNamespace(value=lambda v=v: v, error=lambda: None, topic=lambda: CASES_TOPIC,
                                partition=lambda: 0, offset=lambda i=i: start + i)
                for i, v in enumerate(batch)]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.at) for tp in tps]

    def close(self) -> None:
        pass


def test_caught_up_waits_for_the_records_that_were_there_at_start() -> None:
    book = CaseBook(load_dispatch(Settings().dispatch_file))
    values = [CODEC.encode("case_change", book.on_incident(incident(f"inc-{i}"), NOW)[0]
                           .to_record()) for i in range(35)]
    board = Board()
    feed = Feed(Settings(bootstrap="127.0.0.1:1"), CODEC, board, on_change=lambda: None)
    consumer = feed._consumer = SlowStart(values, feed)
    feed._check_kafka = lambda: None  # type: ignore[method-assign]
    feed._run()
    assert feed.caught_up.is_set()
    assert consumer.seen_at_caught_up == 35, (
        f"caught up after {consumer.seen_at_caught_up} of 35 records")
    assert len(board) == 35
