"""The worker's loop: consume a batch, ingest and correlate it, commit it in one Kafka transaction.

One consumer in the app's group reads the five source topics, the internal correlation topic
and the registry topic (whose unreadable records it dead-letters once: registry_check.py);
one transactional producer writes everything a batch causes: forwards to the correlation topic,
incidents, dead letters, state changelog entries, ticks, and (``send_offsets_to_transaction``)
the batch's consumed offsets. Either all of it becomes visible (read_committed) or none of it: a
worker killed at any moment leaves nothing half-done, and its successor resumes from the
committed offsets with the committed state (docs/adr/0005-transactional-batches.md).

Why not Faust's stream path: measured at ~2,900 events/s for an agent doing one table write
(docs/faust.md), it drops fetched messages at recovery and rebalances (faust-streaming/faust#596)
and needed a guard and a watchdog to be safe; here batches are plain lists and nothing is queued
outside librdkafka.

A batch's commit runs while the next batch is read and handled (``InFlight``); the next batch's
sends wait until that commit has settled, then go into a transaction of their own. Rebalance
callbacks run inside ``consume`` and settle the commit in flight first, so a revoked partition
never has work in flight. A batch whose commit fails is aborted: the consumer seeks back to its
first offsets (and to those of the batch handled after it), and the correlation state is read
again from the changelog, so the retry starts from exactly the committed state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
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
)
from hub.codec import Codec
from hub.codec.internal import TICK_HEADER, TICK_ORIGINS_HEADER, TICK_PROGRESS_HEADER
from hub.core.snapshot import compact_json
from hub.observability.metrics import HubMetrics
from hub.runtime.back_pressure import HOLD_PENDING, MAX_HOLD_S, RESUME_PENDING, BackPressure
from hub.runtime.batch_parts import by_stage, first_offsets, next_offsets, partition_names
from hub.runtime.correlator import Correlator
from hub.runtime.ingest import KIND_OF_TOPIC, Ingestor
from hub.runtime.outbox import Deferred, Outbox
from hub.runtime.registry_check import RegistryCheck
from hub.runtime.registry_reader import RegistryReader
from hub.runtime.transactions import (
    BACKOFF_S,
    TXN_CALL_S,
    Abandon,
    FatalKafkaError,
    InFlight,
    KafkaTransactions,
    Throttled,
)
from hub.settings import CORRELATE_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS, Settings

log = logging.getLogger(__name__)

#: Most messages one batch takes from the consumer.
BATCH_MAX = 5000
#: How long ``consume`` waits for a batch to fill: the latency floor under light traffic.
BATCH_WAIT_S = 0.05
#: One try at reading the committed offsets of newly assigned partitions.
COMMITTED_STEP_S = 1.0
#: How often the correlation state is written and the correlation topic's offsets committed, by
#: default (``HUB_CHECKPOINT_SECONDS``).
#: A key's state is written whole, and a busy key (a site's 10-minute window) is touched by every
#: batch: writing it per batch made the changelog grow by megabytes a second in the soak. After a
#: crash at most this much of the correlation topic is applied again (CONFIRMED versions come out
#: again, identical: same id, version and content).
CHECKPOINT_S = Settings.checkpoint_seconds
#: Once no event has come for this long, state applied since the last checkpoint is written at
#: once rather than at the next interval: a burst's end is then committed within about a second
#: (worker_bench waited up to CHECKPOINT_S for it), and a successor applies nothing of it again.
IDLE_CHECKPOINT_S = 1.0
#: A batch slower than this is logged with where its time went.
SLOW_BATCH_S = 1.0


class Pipeline(KafkaTransactions, BackPressure):
    """The worker's batch loop (see the module doc): ``start``, then ``run`` until ``stop`` is
    set, then ``close``. Kafka transactions (hub/runtime/transactions.py) and back-pressure
    (hub/runtime/back_pressure.py) are its mixins."""

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
        checkpoint_seconds: float = CHECKPOINT_S,
        registry_check: RegistryCheck | None = None,
    ) -> None:
        self.clients, self.ingestor, self.correlator = clients, ingestor, correlator
        self.registry, self.codec, self.metrics = registry, codec, metrics
        self.worker_id, self.tick_seconds = worker_id, tick_seconds
        self.checkpoint_seconds = checkpoint_seconds
        self.correlate_partitions = correlate_partitions
        #: dead-letters the registry records the registry cannot take (none: only skipped)
        self.registry_check = registry_check
        self.say = Throttled(logger=log)
        self.stop = threading.Event()
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self._next_tick = 0.0
        self._next_checkpoint = time.monotonic() + checkpoint_seconds
        #: when the last batch with events (not only ticks) was read; whether events were
        #: applied to the correlation state since the last checkpoint
        self._last_events = time.monotonic()
        self._unsaved = False
        #: source (topic, partition) -> the offset its consumption started from (the group's
        #: commit): an idle partition's position before it has delivered anything
        self._starts: dict[tuple[str, int], int] = {}
        #: correlation partition -> the offset after the last message applied to its state (in
        #: a committed batch): what a checkpoint commits. Not the consumer's position(), which
        #: can move past messages never handed to this loop (seen inside close()).
        self._applied: dict[int, int] = {}
        self.batches = 0
        #: the last batch's commit, running while the next batch is read and handled
        self._in_flight: InFlight | None = None
        #: set when a commit settled inside a rebalance callback was aborted: the batch (and
        #: what was read after it) is read again once ``consume`` has returned
        self._aborted: InFlight | None = None
        #: what settling raised inside a callback, raised again once ``consume`` has returned
        self._settle_error: BaseException | None = None
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
        #: it stays so): its quiet time runs from about then (see BackPressure._holdable)
        self._caught_up_since: dict[tuple[str, int], float] = {}
        #: the longest idle time of any source: how long a caught-up partition takes to be
        #: vouched quiet (read from the rules at the first hold)
        self._quiet_s: float | None = None
        for config in (clients.consumer_config, clients.producer_config):
            config["error_cb"] = self._on_kafka_error

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        """Registry loaded, producer's transactions ready, consumer subscribed."""
        self._retry("loading the building registry", self._registry_ready)
        self._new_producer()
        consumer = make_worker_consumer(self.clients)
        # The registry topic too: its records that do not read are dead-lettered once, by the
        # member it is assigned to (hub/runtime/registry_check.py); RegistryReader applies them.
        topics = [*SOURCE_TOPICS.values(), CORRELATE_TOPIC, REGISTRY_TOPIC]
        consumer.subscribe(topics, on_assign=self._assigned, on_revoke=self._revoked,
                           on_lost=self._lost)
        self.consumer = consumer
        log.info("worker %s: subscribed to %d topics", self.worker_id, len(topics))

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
        self._settle_in_callback()
        sources = [TopicPartition(tp.topic, tp.partition) for tp in partitions
                   if tp.topic in KIND_OF_TOPIC]
        log.info("assigned: %s", partition_names(partitions))
        # Read the state of every new correlation partition now, in one pass, rather than one
        # partition at a time as their first messages arrive.
        self.correlator.store.load(tp.partition for tp in partitions
                                   if tp.topic == CORRELATE_TOPIC)
        if not sources:
            return
        # In steps of a second: this is a rebalance callback, where only this loop sees a stop
        # request (one 10 s call with the broker gone kept the worker from stopping).
        deadline = time.monotonic() + TXN_CALL_S
        while not self.stop.is_set():
            try:
                for tp in consumer.committed(sources, timeout=COMMITTED_STEP_S):
                    self._starts[(tp.topic, tp.partition)] = max(tp.offset, 0)
                return
            except KafkaException as exc:  # vouching waits until the partition delivers
                if time.monotonic() >= deadline:
                    log.warning("cannot read the committed offsets of %s: %s",
                                partition_names(sources), exc)
                    return

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions handed to another member: checkpoint their state first, so the new owner
        starts where this worker stopped (a failure only means it applies more again)."""
        log.info("revoked: %s", partition_names(partitions))
        committed = self._settle_in_callback()
        mine = [tp.partition for tp in partitions if tp.topic == CORRELATE_TOPIC]
        if mine and committed:  # else the state holds an aborted batch: nothing to keep
            try:
                self._checkpoint_only(consumer, mine)
            except (Abandon, FatalKafkaError, KafkaException) as exc:
                log.warning("could not checkpoint revoked partitions %s: %s", mine, exc)
        self._forget(partitions)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions already given to another member (this one was out of the group)."""
        log.warning("lost: %s", partition_names(partitions))
        self._settle_in_callback()
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
        try:
            self._loop(consumer)
            self._settle(consumer, [])
        except Abandon:
            log.warning("stopping: the current batch was left uncommitted")
            return
        self.checkpoint_before_stop()
        log.info("stopping: the last batch was committed")

    def _loop(self, consumer: Consumer) -> None:
        while not self.stop.is_set():
            messages = consumer.consume(num_messages=BATCH_MAX, timeout=BATCH_WAIT_S)
            if self._settle_error is not None:
                error, self._settle_error = self._settle_error, None
                raise error
            if self._aborted is not None:  # settled in a callback: read it all again
                aborted, self._aborted = self._aborted, None
                self._recover(consumer, aborted, messages)
                continue
            batch = []
            for msg in messages:
                err = msg.error()
                if err is None:
                    batch.append(msg)
                elif err.fatal():
                    raise FatalKafkaError(f"consumer: {err}")
                else:
                    self.say(f"consume:{err.code()}", logging.WARNING, "consumer: %s", err)
            now = time.monotonic()
            tick = now >= self._next_tick
            if not batch and not tick:
                self._settle(consumer, [])  # nothing to overlap with: finish it now
                if self._unsaved and now - self._last_events >= IDLE_CHECKPOINT_S:
                    self._next_checkpoint = now  # idle: write what was applied
                    self._batch(consumer, [], False)
                continue
            if any(m.value() for m in batch):  # ticks have no value
                self._last_events = now
            if tick:
                self._next_tick = time.monotonic() + self.tick_seconds
            self._batch(consumer, batch, tick)
            self._hold_sources(consumer)

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
        if self._in_flight is not None or self._aborted is not None:
            return  # the loop settles its last batch first; an aborted one has no state to keep
        consumer = self.consumer
        if consumer is None or self.producer is None:
            return
        try:
            self._checkpoint_only(consumer, [tp.partition for tp in consumer.assignment()
                                             if tp.topic == CORRELATE_TOPIC])
        except (Abandon, FatalKafkaError, KafkaException) as exc:
            log.warning("no checkpoint at stop (%s); the successor applies the last %.0fs "
                        "of the correlation topic again", exc, self.checkpoint_seconds)

    def _batch(self, consumer: Consumer, batch: list[Any], tick: bool) -> None:
        """Handle a batch while the previous one commits, then start its own commit.

        Its sends are held (``Deferred``) until the previous transaction is settled: if that
        one was aborted, this batch was handled on top of state that is gone, and both are
        read again.
        """
        started = time.perf_counter()
        if not self.registry.sync():
            self.say("registry-sync", logging.WARNING, "the building registry could not be "
                     "read to its end; enriching with what is loaded")
        # An aborted batch's events were never forwarded: its ticks must not claim them.
        progress_before = dict(self.ingestor.progress)
        held = Deferred()
        outbox = Outbox(held, self.codec, self.worker_id)
        try:
            sources, forwards, cards = by_stage(batch)
            if cards and self.registry_check is not None:
                self.registry_check.handle_batch(cards, outbox)
            if sources:
                self.ingestor.handle_batch(sources, outbox, self.correlate_partitions)
            if forwards:
                self.correlator.handle_batch(forwards, outbox)
                self._unsaved = self._unsaved or any(m.value() for m in forwards)
            if tick:
                self._send_ticks(consumer, outbox)
            checkpoint = time.monotonic() >= self._next_checkpoint
            if checkpoint:
                self.correlator.persist(outbox)
        except Exception:
            self.ingestor.progress = progress_before
            self._settle(consumer, [])
            raise
        handled = time.perf_counter()
        if not self._settle(consumer, batch):
            return  # the previous batch was aborted: this one is read again with it
        if self._connection_lost:
            log.info("the connection to Kafka was lost; starting a new producer")
            self._new_producer()
        producer = self.producer
        assert producer is not None
        producer.begin_transaction()
        held.replay(producer)
        # Source offsets with every batch (their forwards are in it); the correlation topic's
        # only with the state that goes with them, at a checkpoint.
        offsets = next_offsets([*sources, *cards])  # by_stage's split, not the topics again
        applied = {**self._applied, **{tp.partition: tp.offset for tp in next_offsets(forwards)}}
        if checkpoint:
            offsets += self._correlate_positions(applied)
            self._next_checkpoint = time.monotonic() + self.checkpoint_seconds
            self._unsaved = False
        group = consumer.consumer_group_metadata() if offsets else None
        self._in_flight = InFlight(
            lambda: self._commit(consumer, offsets, group), messages=batch,
            progress_before=progress_before, applied=applied, started=started, handled=handled)

    def _settle(self, consumer: Consumer, after: list[Any]) -> bool:
        """Wait for the commit in flight, if any. False if it was aborted: it is read again,
        with ``after`` (messages read since, whose handling built on it)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return True
        if not in_flight.wait():
            self._recover(consumer, in_flight, after)
            return False
        self._committed(in_flight)
        return True

    def _settle_in_callback(self) -> bool:
        """``_settle`` inside a rebalance callback: the commit is waited for before partitions
        change hands; an abort is read again (``_recover``) once ``consume`` has returned, and
        an error raised then. False if the state is not the committed one."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return self._aborted is None
        try:
            if in_flight.wait():
                self._committed(in_flight)
                return True
            self._aborted = in_flight
        except BaseException as exc:  # raised from consume's caller, not through librdkafka
            self._settle_error = exc
        return False

    def _committed(self, in_flight: InFlight) -> None:
        self._applied = in_flight.applied
        self.batches += 1
        seconds = in_flight.finished - in_flight.started
        self.metrics.batch_seconds.labels("batch").observe(seconds)
        if seconds > SLOW_BATCH_S:
            self.say("slow-batch", logging.WARNING, "slow batch: %s", in_flight.timing())

    def _recover(self, consumer: Consumer, aborted: InFlight, after: list[Any]) -> None:
        """An aborted batch: nothing of it is visible. Read it again from the committed state:
        its source messages (and those read after it), and the correlation topic from the last
        checkpoint."""
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        owned = {f"{topic}/{p}" for topic, p in assigned}
        self.ingestor.progress = {origin: t for origin, t in aborted.progress_before.items()
                                  if origin in owned}
        for tp in first_offsets(m for m in [*aborted.messages, *after]
                                 if m.topic() != CORRELATE_TOPIC):
            if (tp.topic, tp.partition) in assigned:
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

    # -- ticks ------------------------------------------------------------------------------

    def _send_ticks(self, consumer: Consumer, outbox: Outbox) -> None:
        """Tell every correlation partition how far this worker's source partitions are.

        Sent after the batch's forwards by the same producer, so each correlation partition
        reads a tick after every forward it vouches for: ``hub-tick-origins`` lists the source
        partitions with nothing left to forward (their quiet time counts), and
        ``hub-tick-progress`` the newest event time handled per source partition (an origin's
        clock moves even in lanes its events do not reach).
        """
        vouched = []
        progress: dict[str, int] = {}
        for (topic, partition), lag in self._source_positions(consumer, time.monotonic()):
            origin = f"{topic}/{partition}"
            if lag is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)
                if lag == 0:
                    vouched.append(origin)
            newest = self.ingestor.progress.get(origin)
            if newest is not None:
                progress[origin] = newest
        headers = [
            (TICK_HEADER, str(int(time.time() * 1000)).encode()),
            (TICK_ORIGINS_HEADER, ",".join(sorted(vouched)).encode()),
            (TICK_PROGRESS_HEADER, compact_json(progress).encode()),
            self.ingestor.app_header,
        ]
        for p in range(self.correlate_partitions):
            outbox.send(CORRELATE_TOPIC, None, b"", headers, partition=p)


__all__ = ["BATCH_MAX", "CHECKPOINT_S", "HOLD_PENDING", "MAX_HOLD_S", "RESUME_PENDING", "Abandon",
           "Clients", "FatalKafkaError", "Pipeline", "Throttled"]
