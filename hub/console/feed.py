"""The console's Kafka edge: reads its topics into the board and the analytics view, sends actions.

The console keeps no state of its own: at start it reads hub.cases, hub.incidents, the building
registry and hub.analytics.* from the beginning (a throw-away consumer group, nothing
committed), so a restarted console shows exactly what the casework and the analytics published.
Actions go out as IncidentAction records and are answered only after Kafka acknowledged them
(acks=all, idempotent producer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from hub.adapters.kafka import OFFSET_BEGINNING, KafkaException, TopicPartition
from hub.adapters.kafka.io import flush, make_consumer, make_producer, produce
from hub.codec import Codec
from hub.console.analytics import AnalyticsView
from hub.console.board import Board
from hub.model.cases import IncidentAction
from hub.model.events import REGISTRY_KIND, Building
from hub.settings import (
    ACTIONS_TOPIC,
    ANALYTICS_TOPICS,
    CASES_TOPIC,
    INCIDENTS_TOPIC,
    REGISTRY_TOPIC,
    Settings,
)

log = logging.getLogger(__name__)


class ActionNotStored(Exception):
    """Kafka did not acknowledge the action in time.

    ``maybe``: it may be stored all the same. librdkafka gives a message up after
    ACTION_DELIVERY_MS, but a request already written to a broker that then stalled (an
    outside probe stopped it with SIGSTOP) is still taken when the broker goes on: a 503 that
    said "nothing changed" was followed by the action applied. False only when the action never
    left the console (no producer yet).
    """

    def __init__(self, reason: str, *, maybe: bool = True) -> None:
        super().__init__(reason)
        self.maybe = maybe


#: How often the feed asks Kafka whether it answers (the board says so while it does not).
CHECK_S = 5.0
#: How long an operator's action may wait for Kafka before the page says it was not stored.
ACTION_WAIT_S = 10.0
#: librdkafka gives an action up after this long (message.timeout.ms), before the page's wait
#: is over: a 503 then means the producer holds it no more, never that it is still queued and
#: sent later (an outside probe: a FALSE_ALARM answered 503 was applied once Kafka came back
#: 20 s later). One already sent to a broker that stalled may still be stored (ActionNotStored).
ACTION_DELIVERY_MS = 7000


def action_producer(settings: Settings, **extra: Any) -> Any:
    """The producer of operators' actions: it gives an action up after ACTION_DELIVERY_MS."""
    return make_producer(settings, **{"client.id": "hub-console",
                                      "message.timeout.ms": ACTION_DELIVERY_MS}, **extra)


class Feed:
    """A thread that keeps ``board`` up to date; ``on_change`` is called after each batch."""

    def __init__(self, settings: Settings, codec: Codec, board: Board,
                 on_change: Callable[[], None], logger: Any = None,
                 analytics: AnalyticsView | None = None) -> None:
        self.settings, self.codec, self.board = settings, codec, board
        self.analytics = analytics or AnalyticsView()
        self.on_change = on_change
        self.stop = threading.Event()
        self.caught_up = threading.Event()
        self._extra = {"logger": logger} if logger is not None else {}
        # made by ``start``: a console that cannot listen never reaches for Kafka (whose
        # client would log its refused connection after the one-line error)
        self._consumer: Any = None
        self._producer: Any = None
        self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)
        #: when Kafka stopped answering the feed (wall clock), None while it answers
        self.away_since: float | None = None
        self._checked = 0.0
        #: (topic, partition) -> where it ended when assigned, until read that far
        self._ends: dict[tuple[str, int], int] = {}

    def start(self) -> None:
        """Start reading in the background; ``caught_up`` is set once the topics are read."""
        extra = self._extra
        self._consumer = make_consumer(self.settings, from_beginning=True,
                                       **{"client.id": "hub-console"}, **extra)
        self._producer = action_producer(self.settings, **extra)
        self._thread.start()

    def close(self) -> None:
        """Stop reading and deliver the actions still queued; waits at most 5 s for each."""
        self.stop.set()
        if self._thread.is_alive():  # never started when the console could not listen
            self._thread.join(5)
        if self._producer is not None:
            flush(self._producer, 5)

    def status(self) -> dict[str, Any]:
        """What the board says about its own freshness: whether the topics have been read to
        their end since start, and since when Kafka does not answer (None: it does)."""
        away = self.away_since
        return {"caught_up": self.caught_up.is_set(),
                "kafka": None if away is None else
                f"Kafka does not answer since {time.strftime('%H:%M:%S', time.localtime(away))}: "
                "the board may be out of date, and actions cannot be stored"}

    def _check_kafka(self) -> None:
        """Every CHECK_S, one metadata request: a consumer says nothing when the broker goes."""
        now = time.monotonic()
        if now - self._checked < CHECK_S:
            return
        self._checked = now
        try:
            self._consumer.list_topics(timeout=2)
        except KafkaException:
            if self.away_since is None:
                self.away_since = time.time()
                self.on_change()
            return
        if self.away_since is not None:
            self.away_since = None
            self.on_change()

    def send_action(self, action: IncidentAction, timeout: float = ACTION_WAIT_S) -> None:
        """Put the action on hub.incident.actions; returns once Kafka has stored it, raises
        ActionNotStored once the producer has given it up (ACTION_DELIVERY_MS)."""
        errors: list[str] = []
        answered = threading.Event()

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            answered.set()

        if self._producer is None:
            raise ActionNotStored("the console's Kafka feed has not started", maybe=False)
        value = self.codec.encode("incident_action", action.to_record())
        produce(self._producer, ACTIONS_TOPIC, value, key=action.incident_id,
                on_delivery=delivered)
        deadline = time.monotonic() + timeout
        while not answered.is_set() and time.monotonic() < deadline:
            flush(self._producer, min(0.5, max(0.0, deadline - time.monotonic())))
        if errors or not answered.is_set():
            raise ActionNotStored(errors[0] if errors else f"no answer from Kafka in {timeout}s")

    def _assign(self) -> bool:
        try:
            meta = self._consumer.list_topics(timeout=5)
        except KafkaException as exc:
            log.warning("console: waiting for Kafka at %s: %s", self.settings.bootstrap, exc)
            if self.away_since is None:
                self.away_since = time.time()
            return False
        parts = []
        for topic in (CASES_TOPIC, INCIDENTS_TOPIC, REGISTRY_TOPIC, *ANALYTICS_TOPICS.values()):
            if topic not in meta.topics:
                log.warning("console: topic %s missing; run `hub topics apply`", topic)
                return False
            parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.topics[topic]
                      .partitions]
        ends: dict[tuple[str, int], int] = {}
        try:
            for tp in parts:
                low, high = self._consumer.get_watermark_offsets(tp, timeout=5)
                if high > low:
                    ends[(tp.topic, tp.partition)] = high
        except KafkaException as exc:
            log.warning("console: waiting for Kafka at %s: %s", self.settings.bootstrap, exc)
            return False
        self._ends = ends
        self._consumer.assign(parts)
        self.away_since = None
        return True

    def _read_to_ends(self) -> bool:
        """Whether every partition has been read to where it ended at start. An empty answer
        is not enough: the first ``consume`` returned nothing before any fetch had, and the
        board said it was complete with 0 of 91 cases (an outside probe: operators acting
        then got 404 for real incidents). The position counts transaction markers too."""
        if self._ends:
            tps = [TopicPartition(t, p) for t, p in self._ends]
            for tp in self._consumer.position(tps):
                if tp.offset >= self._ends[(tp.topic, tp.partition)]:
                    del self._ends[(tp.topic, tp.partition)]
        return not self._ends

    def _run(self) -> None:
        while not self.stop.is_set() and not self._assign():
            self.stop.wait(2)
        while not self.stop.is_set():
            messages = self._consumer.consume(1000, timeout=0.2)
            changed = False
            for msg in messages:
                value = msg.value()
                if msg.error() is not None or not value:
                    continue
                try:
                    kind, record = self.codec.decode(value)
                    if kind == "case_change":
                        self.board.apply_case(record)
                    elif kind == "incident":
                        self.board.apply_incident(record)
                    elif kind == REGISTRY_KIND:
                        self.analytics.put_building(Building.from_record(record))
                    else:
                        self.analytics.put(kind, record)
                    changed = True
                except Exception:  # a bad record must not stop the board
                    log.exception("console: cannot read %s[%d]@%d", msg.topic(),
                                  msg.partition(), msg.offset())
            if changed:
                self.on_change()
            if not self.caught_up.is_set() and self._read_to_ends():
                self.caught_up.set()
                self.on_change()
            self._check_kafka()
        self._consumer.close()


def now_ms() -> int:
    """Wall-clock epoch ms: the board's "now", one place for the web handlers to read it."""
    return int(time.time() * 1000)
