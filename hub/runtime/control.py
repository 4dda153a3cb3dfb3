"""Control messages to the correlation stage, and how far behind the workers are.

Runs from the CLI, outside any worker.
"""

from __future__ import annotations

import logging
import time

from hub.adapters.kafka import TopicPartition, make_offsets_consumer, make_producer
from hub.codec.internal import CONTROL_HEADER, FLUSH
from hub.observability.kafka_log import kafka_logger
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS, Settings


def group_lag(settings: Settings, topics: list[str]) -> int:
    """Messages on ``topics`` not yet committed by the worker group (end offset − committed)."""
    consumer = make_offsets_consumer(settings)
    try:
        lag = 0
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
            committed = consumer.committed(tps, timeout=10)
            for tp, c in zip(tps, committed, strict=True):
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                done = c.offset if c.offset >= 0 else 0
                lag += max(0, high - done)
        return lag
    finally:
        consumer.close()


def wait_caught_up(settings: Settings, timeout: float) -> int:
    """Wait until the source topics are consumed (lag 0); the remaining lag (0 when caught up)."""
    deadline = time.monotonic() + timeout
    topics = list(SOURCE_TOPICS.values())
    lag = group_lag(settings, topics)
    while lag and time.monotonic() < deadline:
        time.sleep(0.5)
        lag = group_lag(settings, topics)
    return lag


def send_flush(settings: Settings) -> int:
    """End of input to every partition of the correlation topic; how many partitions."""
    # librdkafka's lines through hub.kafka, shown only with -v: the command says what failed
    producer = make_producer(settings, logger=kafka_logger(level=logging.CRITICAL))
    meta = producer.list_topics(CORRELATE_TOPIC, timeout=10).topics.get(CORRELATE_TOPIC)
    if meta is None or meta.error is not None or not meta.partitions:
        raise RuntimeError(f"topic {CORRELATE_TOPIC} not found; run `hub topics apply`")
    partitions = len(meta.partitions)
    for p in range(partitions):
        producer.produce(CORRELATE_TOPIC, value=b"", partition=p,
                         headers=[(CONTROL_HEADER, FLUSH)])
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} flush messages not delivered; is the broker up?")
    return partitions
