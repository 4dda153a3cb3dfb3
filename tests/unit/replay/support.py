"""Fakes the replay tests share: a clock that moves only when slept on, a producer that
records and fails on demand, and recorded messages."""
from __future__ import annotations

from typing import Any

from hub.adapters.kafka import KafkaError
from hub.replay.record import (
    RecordedMessage,
)

T0 = 1_740_960_000_000


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeMsg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class FakeProducer:
    """Records what was produced and when; fails the topics it is told to."""

    def __init__(self, clock: FakeClock | None = None, fail: set[str] | None = None) -> None:
        self.clock = clock
        self.fail = fail or set()
        self.sent: list[dict[str, Any]] = []
        self._pending: list[tuple[Any, str]] = []

    def produce(self, topic: str, **kw: Any) -> None:
        self.sent.append({"topic": topic, "at": self.clock() if self.clock else 0.0, **kw})
        self._pending.append((kw["on_delivery"], topic))

    def poll(self, timeout: float = 0) -> int:
        served = len(self._pending)
        for callback, topic in self._pending:
            err = KafkaError(KafkaError._MSG_TIMED_OUT) if topic in self.fail else None
            callback(err, FakeMsg(topic))
        self._pending.clear()
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


def msg(
    ts: int, topic: str = "t", partition: int = 0, key: bytes = b"k", value: bytes = b"v"
) -> RecordedMessage:
    return RecordedMessage(topic, partition, ts - T0, ts, 1, key, value, ())
