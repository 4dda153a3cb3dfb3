"""Read one partition's offsets [start, end) again, outside Faust's consumer.

The worker's agents use it to fill a hole: offsets Faust fetched and then dropped from an agent's
queue (faust-streaming/faust#596; see hub.runtime.continuity). A plain confluent-kafka consumer
with ``assign`` (no group, nothing committed) reads exactly the range, whatever Faust's own fetch
position and read offsets say. Offsets with no record (transaction markers, compaction,
retention) are simply absent from the result.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from hub.adapters.kafka_io import KafkaIOError


@dataclass(frozen=True)
class FetchedMessage:
    """The fields of a Faust message the agents read, for a record read here."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    #: seconds, as Faust gives it
    timestamp: float | None = None


@dataclass(frozen=True)
class FetchedEvent:
    """Stands in for a Faust event in a batch: the handlers read only ``.message``."""

    message: FetchedMessage


class RangeReader:
    """Each call uses a consumer of its own, closed after it: holes are rare, and both agents
    (and the watchdog) may call at once from different threads."""

    def __init__(self, bootstrap: str, *, timeout: float = 30.0) -> None:
        self.bootstrap, self.timeout = bootstrap, timeout

    @contextmanager
    def _consumer(self, what: str, group: str | None = None) -> Iterator[Consumer]:
        """A consumer for one call, closed after it; a Kafka error says what failed."""
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "client.id": "hub-range-reader",
            # Never joined (no subscribe): partitions are assigned by hand, and a group is
            # named only to read its committed offsets.
            "group.id": group or f"hub-range-reader-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # As Faust's aiokafka consumer reads (read_uncommitted), so the records match.
            "isolation.level": "read_uncommitted",
            "enable.partition.eof": True,
            "log.connection.close": False,
        })
        try:
            yield consumer
        except KafkaException as exc:
            raise KafkaIOError(f"cannot read {what} (is the broker at {self.bootstrap} up?): "
                               f"{exc}") from exc
        finally:
            consumer.close()

    def starts(self, group: str, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Where a member of ``group`` starts reading each partition when it is assigned: the
        group's committed offset, or the log's first offset if the group never committed."""
        with self._consumer(f"where group {group} starts {partitions}", group) as consumer:
            out: dict[tuple[str, int], int] = {}
            for tp in consumer.committed([TopicPartition(t, p) for t, p in partitions],
                                         timeout=self.timeout):
                if tp.offset >= 0:
                    out[(tp.topic, tp.partition)] = tp.offset
                else:
                    low, _ = consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=self.timeout)
                    out[(tp.topic, tp.partition)] = int(low)
            return out

    def ends(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Each partition's end offset (the next offset to be written)."""
        with self._consumer(f"the end offsets of {partitions}") as consumer:
            return {(t, p): int(consumer.get_watermark_offsets(
                TopicPartition(t, p), timeout=self.timeout)[1]) for t, p in partitions}

    async def aends(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await asyncio.to_thread(self.ends, partitions)

    def read(self, topic: str, partition: int, start: int, end: int) -> list[FetchedMessage]:
        """Every record with ``start <= offset < end``; raises KafkaIOError after ``timeout``."""
        if end <= start:
            return []
        with self._consumer(f"{topic}/{partition} [{start}, {end})") as consumer:
            consumer.assign([TopicPartition(topic, partition, start)])
            out: list[FetchedMessage] = []
            deadline = time.monotonic() + self.timeout
            while True:
                position = consumer.position([TopicPartition(topic, partition)])[0].offset
                if position >= end:
                    return out
                if time.monotonic() > deadline:
                    raise KafkaIOError(
                        f"read {len(out)} records of {topic}/{partition} [{start}, {end}) in "
                        f"{self.timeout:.0f}s; stopped at offset {position} (is the broker at "
                        f"{self.bootstrap} up?)")
                for msg in consumer.consume(num_messages=1000, timeout=0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            return out
                        raise KafkaIOError(f"reading {topic}/{partition} [{start}, {end}): {err}")
                    offset = msg.offset()
                    if offset is None or offset < start:
                        continue
                    if offset >= end:
                        return out
                    ts_type, ts = msg.timestamp()
                    out.append(FetchedMessage(
                        topic=topic, partition=partition, offset=offset, key=msg.key(),
                        value=msg.value(), headers=_headers(msg.headers()),
                        timestamp=ts / 1000 if ts_type and ts >= 0 else None,
                    ))

    async def aread(self, topic: str, partition: int, start: int, end: int
                    ) -> list[FetchedMessage]:
        return await asyncio.to_thread(self.read, topic, partition, start, end)

    async def astarts(self, group: str, partitions: list[tuple[str, int]]
                      ) -> dict[tuple[str, int], int]:
        return await asyncio.to_thread(self.starts, group, partitions)


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    return [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in items]


def as_events(messages: list[FetchedMessage]) -> list[Any]:
    return [FetchedEvent(m) for m in messages]
