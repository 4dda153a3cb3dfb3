"""The worker's loop: consume a batch, ingest and correlate it, commit it in one Kafka transaction.

One consumer in the app's group reads the five source topics and the internal correlation topic;
one transactional producer writes everything a batch causes: forwards to the correlation topic,
incidents, dead letters, state changelog entries, ticks, and (``send_offsets_to_transaction``)
the batch's consumed offsets. Either all of it becomes visible (read_committed) or none of it: a
worker killed at any moment leaves nothing half-done, and its successor resumes from the
committed offsets with the committed state (docs/adr/0005-transactional-batches.md).

Why not Faust's stream path: measured at ~2,900 events/s for an agent doing one table write
(docs/faust.md), it drops fetched messages at recovery and rebalances (faust-streaming/faust#596)
and needed a guard and a watchdog to be safe; here batches are plain lists and nothing is queued
outside librdkafka.

Rebalance callbacks run inside ``consume``, between transactions (a batch is committed before the
next ``consume``), so a revoked partition never has work in flight. A batch whose commit fails is
aborted: the consumer seeks back to the batch's first offsets and the correlation state is read
again from the changelog, so the retry starts from exactly the committed state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hub.adapters.kafka import (
    OFFSET_BEGINNING,
    Clients,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
    make_worker_consumer,
    make_worker_producer,
)
from hub.codec import Codec
from hub.codec.internal import TICK_HEADER, TICK_ORIGINS_HEADER, TICK_PROGRESS_HEADER
from hub.observability.metrics import HubMetrics
from hub.runtime.correlator import Correlator
from hub.runtime.ingest import KIND_OF_TOPIC, Ingestor
from hub.runtime.outbox import Outbox
from hub.runtime.registry_reader import RegistryReader
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS

log = logging.getLogger(__name__)

#: Most messages one batch takes from the consumer.
BATCH_MAX = 5000
#: How long ``consume`` waits for a batch to fill: the latency floor under light traffic.
BATCH_WAIT_S = 0.05
#: Timeout of one transactional call; a failing call is retried (broker away) until told to stop.
TXN_CALL_S = 10.0
#: Back-off between retries while Kafka is away, and how often the worker says so.
BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
SAY_EVERY_S = 30.0
#: A transactional call that has not returned after this long never will: librdkafka's
#: send_offsets_to_transaction can ignore its timeout and wait forever for a group coordinator
#: (confluentinc/librdkafka#5456, #5511; seen here after a broker restart). Only a new process
#: (same transactional id: the open transaction is fenced and aborted) can go on.
HUNG_CALL_S = 45.0
#: How often the correlation state is written and the correlation topic's offsets committed.
#: A key's state is written whole, and a busy key (a site's 10-minute window) is touched by every
#: batch: writing it per batch made the changelog grow by megabytes a second in the soak. After a
#: crash at most this much of the correlation topic is applied again (CONFIRMED versions come out
#: again, identical: same id, version and content).
CHECKPOINT_S = 5.0
#: A batch slower than this is logged with where its time went.
SLOW_BATCH_S = 1.0
#: Back-pressure on a source read faster than the watermark releases it (a flood replayed at full
#: speed while the lane waits out its idle origins' quiet time): with this many events buffered
#: in the engines, waiting for their release, the worker pauses its source partitions, so that
#: its memory follows the watermark, not the backlog. Measured with benchmarks/flood_bench.py
#: (BENCHMARKS.md §6): 200,000 swipes read at ~9,000 events/s had ~130,000 events pending per
#: rule before the first release, ~1.1 KB each in Python objects, and checkpoints of 34 MB.
HOLD_PENDING = 40_000
#: Resume below this many, or once half of what was pending at the pause has been released.
RESUME_PENDING = 20_000
#: Resume after this long in any case (more than the default idle time of a source, 10 s, plus
#: tick gaps): the release may be waiting for events of a paused partition (one origin drained
#: ahead of another), and nothing may wait forever. Not paused again before the backlog has
#: dropped below RESUME_PENDING.
MAX_HOLD_S = 15.0
#: How often the engines' pending events are counted (O(states)).
HOLD_CHECK_S = 0.2
#: Beyond the sources' idle time, how long a caught-up partition counts as still becoming
#: quiet (its vouching rides on the next ticks, one per HUB_TICK_SECONDS).
QUIET_SLACK_S = 2.0


class Abandon(Exception):
    """Told to stop while waiting on Kafka: leave the batch uncommitted and return."""


class FatalKafkaError(Exception):
    """The producer was fenced or hit a fatal error: only a new process can go on."""


@dataclass
class Throttled:
    """Says a repeated thing once per interval, with how often it happened meanwhile."""

    every: float = SAY_EVERY_S
    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def __call__(self, key: str, level: int, msg: str, *args: object) -> None:
        """Log ``msg`` under ``key`` unless said within ``every`` seconds; then only count it."""
        now = time.monotonic()
        said, times = self._last.get(key, (-1e18, 0))
        if now - said >= self.every:
            suffix = f" (and {times} more times since)" if times else ""
            log.log(level, msg + suffix, *args)
            self._last[key] = (now, 0)
        else:
            self._last[key] = (said, times + 1)

    def clear(self, key: str) -> None:
        """The condition is over: the next occurrence is said at once."""
        self._last.pop(key, None)




class Pipeline:
    """The worker's batch loop (see the module doc): ``start``, then ``run`` until ``stop`` is
    set, then ``close``."""

    def __init__(
        self,
        *,
        clients: Clients,
        ingestor: Ingestor,
        correlator: Correlator,
        registry: RegistryReader,
        codec: Codec,
        metrics: HubMetrics,
        worker_id: str,
        tick_seconds: float,
        correlate_partitions: int,
    ) -> None:
        self.clients, self.ingestor, self.correlator = clients, ingestor, correlator
        self.registry, self.codec, self.metrics = registry, codec, metrics
        self.worker_id, self.tick_seconds = worker_id, tick_seconds
        self.correlate_partitions = correlate_partitions
        self.say = Throttled()
        self.stop = threading.Event()
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self._next_tick = 0.0
        self._next_checkpoint = time.monotonic() + CHECKPOINT_S
        #: source (topic, partition) -> the offset its consumption started from (the group's
        #: commit): an idle partition's position before it has delivered anything
        self._starts: dict[tuple[str, int], int] = {}
        #: correlation partition -> the offset after the last message applied to its state (in
        #: a committed batch): what a checkpoint commits. Not the consumer's position(), which
        #: can move past messages never handed to this loop (seen inside close()).
        self._applied: dict[int, int] = {}
        self.batches = 0
        #: Set when a client lost its connection to the brokers: the producer is then replaced
        #: before the next transaction (see _new_producer).
        self._connection_lost = False
        #: Producers replaced while a call of theirs may still hang: kept, never destroyed
        #: (destroying a librdkafka handle with a request in flight can block).
        self._retired: list[Producer] = []
        #: Source partitions paused by back-pressure (``_hold_sources``), when, and the pending
        #: count then; ``_hold_armed`` False: a pause timed out, none again until it drains.
        self._held: list[TopicPartition] = []
        self._held_at = 0.0
        self._held_pending = 0
        self._hold_armed = True
        self._next_hold_check = 0.0
        #: source (topic, partition) -> when it was last seen with nothing left to read (while
        #: it stays so): its quiet time runs from about then (see _holdable)
        self._caught_up_since: dict[tuple[str, int], float] = {}
        #: the longest idle time of any source: how long a caught-up partition takes to be
        #: vouched quiet (read from the rules at the first hold)
        self._quiet_s: float | None = None
        for config in (clients.consumer_config, clients.producer_config):
            config["error_cb"] = self._on_kafka_error

    # -- start and stop ---------------------------------------------------------------------

    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        """Call until it succeeds, backing off and saying so once per interval; Abandon on
        stop. For start-up steps that need the broker."""
        attempt = 0
        while True:
            if self.stop.is_set():
                raise Abandon(what)
            try:
                result = call()
                if attempt:
                    log.info("%s: done after %d attempts", what, attempt + 1)
                self.say.clear(what)
                return result
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.fatal():
                    raise FatalKafkaError(f"{what}: {err}") from exc
                self.say(what, logging.WARNING, "%s: Kafka not available yet (%s); retrying",
                         what, err)
            self.stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    def _on_kafka_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._connection_lost = True
        self.say(f"kafka:{err.code()}", logging.WARNING, "kafka: %s", err)

    def _new_producer(self) -> None:
        """A fresh transactional producer under the same transactional id.

        Its init_transactions fences the old one and aborts its open transaction, if any. Used
        after a lost connection and after a failed commit instead of abort_transaction: after a
        broker restart librdkafka can keep a stale group coordinator and wait forever inside
        send_offsets_to_transaction (confluentinc/librdkafka#5511); a new client starts clean.
        """
        if self.producer is not None:
            self._retired.append(self.producer)
            self.producer = None
        self._connection_lost = False
        producer = make_worker_producer(self.clients)
        self._retry("initialising transactions",
                    lambda: _bounded("init_transactions",
                                     lambda: producer.init_transactions(TXN_CALL_S)))
        self.producer = producer

    def start(self) -> None:
        """Registry loaded, producer's transactions ready, consumer subscribed."""
        self._retry("loading the building registry", self._registry_ready)
        self._new_producer()
        consumer = make_worker_consumer(self.clients)
        consumer.subscribe([*SOURCE_TOPICS.values(), CORRELATE_TOPIC], on_assign=self._assigned,
                           on_revoke=self._revoked, on_lost=self._lost)
        self.consumer = consumer
        log.info("worker %s: subscribed to %d topics", self.worker_id, len(SOURCE_TOPICS) + 1)

    def _registry_ready(self) -> None:
        if not self.registry.sync(timeout=TXN_CALL_S):
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "registry not read to its end"))

    def close(self) -> None:
        """Leave the group (so the others take the partitions at once) and drop the clients."""
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            done = threading.Thread(target=consumer.close, daemon=True)
            done.start()
            done.join(2.0)  # with the broker away, leaving cannot complete: do not wait for it
        self.registry.close()

    # -- rebalances (called inside consume, between transactions) ---------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        sources = [TopicPartition(tp.topic, tp.partition) for tp in partitions
                   if tp.topic in KIND_OF_TOPIC]
        log.info("assigned: %s", _names(partitions))
        # Read the state of every new correlation partition now, in one pass, rather than one
        # partition at a time as their first messages arrive.
        self.correlator.store.load(tp.partition for tp in partitions
                                   if tp.topic == CORRELATE_TOPIC)
        if not sources:
            return
        try:
            for tp in consumer.committed(sources, timeout=TXN_CALL_S):
                self._starts[(tp.topic, tp.partition)] = max(tp.offset, 0)
        except KafkaException as exc:  # vouching waits until the partition delivers something
            log.warning("cannot read the committed offsets of %s: %s", _names(sources), exc)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions handed to another member: checkpoint their state first, so the new owner
        starts where this worker stopped (a failure only means it applies more again)."""
        log.info("revoked: %s", _names(partitions))
        mine = [tp.partition for tp in partitions if tp.topic == CORRELATE_TOPIC]
        if mine:
            try:
                self._checkpoint_only(consumer, mine)
            except (Abandon, FatalKafkaError, KafkaException) as exc:
                log.warning("could not checkpoint revoked partitions %s: %s", mine, exc)
        self._forget(partitions)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions already given to another member (this one was out of the group)."""
        log.warning("lost: %s", _names(partitions))
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self.correlator.forget(tp.partition for tp in partitions if tp.topic == CORRELATE_TOPIC)
        self.ingestor.forget(f"{tp.topic}/{tp.partition}" for tp in partitions
                             if tp.topic in KIND_OF_TOPIC)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._held = [tp for tp in self._held if (tp.topic, tp.partition) not in gone]
        for tp in partitions:
            self._starts.pop((tp.topic, tp.partition), None)
            self._caught_up_since.pop((tp.topic, tp.partition), None)
            if tp.topic == CORRELATE_TOPIC:
                self._applied.pop(tp.partition, None)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Batches until told to stop. Raises FatalKafkaError when only a restart can help."""
        consumer = self.consumer
        assert consumer is not None, "start() first"
        while not self.stop.is_set():
            messages = consumer.consume(num_messages=BATCH_MAX, timeout=BATCH_WAIT_S)
            batch = []
            for msg in messages:
                err = msg.error()
                if err is None:
                    batch.append(msg)
                elif err.fatal():
                    raise FatalKafkaError(f"consumer: {err}")
                else:
                    self.say(f"consume:{err.code()}", logging.WARNING, "consumer: %s", err)
            tick = time.monotonic() >= self._next_tick
            if not batch and not tick:
                continue
            if tick:
                self._next_tick = time.monotonic() + self.tick_seconds
            try:
                self._batch(consumer, batch, tick)
            except Abandon:
                log.warning("stopping: the current batch was left uncommitted")
                return
            self._hold_sources(consumer)
        self.checkpoint_before_stop()
        log.info("stopping: the last batch was committed")

    def _hold_sources(self, consumer: Consumer) -> None:
        """Pause source partitions while the engines hold more than HOLD_PENDING events
        waiting for their release; resume once they are released (or after MAX_HOLD_S).

        Which ones (``_holdable``) depends on what the release waits for. While a caught-up
        partition's quiet time runs (a flood read faster than its lane's idle origins are
        vouched quiet), every partition with a backlog pauses: wall time releases them. Else
        the release waits for event time, which only reading moves: the backlogged partition
        furthest behind in event time goes on, the others pause until it has caught up (with
        one partition left behind nothing pauses). Pausing all of them then, as before, held
        a replayed backlog still for MAX_HOLD_S with nothing released (worker_bench, 200,000
        events: 57,605 pending after 15 s).

        Pausing changes no result: events are handled in event-time order whenever they are
        read, offsets are committed only for what was handled, and ticks go on (a paused
        partition with a backlog is not vouched quiet; idle ones still are).
        """
        now = time.monotonic()
        if now < self._next_hold_check:
            return
        self._next_hold_check = now + HOLD_CHECK_S
        pending = self.correlator.pending_events()
        if not self._held:
            if pending < RESUME_PENDING:
                self._hold_armed = True
            if pending <= HOLD_PENDING or not self._hold_armed:
                return
            held = self._holdable(consumer, now)
            if held:
                consumer.pause(held)
                self._held, self._held_at, self._held_pending = held, now, pending
                log.info("%d events wait for their release: %d source partition(s) paused",
                         pending, len(held))
            return
        timed_out = now - self._held_at >= MAX_HOLD_S
        if pending < RESUME_PENDING or pending <= self._held_pending // 2 or timed_out:
            if timed_out and pending >= RESUME_PENDING:
                self._hold_armed = False
                log.warning("%d events still wait for their release after %.0fs: source "
                            "partitions resumed", pending, MAX_HOLD_S)
            self._resume_held(consumer)
            return
        # Still held: follow what the release waits for now (a quiet time ran out; the
        # partition behind caught up with the others).
        want = self._holdable(consumer, now)
        key = {(tp.topic, tp.partition) for tp in want}
        go_on = [tp for tp in self._held if (tp.topic, tp.partition) not in key]
        paused = {(tp.topic, tp.partition) for tp in self._held}
        stop = [tp for tp in want if (tp.topic, tp.partition) not in paused]
        if go_on:
            consumer.resume(go_on)
        if stop:
            consumer.pause(stop)
        self._held = want
        if not want:
            log.info("source partitions resumed after %.1fs: nothing left to hold",
                     now - self._held_at)

    def _holdable(self, consumer: Consumer, now: float) -> list[TopicPartition]:
        """The source partitions that pausing helps release (see _hold_sources)."""
        if self._quiet_s is None:
            self._quiet_s = max(self.correlator.pack.policy(kind).idle
                                for kind in KIND_OF_TOPIC.values()) / 1000 + QUIET_SLACK_S
        owned = [tp for tp in consumer.assignment() if tp.topic in KIND_OF_TOPIC]
        backlogged: list[TopicPartition] = []
        becoming_quiet = False
        for tp in consumer.position(owned) if owned else []:
            where = (tp.topic, tp.partition)
            _, high = consumer.get_watermark_offsets(TopicPartition(*where), cached=True)
            position = tp.offset if tp.offset >= 0 else self._starts.get(where)
            if high >= 0 and position is not None and position >= high:
                since = self._caught_up_since.setdefault(where, now)
                becoming_quiet = becoming_quiet or now - since < self._quiet_s
            else:
                self._caught_up_since.pop(where, None)
                backlogged.append(TopicPartition(*where))
        if becoming_quiet or len(backlogged) < 2:
            return backlogged if becoming_quiet else []
        progress = self.ingestor.progress
        behind = min(backlogged, key=lambda tp: (
            progress.get(f"{tp.topic}/{tp.partition}", -1), tp.topic, tp.partition))
        return [tp for tp in backlogged if tp is not behind]

    def _resume_held(self, consumer: Consumer) -> None:
        held, self._held = self._held, []
        mine = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        held = [tp for tp in held if (tp.topic, tp.partition) in mine]
        if held:
            consumer.resume(held)
        log.info("source partitions resumed after %.1fs", time.monotonic() - self._held_at)

    def _correlate_positions(self, applied: dict[int, int],
                             partitions: Iterable[int] | None = None) -> list[TopicPartition]:
        """The correlation offsets that go with the state as applied (of ``partitions``, else
        all that this worker has applied something of)."""
        wanted = applied if partitions is None else [p for p in partitions if p in applied]
        return [TopicPartition(CORRELATE_TOPIC, p, applied[p]) for p in sorted(wanted)]

    def _checkpoint_only(self, consumer: Consumer, partitions: list[int]) -> None:
        """A transaction of its own: the partitions' changed states and their offsets."""
        producer = self.producer
        if producer is None:
            return
        producer.begin_transaction()
        outbox = Outbox(producer, self.codec, self.worker_id)
        try:
            self.correlator.persist(outbox, partitions)
        except Exception:
            self._abort()
            raise
        if not self._commit(consumer, self._correlate_positions(self._applied, partitions)):
            raise KafkaException(KafkaError(KafkaError._STATE, "checkpoint aborted"))

    def checkpoint_before_stop(self) -> None:
        """Best effort at a stop on request: the successor then applies nothing again."""
        consumer = self.consumer
        if consumer is None or self.producer is None:
            return
        try:
            self._checkpoint_only(consumer, [tp.partition for tp in consumer.assignment()
                                             if tp.topic == CORRELATE_TOPIC])
        except (Abandon, FatalKafkaError, KafkaException) as exc:
            log.warning("no checkpoint at stop (%s); the successor applies the last %.0fs "
                        "of the correlation topic again", exc, CHECKPOINT_S)

    def _batch(self, consumer: Consumer, batch: list[Any], tick: bool) -> None:
        started = time.perf_counter()
        if self._connection_lost:
            log.info("the connection to Kafka was lost; starting a new producer")
            self._new_producer()
        producer = self.producer
        assert producer is not None
        if not self.registry.sync():
            self.say("registry-sync", logging.WARNING, "the building registry could not be "
                     "read to its end; enriching with what is loaded")
        synced = time.perf_counter()
        # An aborted batch's events were never forwarded: its ticks must not claim them.
        progress_before = dict(self.ingestor.progress)
        producer.begin_transaction()
        outbox = Outbox(producer, self.codec, self.worker_id)
        try:
            sources = [m for m in batch if m.topic() != CORRELATE_TOPIC]
            forwards = [m for m in batch if m.topic() == CORRELATE_TOPIC]
            if sources:
                self.ingestor.handle_batch(sources, outbox, self.correlate_partitions)
            if forwards:
                self.correlator.handle_batch(forwards, outbox)
            if tick:
                self._send_ticks(consumer, outbox)
            checkpoint = time.monotonic() >= self._next_checkpoint
            if checkpoint:
                self.correlator.persist(outbox)
        except Exception:
            self.ingestor.progress = progress_before
            self._abort()
            raise
        # Source offsets with every batch (their forwards are in it); the correlation topic's
        # only with the state that goes with them, at a checkpoint.
        offsets = _next_offsets(m for m in batch if m.topic() != CORRELATE_TOPIC)
        applied = {**self._applied, **{tp.partition: tp.offset for tp in _next_offsets(forwards)}}
        if checkpoint:
            offsets += self._correlate_positions(applied)
            self._next_checkpoint = time.monotonic() + CHECKPOINT_S
        handled = time.perf_counter()
        if self._commit(consumer, offsets):
            self._applied = applied
            self.batches += 1
            done = time.perf_counter()
            self.metrics.batch_seconds.labels("batch").observe(done - started)
            if done - started > SLOW_BATCH_S:
                log.warning("slow batch: %d messages in %.2fs (registry %.2fs, handling %.2fs, "
                            "commit %.2fs)", len(batch), done - started, synced - started,
                            handled - synced, done - handled)
            return
        # Aborted: nothing of the batch is visible. Read it again from the committed state: the
        # batch's source messages, and the correlation topic from the last checkpoint.
        self.ingestor.progress = progress_before
        for tp in _first_offsets(m for m in batch if m.topic() != CORRELATE_TOPIC):
            consumer.seek(tp)
        self._rewind_correlation(consumer)
        self.stop.wait(BACKOFF_S[0])

    def _rewind_correlation(self, consumer: Consumer) -> None:
        owned = [TopicPartition(tp.topic, tp.partition) for tp in consumer.assignment()
                 if tp.topic == CORRELATE_TOPIC]
        if owned:
            committed = self._retry("reading the last checkpoint's offsets",
                                    lambda: consumer.committed(owned, timeout=TXN_CALL_S))
            for tp in committed:
                consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)
                                             if tp.offset >= 0 else OFFSET_BEGINNING))
        self.correlator.forget()
        self._applied.clear()

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> bool:
        """Commit the open transaction with ``offsets``; False if it had to be aborted."""
        producer = self.producer
        assert producer is not None
        sent = not offsets
        attempt = 0
        while True:
            try:
                if not sent:
                    group = consumer.consumer_group_metadata()
                    _bounded("send_offsets_to_transaction",
                             partial(producer.send_offsets_to_transaction, offsets, group,
                                     TXN_CALL_S))
                    sent = True
                _bounded("commit_transaction", lambda: producer.commit_transaction(TXN_CALL_S))
                self.say.clear("commit")
                return True
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise FatalKafkaError(f"commit: {err}") from exc
                if err.txn_requires_abort() or not err.retriable():
                    self.say("abort", logging.WARNING, "batch aborted, will be read again: %s",
                             err)
                    self._new_producer()  # aborts the open transaction
                    return False
                if self._connection_lost:  # start again with a new producer once it is back
                    self.say("abort", logging.WARNING, "Kafka connection lost while committing "
                             "(%s); the batch will be read again", err)
                    self._new_producer()
                    return False
                self.say("commit", logging.WARNING, "cannot commit the batch yet (%s); "
                         "retrying", err)
            if self.stop.is_set():
                raise Abandon("commit")
            self.stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    def _abort(self) -> None:
        producer = self.producer
        assert producer is not None
        attempt = 0
        while True:
            try:
                _bounded("abort_transaction", lambda: producer.abort_transaction(TXN_CALL_S))
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise FatalKafkaError(f"abort: {err}") from exc
                self.say("abort-retry", logging.WARNING, "cannot abort the batch yet (%s)", err)
            if self.stop.is_set():
                raise Abandon("abort")
            self.stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    # -- ticks ------------------------------------------------------------------------------

    def _send_ticks(self, consumer: Consumer, outbox: Outbox) -> None:
        """Tell every correlation partition how far this worker's source partitions are.

        Sent after the batch's forwards by the same producer, so each correlation partition
        reads a tick after every forward it vouches for: ``hub-tick-origins`` lists the source
        partitions with nothing left to forward (their quiet time counts), and
        ``hub-tick-progress`` the newest event time handled per source partition (an origin's
        clock moves even in lanes its events do not reach).
        """
        owned = [tp for tp in consumer.assignment() if tp.topic in KIND_OF_TOPIC]
        vouched = []
        now = time.monotonic()
        positions = consumer.position(owned) if owned else []
        for tp in positions:
            _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                       cached=True)
            position = tp.offset if tp.offset >= 0 else self._starts.get((tp.topic, tp.partition))
            if high >= 0 and position is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, high - position))
                if position >= high:
                    vouched.append(f"{tp.topic}/{tp.partition}")
                    self._caught_up_since.setdefault((tp.topic, tp.partition), now)
                else:
                    self._caught_up_since.pop((tp.topic, tp.partition), None)
        progress = {f"{tp.topic}/{tp.partition}": newest for tp in owned
                    if (newest := self.ingestor.progress.get(f"{tp.topic}/{tp.partition}"))
                    is not None}
        headers = [
            (TICK_HEADER, str(int(time.time() * 1000)).encode()),
            (TICK_ORIGINS_HEADER, ",".join(sorted(vouched)).encode()),
            (TICK_PROGRESS_HEADER, json.dumps(progress, separators=(",", ":")).encode()),
        ]
        for p in range(self.correlate_partitions):
            outbox.send(CORRELATE_TOPIC, None, b"", headers, partition=p)


def _bounded(what: str, call: Callable[[], object]) -> None:
    """Run a blocking librdkafka call, but give up on it after HUNG_CALL_S (FatalKafkaError).

    The call runs in a helper thread (the GIL is released inside librdkafka); its exception, if
    any, is raised here as if it had been called directly.
    """
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    thread.join(HUNG_CALL_S)
    if not outcome:
        raise FatalKafkaError(f"{what} has not returned after {HUNG_CALL_S:.0f}s "
                              "(librdkafka#5456)")
    if outcome[0] is not None:
        raise outcome[0]


def _next_offsets(batch: Iterable[Any]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for msg in batch:
        last[(msg.topic(), msg.partition())] = msg.offset()
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]


def _first_offsets(batch: Iterable[Any]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for msg in batch:
        first.setdefault((msg.topic(), msg.partition()), msg.offset())
    return [TopicPartition(t, p, o) for (t, p), o in sorted(first.items())]


def _names(partitions: Iterable[TopicPartition]) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return "; ".join(f"{t} {sorted(ps)}" for t, ps in sorted(by_topic.items())) or "nothing"
