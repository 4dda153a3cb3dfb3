"""A stand-in for the worker's producer in unit tests: keeps what an Outbox sends."""

from __future__ import annotations

from typing import Any


class Sink:
    """``produce`` records (topic, kwargs); ``poll`` has nothing to serve."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.sent.append((topic, kwargs))

    def poll(self, timeout: float = 0) -> int:
        return 0
