"""Pure helpers of the worker loop: what it says (and how often), which offsets it commits and
seeks to, and how a tick's progress is read. The loop itself runs against the real broker in
tests/integration (test_worker_*.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest

import hub.runtime.pipeline as pipeline_module
from hub.adapters.kafka import KafkaError, KafkaException, TopicPartition
from hub.core.rules import RulePack
from hub.observability.kafka_log import OncePer
from hub.runtime.batch_parts import first_offsets, next_offsets
from hub.runtime.correlator import progress_of
from hub.runtime.ingest import KIND_OF_TOPIC
from hub.runtime.pipeline import (
    HOLD_PENDING,
    MAX_HOLD_S,
    RESUME_PENDING,
    Clients,
    Pipeline,
    Throttled,
)
from hub.runtime.transactions import InFlight, KafkaTransactions
from hub.settings import CORRELATE_TOPIC


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._coords = (topic, partition, offset)

    def topic(self) -> str:
        return self._coords[0]

    def partition(self) -> int:
        return self._coords[1]

    def offset(self) -> int:
        return self._coords[2]


BATCH = [FakeMessage("a", 0, 5), FakeMessage("b", 1, 9), FakeMessage("a", 0, 6),
         FakeMessage("a", 1, 0), FakeMessage("b", 1, 10)]


def test_a_batch_commits_the_offset_after_each_partitions_last_message() -> None:
    assert [(tp.topic, tp.partition, tp.offset) for tp in next_offsets(BATCH)] == [
        ("a", 0, 7), ("a", 1, 1), ("b", 1, 11)]


def test_an_aborted_batch_is_read_again_from_each_partitions_first_message() -> None:
    assert [(tp.topic, tp.partition, tp.offset) for tp in first_offsets(BATCH)] == [
        ("a", 0, 5), ("a", 1, 0), ("b", 1, 9)]


def test_tick_progress_is_grouped_by_source_kind_and_unknown_topics_are_ignored() -> None:
    raw = json.dumps({"hub.src.access_swipe/2": 1000, "hub.src.perimeter_alarm/0": 7,
                      "not.a.source/1": 99}).encode()
    assert progress_of(raw) == {"access_swipe": {"hub.src.access_swipe/2": 1000},
                                "perimeter_alarm": {"hub.src.perimeter_alarm/0": 7}}
    assert progress_of(None) == {} and progress_of(b"") == {}


def test_throttled_says_a_repeated_thing_once_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    say = Throttled(every=3600)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            say("broker", logging.WARNING, "waiting for Kafka at %s", "127.0.0.1:1")
        say("other", logging.WARNING, "something else")
    assert [r.getMessage() for r in caplog.records] == [
        "waiting for Kafka at 127.0.0.1:1", "something else"]
    say.clear("broker")  # it worked again: the next failure is said at once
    with caplog.at_level(logging.WARNING):
        say("broker", logging.WARNING, "waiting for Kafka at %s", "127.0.0.1:1")
    assert len(caplog.records) == 3


def test_a_batchs_time_ends_with_its_commit_not_when_the_loop_next_looks() -> None:
    # The loop handles the next batch while this one commits and looks at the outcome only
    # then: timing the batch up to that look would call every batch under load slow.
    gate, ends = threading.Event(), []

    def commit() -> bool:
        gate.wait(5)
        ends.append(time.perf_counter())
        return True

    started = time.perf_counter()
    in_flight = InFlight(commit, messages=BATCH, progress_before={}, applied={},
                         started=started, handled=started + 0.01)
    gate.set()
    time.sleep(0.3)  # the next batch's handling
    looked = time.perf_counter()
    assert in_flight.wait() is True
    assert ends[0] <= in_flight.finished < looked
    assert in_flight.commit_started <= ends[0]
    said = in_flight.timing()
    assert said.startswith(f"{len(BATCH)} messages in ")
    assert "handling 0.01s" in said and "committing " in said


def test_librdkafka_lines_differing_only_in_numbers_are_one_kind() -> None:
    once = OncePer(every=3600)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("hub.kafka", logging.ERROR, __file__, 1, msg, None, None)

    first = record("Connect to ipv4#127.0.0.1:9092 failed (after 0ms)")
    assert once.filter(first)
    assert not once.filter(record("Connect to ipv4#127.0.0.1:9092 failed (after 12ms)"))
    assert once.filter(record("Broker: Coordinator load in progress"))
    once.every = 0  # the interval has passed: said again, with the count of repeats
    again = record("Connect to ipv4#127.0.0.1:9092 failed (after 3ms)")
    assert once.filter(again)
    assert "repeated 1 times" in again.getMessage()


class FakeConsumer:
    """Assignment, positions and ends of source partitions; pause and resume recorded."""

    def __init__(self, assigned: list[tuple[str, int]]) -> None:
        self.assigned = [TopicPartition(t, p) for t, p in assigned]
        self.paused: set[tuple[str, int]] = set()
        #: (topic, partition) -> (position, end); every partition starts with a backlog
        self.offsets = {(t, p): (0, 100) for t, p in assigned}

    def assignment(self) -> list[TopicPartition]:
        return self.assigned

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.offsets[(tp.topic, tp.partition)][0])
                for tp in tps]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, self.offsets[(tp.topic, tp.partition)][1]

    def pause(self, tps: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in tps}

    def resume(self, tps: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in tps}


class Pending:
    """The correlator's pending count and rule pack (default idle times: 10 s)."""

    def __init__(self) -> None:
        self.n = 0
        self.pack = RulePack(rules=())

    def pending_events(self) -> int:
        return self.n


class Progress:
    """The ingestor's newest event time per source partition."""

    def __init__(self) -> None:
        self.progress: dict[str, int] = {}


def held_pipeline(monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[Any, FakeConsumer, Pending, Progress, list[float]]:
    clock = [1000.0]
    monkeypatch.setattr(pipeline_module.time, "monotonic", lambda: clock[0])
    pending, progress = Pending(), Progress()
    pipe: Any = Pipeline(clients=Clients({}, {}), ingestor=cast(Any, progress),
                         correlator=cast(Any, pending), registry=cast(Any, None),
                         codec=cast(Any, None), metrics=cast(Any, None), worker_id="w",
                         tick_seconds=1.0, correlate_partitions=4)
    source = next(iter(KIND_OF_TOPIC))
    consumer = FakeConsumer([(source, 0), (source, 1), (source, 2), (CORRELATE_TOPIC, 0)])
    return pipe, consumer, pending, progress, clock


def stepper(pipe: Any, consumer: FakeConsumer, pending: Pending, clock: list[float]
            ) -> Callable[..., set[tuple[str, int]]]:
    def step(n: int, dt: float = 1.0) -> set[tuple[str, int]]:
        pending.n = n
        clock[0] += dt
        pipe._hold_sources(consumer)
        return set(consumer.paused)
    return step


SOURCE = next(iter(KIND_OF_TOPIC))


def test_a_flood_pauses_while_an_idle_partition_becomes_quiet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One partition floods, the others have nothing left: their quiet time releases it."""
    pipe, consumer, pending, _, clock = held_pipeline(monkeypatch)
    consumer.offsets[(SOURCE, 1)] = consumer.offsets[(SOURCE, 2)] = (50, 50)
    step = stepper(pipe, consumer, pending, clock)

    assert step(HOLD_PENDING) == set()
    assert step(HOLD_PENDING + 1) == {(SOURCE, 0)}  # never the correlation topic
    assert step(HOLD_PENDING + 5_000) == {(SOURCE, 0)}
    assert step((HOLD_PENDING + 1) // 2) == set()  # half of it released: read on
    assert step(HOLD_PENDING + 1) == {(SOURCE, 0)}
    assert step(RESUME_PENDING - 1) == set()


def test_a_lone_backlog_behind_the_others_in_event_time_reads_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood amid a city's traffic, replayed: the partitions that became quiet are ahead of
    it in event time, so the release waits for the flood's own reading; pausing it only stood
    still (11.4 s in flood_bench --amid)."""
    pipe, consumer, pending, progress, clock = held_pipeline(monkeypatch)
    consumer.offsets[(SOURCE, 1)] = consumer.offsets[(SOURCE, 2)] = (50, 50)
    progress.progress = {f"{SOURCE}/0": 5_000, f"{SOURCE}/1": 9_000, f"{SOURCE}/2": 8_000}
    step = stepper(pipe, consumer, pending, clock)

    assert step(HOLD_PENDING + 1) == set()
    progress.progress[f"{SOURCE}/2"] = 4_000  # one of them is behind the flood after all
    assert step(HOLD_PENDING + 1) == {(SOURCE, 0)}
    progress.progress[f"{SOURCE}/0"] = 3_000  # the flood went back behind it: read on
    assert step(HOLD_PENDING + 1) == set()


def test_once_the_idle_ones_are_quiet_a_lone_backlog_reads_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing becomes quiet any more: only reading the backlog moves its release."""
    pipe, consumer, pending, _, clock = held_pipeline(monkeypatch)
    consumer.offsets[(SOURCE, 1)] = consumer.offsets[(SOURCE, 2)] = (50, 50)
    step = stepper(pipe, consumer, pending, clock)

    assert step(HOLD_PENDING + 1) == {(SOURCE, 0)}
    assert step(HOLD_PENDING + 1, 5.0) == {(SOURCE, 0)}
    assert step(HOLD_PENDING + 1, 8.0) == set()  # 13 s caught up: vouched quiet by now
    assert step(HOLD_PENDING + 1) == set()


def test_a_replayed_backlog_reads_on_where_event_time_is_behind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every partition has a backlog: the one furthest behind in event time goes on."""
    pipe, consumer, pending, progress, clock = held_pipeline(monkeypatch)
    progress.progress = {f"{SOURCE}/0": 5_000, f"{SOURCE}/1": 1_000, f"{SOURCE}/2": 9_000}
    step = stepper(pipe, consumer, pending, clock)

    assert step(HOLD_PENDING + 1) == {(SOURCE, 0), (SOURCE, 2)}
    progress.progress[f"{SOURCE}/1"] = 7_000  # it caught up past partition 0
    assert step(HOLD_PENDING + 1) == {(SOURCE, 1), (SOURCE, 2)}
    consumer.offsets[(SOURCE, 0)] = (100, 100)  # partition 0 read to its end (it is quiet
    consumer.offsets[(SOURCE, 1)] = (100, 100)  # soon): all the backlogged ones wait
    assert step(HOLD_PENDING + 1) == {(SOURCE, 2)}
    assert step(RESUME_PENDING - 1) == set()


def test_a_pause_that_releases_nothing_ends_and_is_not_repeated_until_drained(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, consumer, pending, _, clock = held_pipeline(monkeypatch)
    consumer.offsets[(SOURCE, 1)] = (50, 50)
    step = stepper(pipe, consumer, pending, clock)

    assert step(HOLD_PENDING + 1)
    assert step(HOLD_PENDING + 1, 5.0)
    consumer.offsets[(SOURCE, 1)] = (50, 60)  # new events: it is not becoming quiet now
    consumer.offsets[(SOURCE, 2)] = (100, 100)
    assert step(HOLD_PENDING + 1, MAX_HOLD_S - 6)
    assert not step(HOLD_PENDING + 1, 1.0)  # waited long enough: the release needs more input
    assert not step(HOLD_PENDING * 2)  # disarmed
    assert not step(RESUME_PENDING - 1)  # drained: armed again
    assert step(HOLD_PENDING + 1)


def test_a_drained_partition_does_not_stop_a_backlog_on_several(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One partition read to its end while two still have a backlog (a replay): the one behind
    in event time reads on, the quiet time of the drained one notwithstanding."""
    pipe, consumer, pending, progress, clock = held_pipeline(monkeypatch)
    consumer.offsets[(SOURCE, 1)] = (100, 100)
    progress.progress = {f"{SOURCE}/0": 9_000, f"{SOURCE}/2": 3_000}
    step = stepper(pipe, consumer, pending, clock)

    assert step(HOLD_PENDING + 1) == {(SOURCE, 0)}


def test_throttled_remembers_at_most_its_bound_of_keys(caplog: pytest.LogCaptureFixture) -> None:
    """Keys made of device ids (the correlator's LATE lines) cannot grow it without end."""
    say = Throttled(every=3600, most=2)
    with caplog.at_level(logging.WARNING):
        for key in ("a", "b", "a", "c", "a"):  # "c" makes three: the memory starts again
            say(key, logging.WARNING, "late at %s", key)
    assert [r.getMessage() for r in caplog.records] == ["late at a", "late at b", "late at c",
                                                        "late at a"]
    assert len(say._last) == 2


class TimingOutProducer:
    """A transactional producer whose every commit times out, as after a broker restart."""

    def __init__(self) -> None:
        self.calls = 0

    def send_offsets_to_transaction(self, offsets: Any, group: Any, timeout: float) -> None:
        self.calls += 1
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed to add offsets to "
                                        "transaction: Local: Timed out", retriable=True))

    def commit_transaction(self, timeout: float) -> None:
        raise AssertionError("not reached")


class Committer(KafkaTransactions):
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.say = Throttled()
        self.producer = TimingOutProducer()  # type: ignore[assignment]
        self._connection_lost = False
        self.new_producers = 0

    def _new_producer(self) -> None:
        self.new_producers += 1


def test_a_commit_that_timed_out_starts_a_new_producer_not_a_retry() -> None:
    """An outside probe: with the loop waiting on the commit nothing polled, so the lost
    connection was not known; the commit was retried on the same producer, whose call after
    the broker's return hung 45 s until the worker exited 70. A timed-out call now takes the
    lost-connection path: a new producer, the batch read again."""
    txn = Committer()
    producer = txn.producer
    stopper = threading.Timer(3.0, txn.stop.set)  # retrying for ever would raise Abandon
    stopper.start()
    committed = txn._commit(None, [TopicPartition("t", 0, 5)], group=object())  # type: ignore[arg-type]
    assert committed is False
    assert txn.new_producers == 1
    assert isinstance(producer, TimingOutProducer) and producer.calls == 1
    stopper.cancel()
