"""Pure helpers of the worker loop: what it says (and how often), which offsets it commits and
seeks to, and how a tick's progress is read. The loop itself runs against the real broker in
tests/integration (test_worker_*.py)."""

from __future__ import annotations

import json
import logging

import pytest

from hub.observability.kafka_log import OncePer
from hub.runtime.correlator import progress_of
from hub.runtime.pipeline import Throttled, _first_offsets, _next_offsets


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
    assert [(tp.topic, tp.partition, tp.offset) for tp in _next_offsets(BATCH)] == [
        ("a", 0, 7), ("a", 1, 1), ("b", 1, 11)]


def test_an_aborted_batch_is_read_again_from_each_partitions_first_message() -> None:
    assert [(tp.topic, tp.partition, tp.offset) for tp in _first_offsets(BATCH)] == [
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
