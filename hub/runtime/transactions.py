"""Kafka transactions for the worker loop: retried calls, commit, abort, and a new producer.

librdkafka's transactional calls fail in ways the loop must tell apart: retriable (Kafka away:
wait and call again), abortable (the batch is aborted and read again), fatal (fenced: only a new
process can go on), and hung (``send_offsets_to_transaction`` ignoring its timeout). This
module holds that knowledge, so hub/runtime/pipeline.py reads as the batch loop it is.
``KafkaTransactions`` is a mixin of ``Pipeline``; see docs/adr/0005-transactional-batches.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hub.adapters.kafka import (
    Clients,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
    make_worker_producer,
)

log = logging.getLogger(__name__)

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


class Abandon(Exception):
    """Told to stop while waiting on Kafka: leave the batch uncommitted and return."""


class FatalKafkaError(Exception):
    """The producer was fenced or hit a fatal error: only a new process can go on."""


@dataclass
class Throttled:
    """Says a repeated thing once per interval, with how often it happened meanwhile."""

    every: float = SAY_EVERY_S
    _last: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: where it is said: the worker loop says its own things under its own logger
    logger: logging.Logger = log
    #: keys remembered at most; beyond, the memory starts again (keys made of device ids that a
    #: flood can make up)
    most: int = 10_000
    #: librdkafka's callbacks and the commit thread say things too: one line per interval, not
    #: one per thread (two identical _ALL_BROKERS_DOWN lines 1 ms apart, an outside probe)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, key: str, level: int, msg: str, *args: object) -> None:
        """Log ``msg`` under ``key`` unless said within ``every`` seconds; then only count it."""
        with self._lock:
            now = time.monotonic()
            said, times = self._last.get(key, (-1e18, 0))
            if now - said < self.every:
                self._last[key] = (said, times + 1)
                return
            if len(self._last) >= self.most and key not in self._last:
                self._last.clear()
            self._last[key] = (now, 0)
        suffix = f" (and {times} more times since)" if times else ""
        self.logger.log(level, msg + suffix, *args)

    def clear(self, key: str) -> None:
        """The condition is over: the next occurrence is said at once."""
        with self._lock:
            self._last.pop(key, None)


class KafkaTransactions:
    """The transactional producer's lifecycle and the calls that commit or abort a batch."""

    clients: Clients
    stop: threading.Event
    say: Throttled
    producer: Producer | None
    _connection_lost: bool
    _retired: list[Producer]

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
                    lambda: bounded("init_transactions",
                                     lambda: producer.init_transactions(TXN_CALL_S)))
        self.producer = producer

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition],
                group: Any = None) -> bool:
        """Commit the open transaction with ``offsets``; False if it had to be aborted.

        ``group``: the consumer's group metadata, read beforehand when this runs beside the
        loop (``InFlight``) while the loop's thread uses the consumer.
        """
        producer = self.producer
        assert producer is not None
        sent = not offsets
        attempt = 0
        while True:
            try:
                if not sent:
                    if group is None:
                        group = consumer.consumer_group_metadata()
                    bounded("send_offsets_to_transaction",
                             partial(producer.send_offsets_to_transaction, offsets, group,
                                     TXN_CALL_S))
                    sent = True
                bounded("commit_transaction", lambda: producer.commit_transaction(TXN_CALL_S))
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
                # Start again with a new producer once Kafka is back. A call that timed out
                # counts as a lost connection too: the loop waiting here does not poll, so the
                # error callback may not have said so yet, and the call retried on the same
                # producer after a broker restart hung until HUNG_CALL_S (an outside probe:
                # 45 s of nothing after Kafka was back, then exit 70).
                if self._connection_lost or err.code() == KafkaError._TIMED_OUT:
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
                bounded("abort_transaction", lambda: producer.abort_transaction(TXN_CALL_S))
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


class InFlight:
    """A batch's commit running beside the loop, which meanwhile reads and handles the next
    batch (its sends held until this one is settled, hub/runtime/outbox.py ``Deferred``).

    The wait for Kafka to take a batch (``send_offsets_to_transaction`` and
    ``commit_transaction``: 1.34 s of a 17 s worker_bench run, 60 batches) was time the loop
    did nothing. ``messages`` and ``progress_before`` are what reading the batch again needs
    if the commit is aborted; ``applied`` is what a commit completes.

    Times (``time.perf_counter``): ``started`` when the batch's handling began, ``handled``
    when it ended, ``commit_started`` and ``finished`` around the commit in its thread. The
    loop notices the outcome only after handling the next batch, so the batch's own time ends
    at ``finished``, not at ``wait``.
    """

    def __init__(self, commit: Callable[[], bool], *, messages: list[Any],
                 progress_before: dict[str, int], applied: dict[int, int],
                 started: float, handled: float) -> None:
        self.messages, self.progress_before = messages, progress_before
        self.applied, self.started, self.handled = applied, started, handled
        self._outcome: list[bool | BaseException] = []
        self.commit_started = self.finished = time.perf_counter()

        def target() -> None:
            try:
                self._outcome.append(commit())
            except BaseException as exc:  # handed to the loop by wait()
                self._outcome.append(exc)
            self.finished = time.perf_counter()

        self._thread = threading.Thread(target=target, name="commit", daemon=True)
        self._thread.start()

    def wait(self) -> bool:
        """True once committed, False if aborted (read it again); raises what the commit
        raised (FatalKafkaError, Abandon)."""
        self._thread.join()
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def timing(self) -> str:
        """Where a settled batch's time went, for the slow-batch warning."""
        return (f"{len(self.messages)} messages in {self.finished - self.started:.2f}s from "
                f"handling to commit (handling {self.handled - self.started:.2f}s, the previous "
                f"commit and sending {self.commit_started - self.handled:.2f}s, committing "
                f"{self.finished - self.commit_started:.2f}s)")


def bounded(what: str, call: Callable[[], object]) -> None:
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


__all__ = ["BACKOFF_S", "HUNG_CALL_S", "TXN_CALL_S", "Abandon", "FatalKafkaError", "InFlight",
           "KafkaTransactions", "Throttled", "bounded"]
