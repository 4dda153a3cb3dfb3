"""Where the hub's own tools touch Kafka for data: confluent-kafka producer and consumer factories.

Producers use the ``murmur2_random`` partitioner, the same hash as the Java client and aiokafka
(which Faust uses), so a key lands on the partition the workers expect; ``acks=all`` with
idempotence, so a retried send is neither lost nor duplicated. Kafka errors are translated into
:class:`KafkaIOError` here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from hub.adapters.kafka.reachable import not_answering, refused_by_all
from hub.model.errors import HubError
from hub.settings import DEADLETTER_TOPIC, INCIDENTS_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS, Settings

log = logging.getLogger(__name__)

#: How long a message may wait for delivery before the producer reports it failed.
DELIVERY_TIMEOUT_MS = 30_000


class KafkaIOError(HubError):
    """Producing or consuming failed; the message says what to check."""


def topic_for_kind(kind: str) -> str:
    """The topic an interchange kind is produced to (the topology contract in hub.settings)."""
    if kind in SOURCE_TOPICS:
        return SOURCE_TOPICS[kind]
    topics = {
        "building_identity": REGISTRY_TOPIC,
        "incident": INCIDENTS_TOPIC,
        "dead_letter": DEADLETTER_TOPIC,
    }
    if kind not in topics:
        raise KafkaIOError(f"no topic for kind {kind!r}")
    return topics[kind]


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Producer settings: keys land on the partitions Faust and Java would choose, and a retried
    send is neither lost nor duplicated (acks=all, idempotence); ``overrides`` win."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "client.id": "hub-produce",
        # Same partitions as Faust/aiokafka/Java for the same key (librdkafka's default differs).
        "partitioner": "murmur2_random",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        "log.connection.close": False,
    }
    config.update(overrides)
    return config


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    """A confluent-kafka Producer configured for the hub (see :func:`producer_config`)."""
    return Producer(producer_config(settings, **overrides))


def consumer_config(
    settings: Settings,
    *,
    group_id: str | None = None,
    from_beginning: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Consumer settings. Without ``group_id`` a throw-away group is used and nothing is
    committed, so a look at a topic never moves anyone's offsets."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "client.id": "hub-consume",
        "group.id": group_id or f"hub-consume-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": group_id is not None,
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
        "log.connection.close": False,
    }
    config.update(overrides)
    return config


def make_consumer(
    settings: Settings,
    *,
    group_id: str | None = None,
    from_beginning: bool = False,
    **overrides: Any,
) -> Consumer:
    """A confluent-kafka Consumer configured by :func:`consumer_config` (throw-away group when
    ``group_id`` is None, so nothing is committed)."""
    return Consumer(
        consumer_config(settings, group_id=group_id, from_beginning=from_beginning, **overrides)
    )


@dataclass
class DeliveryReport:
    """Counts delivery reports; pass :meth:`callback` as ``on_delivery``."""

    delivered: int = 0
    failed: int = 0
    #: "topic: error" -> how many messages failed that way
    errors: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)

    def callback(self, err: KafkaError | None, msg: Message) -> None:
        """Count one delivery report; a failure is grouped by topic and error text."""
        if err is not None:
            self.failed += 1
            text = f"{msg.topic()}: {err.str()}"
            self.errors[text] = self.errors.get(text, 0) + 1
            log.debug("delivery failed: %s", text)
            return
        self.delivered += 1
        topic = str(msg.topic())
        self.by_topic[topic] = self.by_topic.get(topic, 0) + 1


def produce(
    producer: Producer,
    topic: str,
    value: bytes,
    *,
    key: bytes | str | None,
    headers: Mapping[str, bytes] | None = None,
    on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
) -> None:
    """Queue one message, serving delivery reports while the local queue is full."""
    while True:
        try:
            producer.produce(
                topic,
                value=value,
                key=key,
                headers=list((headers or {}).items()),
                on_delivery=on_delivery,
            )
            break
        except BufferError:
            producer.poll(0.5)
        except Exception as exc:  # KafkaException: unknown topic name, message too large, ...
            raise KafkaIOError(f"cannot produce to {topic}: {exc}") from exc
    producer.poll(0)


def flush(producer: Producer, timeout: float) -> int:
    """Wait for outstanding deliveries; the number still undelivered after ``timeout`` seconds."""
    return int(producer.flush(timeout))


def kafka_problem(client: Producer | Consumer, bootstrap: str, topic: str | None = None,
                  timeout: float = 5.0) -> str | None:
    """Why the hub's tools cannot use Kafka at ``bootstrap`` (and ``topic``) now; None: they can.

    One metadata request: a broker that does not answer within ``timeout`` seconds, or a topic
    it does not have (the hub never creates topics by accident), is named with the fix. When
    every bootstrap address refuses a connection, that is said at once (``reachable``).
    """
    refused = refused_by_all(bootstrap)
    if refused is not None:
        return not_answering(bootstrap, refused)
    try:
        meta = client.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        return not_answering(bootstrap, exc.args[0].str() if exc.args else exc)
    if topic is not None:
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return (f"topic {topic} does not exist at {bootstrap}; `hub topics list` shows what "
                    "does, `hub topics apply` creates the hub's topics")
    return None
