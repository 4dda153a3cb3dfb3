"""``hub mqtt-bridge``: MQTT messages from devices and platforms -> the hub's Kafka topics.

The bridge holds one persistent session (fixed client id, ``clean_session`` False) at the broker
and subscribes to the filters of ``topology/mqtt.yaml``. A QoS 1 message is acknowledged (PUBACK,
paho's ``manual_ack``) only once Kafka acknowledged every record made of it, and every piece of
it that went to the dead-letter topic; until then the broker holds it, and sends it again to
the next connection of the same session: a bridge that crashes, is stopped, or loses Kafka loses
nothing. A redelivered message is produced again with the same event ids; the worker's
deduplication drops the repeat.

Threads: paho's network thread maps a message (``hub.edge.mqtt_routes``, pure) and hands the
records to :class:`hub.edge.sink.EdgeSink`, never waiting for Kafka; the sink's delivery callback
acknowledges, in the order the messages came (:class:`~hub.edge.mqtt_acks.AckOrder`). What
Kafka does not take is retried from a timer with a growing delay while the bridge runs.
paho's ``ack()`` only queues a packet for its network thread (a deque append and a wake-up
byte), which is safe from another thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from connectors.dahua.mapping import OpenEvents
from hub.edge.mqtt_acks import AckOrder
from hub.edge.mqtt_routes import Plan, plan_message
from hub.edge.mqtt_subscriptions import Subscription, route
from hub.edge.sink import Delivery
from hub.model.errors import ConfigError, RecordError
from hub.observability.edge_metrics import EdgeMetrics, create_edge
from hub.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "mqtt"
#: First and largest delay before storing again what Kafka did not acknowledge.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
KEEPALIVE_S = 30


class Sink(Protocol):
    """What the bridge needs of :class:`hub.edge.sink.EdgeSink` (unit tests pass a fake)."""

    settings: Settings

    def validate(self, obj: Mapping[str, Any], *, accept: Collection[str] | None = None
                 ) -> tuple[str, dict[str, Any]]:
        """An interchange object -> (kind, record), personal fields pseudonymized; raises
        RecordError naming the field and the fix."""

    def produce(self, records: Sequence[tuple[str, Mapping[str, Any]]]
                ) -> Future[list[Delivery]]:
        """Queue records on their kinds' topics; the future completes when the broker has answered
        for every one (only then is the MQTT message acknowledged)."""

    def dead_letter(self, payload: bytes, error: RecordError, *, channel: str, source: str,
                    source_kind: str | None = None) -> Future[list[Delivery]]:
        """Keep a payload nothing could be made of on the dead-letter topic, sealed, with
        ``error``'s reason; the future completes when the broker has answered."""

    def received(self, channel: str, vendor: str, n: int = 1) -> None:
        """Count ``n`` events as they come in, before anything is decided."""

    def outcome(self, channel: str, vendor: str, outcome: str, n: int = 1) -> None:
        """Count what became of ``n`` received events; the two counters must reconcile."""


class Client(Protocol):
    """The part of ``paho.mqtt.client.Client`` the bridge uses (unit tests pass a fake)."""

    on_connect: Any
    on_disconnect: Any
    on_message: Any
    on_subscribe: Any

    def ack(self, mid: int, qos: int) -> Any:
        """Acknowledge message ``mid`` to the broker (manual acks: only once Kafka has it)."""

    def subscribe(self, topic: Any, qos: int = 0) -> Any:
        """Subscribe to ``topic`` (a filter, or a list of (filter, qos))."""

    def connect_async(self, host: str, port: int = 1883, keepalive: int = 60) -> Any:
        """Start connecting in the background; the loop retries when the broker is down."""

    def loop_start(self) -> Any:
        """Run the network loop in its own thread."""

    def loop_stop(self) -> Any:
        """Stop the network loop thread."""

    def disconnect(self) -> Any:
        """Disconnect cleanly from the broker."""


class Message(Protocol):
    """paho's ``MQTTMessage`` as the bridge reads it."""

    @property
    def topic(self) -> str:
        """The topic the message was published on."""

    payload: bytes
    mid: int
    qos: int


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is: ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://`` (TLS with
    the system's CA certificates; port 8883 unless given)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse HUB_MQTT_URL; raises ConfigError with a corrected example for a bad scheme, port or
        host."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"HUB_MQTT_URL={url!r}: the scheme must be mqtt:// or mqtts://, "
                              "e.g. mqtt://127.0.0.1:1883")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ConfigError(f"HUB_MQTT_URL={url!r}: the port is not a number 1-65535") \
                from None
        if not parts.hostname:
            raise ConfigError(f"HUB_MQTT_URL={url!r}: no host; e.g. mqtt://127.0.0.1:1883")
        return cls(parts.hostname, port, tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def make_client(client_id: str, broker: BrokerAddress) -> Client:
    """A paho v2 client with a persistent session and manual acknowledgements.

    MQTT 3.1.1 with ``clean_session`` False: the broker keeps the subscriptions and every QoS 1
    message not acknowledged, for as long as the session lives (Mosquitto: until
    ``persistent_client_expiration``)."""
    from paho.mqtt.client import Client as PahoClient
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = PahoClient(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                        protocol=MQTTProtocolVersion.MQTTv311, manual_ack=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()
    return client


@dataclass
class _Job:
    """One message on its way to Kafka: what is still to be stored of it."""

    ticket: int
    generation: int
    topic: str
    vendor: str
    records: list[tuple[str, dict[str, Any]]]
    dead: list[tuple[bytes, RecordError, str | None]]
    stored: int = 0
    lost: int = 0
    attempts: int = 0
    timer: threading.Timer | None = None


@dataclass(frozen=True)
class StopReport:
    """What ``stop`` left: messages not acknowledged (the broker sends them again)."""

    unacknowledged: int
    unstored_records: int


class MqttBridge:
    """Subscribes, maps, produces, acknowledges once Kafka has it. ``start``/``stop``."""

    def __init__(self, settings: Settings, subscriptions: Sequence[Subscription], sink: Sink, *,
                 client: Client, metrics: EdgeMetrics | None = None,
                 clock: Callable[[], float] = time.time,
                 retry_first_s: float = RETRY_FIRST_S, retry_max_s: float = RETRY_MAX_S) -> None:
        self.settings = settings
        self.subscriptions = list(subscriptions)
        self.sink = sink
        self.client = client
        self.metrics = metrics or create_edge(mqtt=True)
        self._clock = clock
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._order = AckOrder()
        self._generation = 0
        self._jobs: dict[int, _Job] = {}
        self._closed = False
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        #: (site_id, device_id) -> the Dahua events whose Start was emitted, Stop not yet seen.
        self._dahua_open: dict[tuple[str, str], OpenEvents] = {}
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, broker: BrokerAddress) -> None:
        """Connect in the background (paho retries until the broker answers) and subscribe."""
        self.client.connect_async(broker.host, broker.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker granted every subscription (tests, readiness)."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 10.0) -> StopReport:
        """Take no new message, wait up to ``timeout`` s for Kafka to store what is in flight
        and acknowledge it, then disconnect. What is still not stored stays unacknowledged: the
        broker keeps it for the session's next connection."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._waiting_jobs() and time.monotonic() < deadline:
                self._changed.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self._closed = True
            left = list(self._jobs.values())
            self._jobs.clear()
            waiting = len(self._order)
            self.metrics.mqtt_pending.set(0)
        unstored = 0
        for job in left:
            if job.timer is not None:
                job.timer.cancel()
            self.sink.outcome(CHANNEL, job.vendor, "produced", job.stored)
            self.sink.outcome(CHANNEL, job.vendor, "failed", len(job.records) + job.lost)
            unstored += len(job.records)
        if left:
            log.warning("mqtt-bridge: %d message(s) not stored in Kafka are left "
                        "unacknowledged; the broker sends them again on the next start",
                        len(left))
        self.client.disconnect()
        self.client.loop_stop()
        return StopReport(waiting, unstored)

    def _waiting_jobs(self) -> bool:
        return any(job.generation == self._generation for job in self._jobs.values())

    # -- paho callbacks (its network thread) --------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("mqtt-bridge: the broker refused the connection: %s (check "
                        "HUB_MQTT_URL's user and password, and the client id)", reason_code)
            return
        present = bool(getattr(flags, "session_present", False))
        self.metrics.mqtt_connected.set(1)
        self.metrics.mqtt_connects.labels("true" if present else "false").inc()
        log.info("mqtt-bridge: connected (session %s); subscribing to %s",
                 "resumed" if present else "new",
                 ", ".join(s.topic_filter for s in self.subscriptions))
        client.subscribe([(s.topic_filter, s.qos) for s in self.subscriptions])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any,
                      properties: Any) -> None:
        refused = [(s.topic_filter, rc) for s, rc in zip(self.subscriptions, reason_codes,
                                                         strict=False)
                   if getattr(rc, "is_failure", False)]
        for topic_filter, rc in refused:
            log.error("mqtt-bridge: the broker refused the subscription %s (%s); check the "
                      "broker's ACL for this client", topic_filter, rc)
        if not refused:
            log.info("mqtt-bridge: subscribed to %d topic filter(s)", len(self.subscriptions))
            self._subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self.metrics.mqtt_connected.set(0)
        with self._changed:
            # Packet ids of the old connection mean nothing on the next one: what is in
            # flight is stored all the same, and acknowledged when the broker sends it again.
            self._generation += 1
            dropped = self._order.reset()
            self._changed.notify_all()
        self._subscribed.clear()
        if not self._stopping.is_set():
            log.warning("mqtt-bridge: disconnected (%s); %d message(s) in flight will come "
                        "again; reconnecting", reason_code, dropped)

    def _on_message(self, client: Any, userdata: Any, message: Message) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker sends it to the session's next connection
        try:
            self._take(message)
        except Exception:  # an exception would end paho's network thread: the bridge would hang
            log.exception("mqtt-bridge: a message on %s was not handled; it stays "
                          "unacknowledged", getattr(message, "topic", "?"))

    def _take(self, message: Message) -> None:
        topic = message.topic
        payload = bytes(message.payload)
        routed = route(self.subscriptions, topic)
        sub, captured = routed if routed is not None else (None, {})
        key = (captured.get("site_id") or (sub.fixed.get("site_id", "") if sub else ""),
               captured.get("device_id") or (sub.fixed.get("device_id", "") if sub else ""))
        state = self._dahua_open.get(key, frozenset())
        if getattr(message, "retain", False):
            # A retained message is the broker's copy of a topic's last message, sent to every
            # new subscription: on each reconnect, once per matching filter. It happened before
            # (and was taken then, if the bridge was subscribed): state, not a new event.
            plan = Plan(sub.format if sub else "unrouted", received=1, skipped=1)
            self._retained(topic)
        else:
            plan, state = self._plan(sub, captured, payload, topic, key)
        if sub is not None and sub.format == "dahua":
            if state:
                self._dahua_open[key] = state
            else:
                self._dahua_open.pop(key, None)
        self._queue(message, topic, plan)

    @staticmethod
    def _retained(topic: str) -> None:
        log.info("mqtt-bridge: a retained message on %s skipped (the broker's copy of an earlier "
                 "message, not a new event; publish events with retain off)", topic)

    def _plan(self, sub: Subscription | None, captured: Mapping[str, str], payload: bytes,
              topic: str, key: tuple[str, str]) -> tuple[Plan, OpenEvents]:
        try:
            return plan_message(
                sub, captured, payload, validate=self.sink.validate,
                pseudonym_key=self.settings.pseudonym_key, received_ms=int(self._clock() * 1000),
                dahua_open=self._dahua_open.get(key, frozenset()), topic=topic)
        except Exception as exc:  # a bug of ours: keep the message rather than lose it
            log.exception("mqtt-bridge: mapping a message on %s failed", topic)
            plan = Plan(sub.format if sub else "unrouted", received=1)
            plan.reject(payload, RecordError(f"{type(exc).__name__}: {exc}", field="payload",
                                             reason="PROCESSING_ERROR"))
            return plan, self._dahua_open.get(key, frozenset())

    def _queue(self, message: Message, topic: str, plan: Plan) -> None:
        self.sink.received(CHANNEL, plan.vendor, plan.received)
        self.sink.outcome(CHANNEL, plan.vendor, "rejected", len(plan.dead))
        self.sink.outcome(CHANNEL, plan.vendor, "skipped", plan.skipped)
        with self._lock:
            ticket = self._order.received(message.mid, message.qos)
            job = _Job(ticket, self._generation, topic, plan.vendor, list(plan.records),
                       list(plan.dead))
            self._jobs[ticket] = job
            self.metrics.mqtt_pending.set(len(self._jobs))
        self._attempt(job)

    # -- storing ------------------------------------------------------------------------------

    def _attempt(self, job: _Job) -> None:
        """Hand what is left of ``job`` to the sink; the last answer continues in ``_answered``."""
        with self._lock:
            if self._closed:
                return
            records, dead = list(job.records), list(job.dead)
            job.timer = None
        futures: list[Future[list[Delivery]]] = []
        if records:
            futures.append(_call(lambda: self.sink.produce(records), len(records)))
        for raw, error, kind in dead:
            futures.append(_call(functools.partial(
                self.sink.dead_letter, raw, error, channel=CHANNEL, source=job.topic,
                source_kind=kind), 1))
        if not futures:
            self._answered(job, records, dead, [], [])
            return
        remaining = [len(futures)]
        count_lock = threading.Lock()

        def done(_: Future[list[Delivery]]) -> None:
            with count_lock:
                remaining[0] -= 1
                if remaining[0]:
                    return
            record_answers = _deliveries(futures[0], len(records)) if records else []
            dead_answers = [_deliveries(f, 1)[0] for f in futures[1 if records else 0:]]
            self._answered(job, records, dead, record_answers, dead_answers)

        for future in futures:
            future.add_done_callback(done)

    def _answered(self, job: _Job, records: list[tuple[str, dict[str, Any]]],
                  dead: list[tuple[bytes, RecordError, str | None]],
                  record_answers: list[Delivery], dead_answers: list[Delivery]) -> None:
        """Kafka answered for one attempt: settle the job, or try again later."""
        errors: list[str] = []
        left_records: list[tuple[str, dict[str, Any]]] = []
        left_dead: list[tuple[bytes, RecordError, str | None]] = []
        stored = lost = 0
        for record, answer in zip(records, record_answers, strict=True):
            if answer.error is None:
                stored += 1
            elif _permanent(answer.error):
                lost += 1
                log.error("mqtt-bridge: Kafka refused a %s record from %s for good: %s",
                          record[0], job.topic, answer.error,
                          extra={"event_id": record[1].get("event_id")})
            else:
                left_records.append(record)
                errors.append(answer.error)
        for piece, answer in zip(dead, dead_answers, strict=True):
            if answer.error is None:
                continue
            if _permanent(answer.error):
                log.error("mqtt-bridge: a dead letter from %s could not be kept: %s", job.topic,
                          answer.error)
            else:
                left_dead.append(piece)
                errors.append(answer.error)
        with self._changed:
            if self._closed:
                return
            job.stored += stored
            job.lost += lost
            job.records, job.dead = left_records, left_dead
            if left_records or left_dead:
                job.attempts += 1
                delay = min(self._retry_max_s, self._retry_first_s * 2 ** (job.attempts - 1))
                self.metrics.mqtt_retries.inc()
                log.warning("mqtt-bridge: Kafka did not store %d piece(s) of a message on %s "
                            "(%s); trying again in %.1f s, not acknowledged meanwhile",
                            len(left_records) + len(left_dead), job.topic, errors[0], delay)
                job.timer = threading.Timer(delay, self._attempt, args=(job,))
                job.timer.daemon = True
                job.timer.start()
                return
            del self._jobs[job.ticket]
            self.metrics.mqtt_pending.set(len(self._jobs))
            acks = self._order.settle(job.ticket) if job.generation == self._generation else []
            for mid, qos in acks:
                self.client.ack(mid, qos)
            self.metrics.mqtt_acked.inc(len(acks))
            self._changed.notify_all()
        self.sink.outcome(CHANNEL, job.vendor, "produced", job.stored)
        self.sink.outcome(CHANNEL, job.vendor, "failed", job.lost)


#: Marks an error no later attempt can fix (see :func:`_permanent`).
_NOT_RETRIED = "not retried: "


def _call(send: Callable[[], Future[list[Delivery]]], n: int) -> Future[list[Delivery]]:
    """``send()``, or, when it raises (a record the codec cannot encode: a bug of ours), a
    completed future of ``n`` answers saying so, never retried."""
    try:
        return send()
    except Exception as exc:
        log.exception("mqtt-bridge: the sink refused a message")
        failed: Future[list[Delivery]] = Future()
        failed.set_result([Delivery("", f"{_NOT_RETRIED}{type(exc).__name__}: {exc}")] * n)
        return failed


def _deliveries(future: Future[list[Delivery]], n: int) -> list[Delivery]:
    """The answers of a completed sink future; an exception counts as n failed answers."""
    exc = future.exception()
    if exc is not None:
        return [Delivery("", f"{type(exc).__name__}: {exc}")] * n
    answers = future.result()
    if len(answers) != n:  # pragma: no cover - the sink answers once per message
        return [Delivery("", "the sink answered for a different number of messages")] * n
    return answers


def _permanent(error: str) -> bool:
    """Errors another attempt cannot fix: retrying them would hold every later message's
    acknowledgement forever. Such a record is counted failed, logged, and acknowledged."""
    return error.startswith(_NOT_RETRIED) or "too large" in error.lower()
