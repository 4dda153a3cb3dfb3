"""Exact-duplicate detection across workers and restarts, in Redis, with a memory twin.

A key per (kind, event_id) is set once with the message's source coordinates and a retention
TTL. A message whose key is already held with *other* coordinates is a duplicate; with the *same*
coordinates it is a redelivery after a crash and must be processed again (or it would be lost).
When Redis is down the store says "not a duplicate" and counts the error: the engine's own buffer
still drops repeats within the allowed lateness, and nothing is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)

Item = tuple[str, str, str]  # (kind, event_id, "topic/partition/offset")


class DedupStore(Protocol):
    """What ingest needs to drop exact duplicates; Redis in the worker, memory in tests."""

    def duplicates(self, items: Sequence[Item]) -> list[bool]:
        """Per item, in order: True when another message already claimed its (kind, event_id);
        the same coordinates again (a redelivery) are not a duplicate."""
        ...


class MemoryDedupStore:
    """The twin used in tests and offline: same contract, no retention clock."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}

    def duplicates(self, items: Sequence[Item]) -> list[bool]:
        """As :meth:`DedupStore.duplicates`; keys are held for the store's lifetime."""
        out = []
        for kind, event_id, coords in items:
            held = self._seen.setdefault((kind, event_id), coords)
            out.append(held != coords)
        return out


class RedisDedupStore:
    """``SET key coords NX PX retention`` per item, pipelined per batch."""

    def __init__(
        self,
        url: str,
        retention_ms: int,
        *,
        on_error: Callable[[str], None] | None = None,
        breaker_seconds: float = 5.0,
        prefix: str = "hub:dedup:",
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True
        )
        self.retention_ms = retention_ms
        self.prefix = prefix
        self._on_error = on_error
        self._breaker_seconds = breaker_seconds
        self._down_until = 0.0

    def duplicates(self, items: Sequence[Item]) -> list[bool]:
        """As :meth:`DedupStore.duplicates`; all False (and ``on_error``) while Redis fails,
        and for ``breaker_seconds`` after, so a Redis outage never stops the stream."""
        if not items:
            return []
        if time.monotonic() < self._down_until:
            return [False] * len(items)
        keys = [f"{self.prefix}{kind}:{event_id}" for kind, event_id, _ in items]
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for key, (_, _, coords) in zip(keys, items, strict=True):
                    pipe.set(key, coords, nx=True, px=self.retention_ms)
                created = pipe.execute()
            held: list[str | None] = [None] * len(items)
            missing = [i for i, ok in enumerate(created) if not ok]
            if missing:
                with self._redis.pipeline(transaction=False) as pipe:
                    for i in missing:
                        pipe.get(keys[i])
                    for i, value in zip(missing, pipe.execute(), strict=True):
                        held[i] = value
        except Exception as exc:  # redis down, timeout, protocol error: never stop the stream
            self._down_until = time.monotonic() + self._breaker_seconds
            log.warning("redis dedup unavailable (%s); falling back to in-engine dedup", exc)
            if self._on_error:
                self._on_error("dedup")
            return [False] * len(items)
        return [
            not ok and held[i] is not None and held[i] != items[i][2]
            for i, ok in enumerate(created)
        ]

    def close(self) -> None:
        """Release the Redis connections."""
        self._redis.close()
