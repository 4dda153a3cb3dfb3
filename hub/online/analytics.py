"""The area analytics live (``hub analytics --live``): the engines of hub/core/analytics over Kafka.

One loop reads every partition of the building registry, hub.src.grid_report and hub.incidents
from the beginning (no consumer group, nothing committed, like the console), runs the same three
engines as ``hub analytics`` over files, and publishes their records on hub.analytics.disputes,
hub.analytics.risk and hub.analytics.safety_index. A restart reads everything again: the
engines' state is rebuilt from the topics (the inputs' retention bounds the history it sees),
and the records it publishes again are identical, under the same key.

Watermark: each input partition's newest time; partitions at their end (caught up) do not hold
it back. The watermark is the oldest of the others (the newest of all when every partition is
caught up), less the configured lateness, so reading a backlog whose partitions run at different
speeds loses nothing. Why not Faust: the aggregation is per area across all partitions, so one
reader must see every input anyway, and a reader that starts from the beginning has no state to
lose (docs/analytics.md, "Live").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from hub.adapters.kafka_io import flush, make_consumer, make_producer, produce
from hub.codec import Codec, to_building, to_event
from hub.core.analytics import (
    AnalyticsConfig,
    AreaDirectory,
    DisputeFunnelEngine,
    LateInput,
    RiskWarningEngine,
    SafetyIndexEngine,
)
from hub.core.analytics.keys import record_key
from hub.model.errors import RecordError
from hub.model.events import REGISTRY_KIND
from hub.model.incidents import CONFIRMED, Incident
from hub.settings import (
    ANALYTICS_TOPICS,
    INCIDENTS_TOPIC,
    REGISTRY_TOPIC,
    SOURCE_TOPICS,
    Settings,
)

log = logging.getLogger(__name__)

REPORTS_TOPIC = SOURCE_TOPICS["grid_report"]
INPUTS = (REGISTRY_TOPIC, REPORTS_TOPIC, INCIDENTS_TOPIC)


@dataclass
class LiveAnalytics:
    """The engines and the watermark; ``take`` one input, ``advance`` to publish what closed."""

    config: AnalyticsConfig
    directory: AreaDirectory = field(default_factory=AreaDirectory)
    newest: dict[tuple[str, int], int] = field(default_factory=dict)
    at_end: set[tuple[str, int]] = field(default_factory=set)
    late: int = 0

    def __post_init__(self) -> None:
        self.funnel = DisputeFunnelEngine(self.config, self.directory)
        self.risk = RiskWarningEngine(self.config, self.directory)
        self.safety = SafetyIndexEngine(self.config, self.directory)
        self.watermark: int | None = None

    def take(self, where: tuple[str, int], kind: str, record: dict[str, Any]
             ) -> list[tuple[str, Any]]:
        """One decoded input; the (kind, record) pairs it publishes at once (early warnings)."""
        self.at_end.discard(where)
        out: list[tuple[str, Any]] = []
        try:
            if kind == REGISTRY_KIND:
                self.directory.put(to_building(record))
                return []
            if kind == "grid_report":
                event = to_event(kind, record)
                self._saw(where, event.event_time)
                out += [("dispute_funnel", r) for r in self.funnel.add_report(event)]
                out += [("risk_warning", r) for r in self.risk.add_report(event)]
                out += [("safety_index", r) for r in self.safety.add_report(event)]
            elif kind == "incident":
                incident = Incident.from_record(record)
                if incident.status != CONFIRMED:
                    return []
                self._saw(where, incident.first_event_time)
                out += [("risk_warning", r) for r in self.risk.add_incident(incident)]
                out += [("safety_index", r) for r in self.safety.add_incident(incident)]
        except LateInput as exc:
            self.late += 1
            log.info("analytics: %s behind the watermark: %s", kind, exc)
        return out

    def _saw(self, where: tuple[str, int], time: int) -> None:
        if time > self.newest.get(where, time - 1):
            self.newest[where] = time

    def advance(self) -> list[tuple[str, Any]]:
        """Close what the watermark passed; the records to publish."""
        if not self.newest:
            return []
        running = [t for w, t in self.newest.items() if w not in self.at_end]
        front = min(running) if running else max(self.newest.values())
        watermark = front - self.config.lateness_ms
        if self.watermark is not None and watermark <= self.watermark:
            return []
        self.watermark = watermark
        return ([("dispute_funnel", r) for r in self.funnel.close_until(watermark)]
                + [("risk_warning", r) for r in self.risk.close_until(watermark)]
                + [("safety_index", r) for r in self.safety.close_until(watermark)])


def run_live(settings: Settings, codec: Codec, config: AnalyticsConfig, stop: threading.Event,
             *, logger: Any = None, on_publish: Callable[[int], None] | None = None) -> int:
    """Read, compute and publish until ``stop`` is set; how many records were published."""
    extra: dict[str, Any] = {"logger": logger} if logger is not None else {}
    consumer = make_consumer(settings, from_beginning=True, **{"client.id": "hub-analytics",
                             "enable.partition.eof": True, **extra})
    producer = make_producer(settings, **{"client.id": "hub-analytics"}, **extra)
    live = LiveAnalytics(config)
    published = 0
    try:
        meta = consumer.list_topics(timeout=10)
        registry = [TopicPartition(REGISTRY_TOPIC, p, OFFSET_BEGINNING)
                    for p in meta.topics[REGISTRY_TOPIC].partitions]
        # Buildings first, to the end: a report's areas come from its building.
        consumer.assign(registry)
        left = {tp.partition for tp in registry}
        while left and not stop.is_set():
            for msg in consumer.consume(1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        left.discard(int(msg.partition() or 0))
                    continue
                if msg.value():
                    try:
                        kind, record = codec.decode(msg.value() or b"")
                        live.take((REGISTRY_TOPIC, int(msg.partition() or 0)), kind, record)
                    except RecordError as exc:
                        log.info("analytics: registry record skipped: %s", exc)
        log.info("analytics: %d buildings read; reading reports and incidents",
                 len(live.directory.households_by_area()))
        consumer.assign(consumer.position(registry) + [
            TopicPartition(t, p, OFFSET_BEGINNING) for t in (REPORTS_TOPIC, INCIDENTS_TOPIC)
            for p in meta.topics[t].partitions])
        while not stop.is_set():
            out: list[tuple[str, Any]] = []
            for msg in consumer.consume(1000, timeout=0.5):
                where = (str(msg.topic()), int(msg.partition() or 0))
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        live.at_end.add(where)
                    elif err.fatal():
                        raise KafkaException(err)
                    continue
                value = msg.value()
                if not value:
                    continue
                try:
                    kind, record = codec.decode(value)
                except RecordError as exc:  # the worker dead-letters such bytes on its inputs
                    log.info("analytics: %s[%d]@%d: %s", *where, msg.offset(), exc)
                    continue
                out += live.take(where, kind, record)
            out += live.advance()
            for kind, rec in out:
                record = rec.to_record()
                produce(producer, ANALYTICS_TOPICS[kind], codec.encode(kind, record),
                        key=record_key(kind, record))
            if out:
                if flush(producer, 30):
                    log.warning("analytics: Kafka did not take every record in 30 s")
                published += len(out)
                if on_publish is not None:
                    on_publish(published)
    finally:
        consumer.close()
        flush(producer, 10)
    return published
