"""Reading and writing topics directly in the worker tests, beside the workers: whole topics
decoded with the codec, and single raw messages exactly as given.

Apart from the worker processes (worker_harness.py): reading a topic or writing one message
needs no worker, and hostile-input tests write what no hub tool would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hub.adapters.kafka import OFFSET_BEGINNING, TopicPartition, make_consumer
from hub.codec import load_codec
from hub.settings import Settings


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    kind: str | None = None
    record: dict[str, Any] | None = None
    #: the record's Kafka timestamp (ms; the producer's clock, this machine's), None if unset
    timestamp_ms: int | None = None


class TopicReader:
    """Reads whole topics from the beginning (no group commits) and decodes values with the codec.

    Keeps its position, so ``poll_new`` returns only what arrived since the last call.
    """

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self.codec = load_codec(settings.schemas_dir)
        # Positions are assigned below, so this throw-away group never commits anything.
        self.consumer = make_consumer(
            settings, **{"group.id": f"hubit-reader-{uuid.uuid4().hex[:8]}"})
        self.topics = list(topics)
        meta = self.consumer.list_topics(timeout=10).topics
        self.tps = [TopicPartition(t, p, OFFSET_BEGINNING)
                    for t in self.topics for p in sorted(meta[t].partitions)]
        self.consumer.assign(self.tps)
        self.received: list[Received] = []

    def close(self) -> None:
        self.consumer.close()

    def _decode(self, msg: Any) -> Received:
        kind = record = None
        try:
            kind, record = self.codec.decode(msg.value() or b"")
        except Exception:
            pass
        ts_type, ts = msg.timestamp()
        return Received(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                        {k: v for k, v in (msg.headers() or [])}, kind, record,
                        ts if ts_type and ts >= 0 else None)

    def poll_new(self, seconds: float = 0.5) -> list[Received]:
        out: list[Received] = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for msg in self.consumer.consume(num_messages=1000, timeout=min(left, 0.2)):
                if msg.error():
                    continue
                out.append(self._decode(msg))
        self.received.extend(out)
        return out

    def at_end(self) -> bool:
        """True when every assigned partition has been read up to its current end offset."""
        positions = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(self.tps)}
        for tp in self.tps:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            pos = positions[(tp.topic, tp.partition)]
            if high > 0 and (pos < 0 or pos < high):
                return False
        return True

    def until(self, predicate: Callable[[list[Received]], bool], *, timeout: float,
              what: str = "messages") -> list[Received]:
        """Read until ``predicate(all received so far)`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}; got "
                    f"{len(self.received)} messages on {self.topics}"
                )
            self.poll_new(0.5)
        return self.received

    def until_quiet(self, *, quiet: float, timeout: float) -> list[Received]:
        """Read until at the end of every partition with nothing new for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            if self.poll_new(0.5):
                last_new = time.monotonic()
            elif time.monotonic() - last_new >= quiet and self.at_end():
                return self.received
        raise AssertionError(f"{self.topics} never went quiet for {quiet}s within {timeout}s")


@contextmanager
def reading(settings: Settings, *topics: str) -> Iterator[TopicReader]:
    reader = TopicReader(settings, topics)
    try:
        yield reader
    finally:
        reader.close()


@dataclass(frozen=True)
class Sent:
    """One message produced by :func:`produce_raw`, with the coordinates the broker gave it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def produce_raw(settings: Settings, topic: str, value: bytes | None, *, key: bytes | None = None,
                headers: Iterable[tuple[str, bytes]] = (), **config: Any) -> Sent:
    """Produce one message exactly as given (murmur2 like the hub's tools); its coordinates."""
    from hub.adapters.kafka.io import make_producer

    delivered: list[tuple[Any, Any]] = []
    producer = make_producer(settings, **config)
    hdrs = tuple(headers)
    producer.produce(topic, value=value, key=key, headers=list(hdrs) or None,
                     on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert producer.flush(30) == 0, f"a message to {topic} was not delivered in 30 s"
    [(err, msg)] = delivered
    assert err is None, f"producing to {topic} failed: {err}"
    return Sent(topic, int(msg.partition()), int(msg.offset()), key, value, hdrs)


def read_to_end(settings: Settings, topics: Iterable[str], *,
                timeout: float = 60) -> list[Received]:
    """Every message on ``topics`` up to their end offsets as they are now (others may still write).

    Unlike :meth:`TopicReader.until_quiet`, this ends on topics that never go quiet, such as the
    correlation topic with its tick messages.
    """
    with reading(settings, *topics) as rd:
        ends = {}
        for tp in rd.tps:
            _, high = rd.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            ends[(tp.topic, tp.partition)] = high
        deadline = time.monotonic() + timeout

        def done() -> bool:
            return all(pos.offset >= ends[(pos.topic, pos.partition)] or
                       ends[(pos.topic, pos.partition)] == 0
                       for pos in rd.consumer.position(rd.tps))

        while not done():
            if time.monotonic() >= deadline:
                raise AssertionError(f"could not read {rd.topics} to their ends in {timeout}s")
            rd.poll_new(0.5)
        return [r for r in rd.received if r.offset < ends[(r.topic, r.partition)]]
