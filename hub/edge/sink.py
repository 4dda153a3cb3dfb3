"""Producing what the edge received: validated records on their kind's topic, unreadable payloads
on the dead-letter topic, and an answer only once Kafka has acknowledged them.

One idempotent producer (acks=all) per process, served by a thread of its own, so that an HTTP
handler or an MQTT callback can wait for *its* messages' acknowledgements (a
``concurrent.futures.Future``) without flushing anybody else's. A caller that is told "stored"
can forget the event; one told "failed" must send it again (the event id makes a repeat harmless:
the worker's deduplication drops it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from hub.adapters.kafka import KafkaError, Message, Producer
from hub.adapters.kafka.io import make_producer, topic_for_kind
from hub.codec import Codec, dead_letter_record, load_codec, parse_object, topic_key
from hub.codec.seal import seal
from hub.model.errors import RecordError
from hub.observability.edge_metrics import EdgeMetrics, create_edge
from hub.observability.kafka_log import kafka_logger
from hub.settings import DEADLETTER_TOPIC, Settings

log = logging.getLogger(__name__)

#: How long a message may wait for the broker's acknowledgement before the caller is told it was
#: not stored (an HTTP client waits this long at most; devices retry after it).
EDGE_DELIVERY_TIMEOUT_MS = 10_000
#: How long a "Kafka is reachable" answer is trusted before asking the broker again.
READY_TTL_S = 2.0


#: topic, value, key, headers
_Message = tuple[str, bytes, str | bytes | None, list[tuple[str, str | bytes | None]]]


@dataclass(frozen=True)
class Delivery:
    """The broker's answer for one message: None when stored, else why not."""

    topic: str
    error: str | None


class EdgeSink:
    """Validates, pseudonymizes, encodes and produces records for the edge's adapters."""

    def __init__(self, settings: Settings, *, metrics: EdgeMetrics | None = None,
                 codec: Codec | None = None, producer: Producer | None = None,
                 delivery_timeout_ms: int = EDGE_DELIVERY_TIMEOUT_MS) -> None:
        self.settings = settings
        self.metrics = metrics or create_edge()
        self.codec = codec or load_codec(settings.schemas_dir)
        self.producer = producer or make_producer(
            settings, **{"client.id": "hub-edge", "message.timeout.ms": delivery_timeout_ms,
                         "linger.ms": 2},
            logger=kafka_logger(verbose=False, level=logging.CRITICAL))
        self._stop = threading.Event()
        self._ready_until = 0.0
        self._ready_problem: str | None = None
        self._poller = threading.Thread(target=self._poll, name="edge-producer", daemon=True)
        self._poller.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def close(self, timeout: float = 10.0) -> int:
        """Deliver what is queued (at most ``timeout`` s), stop the poller; messages left over."""
        self._stop.set()
        self._poller.join(timeout=2)
        return int(self.producer.flush(timeout))

    def kafka_problem(self, timeout: float = 2.0) -> str | None:
        """Why Kafka cannot take messages now (None: it can); asked at most every READY_TTL_S.

        Checked before anything is queued, so that a request met by a broker that is down is
        answered 503 at once, instead of after the delivery timeout."""
        now = time.monotonic()
        if now < self._ready_until:
            return self._ready_problem
        try:
            meta = self.producer.list_topics(timeout=timeout)
            problem = None if meta.brokers else "no broker answers"
        except Exception as exc:  # KafkaException: transport failure, timeout
            problem = f"Kafka at {self.settings.bootstrap} does not answer ({exc})"
        self._ready_problem = problem
        self._ready_until = now + (READY_TTL_S if problem is None else 0.5)
        return problem

    # -- records -----------------------------------------------------------------------------

    def validate(self, obj: Mapping[str, Any], *, accept: Collection[str] | None = None
                 ) -> tuple[str, dict[str, Any]]:
        """An interchange object -> (kind, record), personal fields pseudonymized.

        Raises :class:`RecordError` naming the field and the fix."""
        return parse_object(obj, pseudonym_key=self.settings.pseudonym_key, codec=self.codec,
                            accept=accept)

    def produce(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> Future[list[Delivery]]:
        """Queue each record on its kind's topic (key and ``kind`` header as ``hub produce``);
        the future completes when the broker has answered for every one of them."""
        messages: list[_Message] = []
        for kind, record in records:
            messages.append((topic_for_kind(kind), self.codec.encode(kind, record),
                             topic_key(kind, record), [("kind", kind.encode())]))
        return self._send(messages)

    def dead_letter(self, payload: bytes, error: RecordError, *, channel: str, source: str,
                    source_kind: str | None = None) -> Future[list[Delivery]]:
        """Keep a payload nothing could be made of, sealed (it may hold raw personal values the
        mapping never reached), with the reason, field and detail of ``error``.

        ``source`` says where it came in (``http:/v1/vendors/hikvision/isapi``, ``mqtt:<topic>``);
        it stands in the dead letter's ``source_topic``, partition and offset being -1."""
        now = int(time.time() * 1000)
        record = dead_letter_record(
            error, topic=f"{channel}:{source}", partition=-1, offset=-1, key=None,
            value=seal(payload, self.settings.deadletter_key), time_ms=now, timestamp_ms=now,
            source_kind=source_kind, worker_id="edge", sealed=True,
            pseudonym_key=self.settings.pseudonym_key)
        value = self.codec.encode("dead_letter", record)
        message: _Message = (DEADLETTER_TOPIC, value, None, [("kind", b"dead_letter")])
        return self._send([message])

    def _send(self, messages: Sequence[_Message]) -> Future[list[Delivery]]:
        done: Future[list[Delivery]] = Future()
        # Running: a waiter that gives up (an asyncio wrapper cancelled with its request) cannot
        # cancel it, so set_result in the poller thread never meets a cancelled future.
        done.set_running_or_notify_cancel()
        results: list[Delivery | None] = [None] * len(messages)
        remaining = [len(messages)]
        lock = threading.Lock()
        if not messages:
            done.set_result([])
            return done

        def settle(i: int, delivery: Delivery) -> None:
            with lock:
                results[i] = delivery
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                done.set_result([r for r in results if r is not None])

        for i, (topic, value, key, headers) in enumerate(messages):
            def on_delivery(err: KafkaError | None, msg: Message, i: int = i,
                            topic: str = topic) -> None:
                settle(i, Delivery(topic, None if err is None else err.str()))
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers,
                                      on_delivery=on_delivery)
            except BufferError:
                settle(i, Delivery(topic, "the edge's send queue is full; try again shortly"))
            except Exception as exc:  # KafkaException: message too large, unknown topic
                settle(i, Delivery(topic, str(exc)))
        return done

    # -- counting ----------------------------------------------------------------------------

    def received(self, channel: str, vendor: str, n: int = 1) -> None:
        """Count events as they come in (hub_edge_received_total), before anything is decided."""
        if n > 0:
            self.metrics.received.labels(channel, vendor).inc(n)

    def outcome(self, channel: str, vendor: str, outcome: str, n: int = 1) -> None:
        """Count what became of received events (hub_edge_events_total; OUTCOMES): the two
        counters reconcile, which a test checks."""
        if n > 0:
            self.metrics.events.labels(channel, vendor, outcome).inc(n)
