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
    """The twin of RedisDedupStore in a dict, for tests and benchmarks/hotpath.py: the same
    contract (tests/contract/test_dedup_store_twins.py runs one suite against both).

    ``retention_ms``: a key is forgotten that long after it was first set, as Redis's ``PX``
    forgets it (None, the default: never); ``clock`` gives monotonic seconds, so tests advance
    time instead of sleeping. An expired key is dropped when next looked up, not before.
    """

    def __init__(self, retention_ms: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[tuple[str, str], str] = {}
        self._expires: dict[tuple[str, str], float] = {}
        self._retention_s = None if retention_ms is None else retention_ms / 1000
        self._clock = clock

    def duplicates(self, items: Sequence[Item]) -> list[bool]:
        """As :meth:`DedupStore.duplicates`; keys are held for the store's lifetime."""
        out = []
        seen = self._seen
        if self._retention_s is None:
            for kind, event_id, coords in items:
                held = seen.setdefault((kind, event_id), coords)
                out.append(held != coords)
            return out
        now = self._clock()
        expires = self._expires
        for kind, event_id, coords in items:
            key = (kind, event_id)
            kept = seen.get(key)
            if kept is None or expires[key] <= now:
                seen[key], expires[key] = coords, now + self._retention_s
                out.append(False)
            else:
                out.append(kept != coords)
        return out


#: One round trip claims a chunk of keys: SET NX, and for a key already held, whether it is held
#: with the same coordinates (a redelivery). 0: not a duplicate, 1: a duplicate.
_CLAIM = """
local out = {}
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[i], 'NX', 'PX', ttl) or redis.call('GET', key) == ARGV[i] then
    out[i] = 0
  else
    out[i] = 1
  end
end
return out
"""
#: Keys per script call: a script holds Redis for its whole run (4.4 ms for 1,000 new keys here,
#: SLOWLOG), so a batch is claimed in chunks and other clients get their turn between them.
CLAIM_CHUNK = 1000


class RedisDedupStore:
    """``SET key coords NX PX retention`` per item, in a server-side script per chunk.

    A pipeline of one SET per item (and a GET per held key) cost ~10 µs of the worker's CPU per
    event in redis-py's command objects and reply parsing, most of ingest's Redis cost; the
    script's one call per chunk costs ~2.5 µs (benchmarks/hotpath.py --redis, BENCHMARKS.md §3).
    """

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
        # Sent by its SHA; loaded again by redis-py when a restarted Redis has forgotten it.
        self._claim = self._redis.register_script(_CLAIM)
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
        out: list[bool] = []
        try:
            for start in range(0, len(items), CLAIM_CHUNK):
                chunk = items[start:start + CLAIM_CHUNK]
                flags = self._claim(
                    keys=[f"{self.prefix}{kind}:{event_id}" for kind, event_id, _ in chunk],
                    args=[*(coords for _, _, coords in chunk), self.retention_ms])
                out.extend(flag == 1 for flag in flags)
        except Exception as exc:  # redis down, timeout, protocol error: never stop the stream
            self._down_until = time.monotonic() + self._breaker_seconds
            log.warning("redis dedup unavailable (%s); falling back to in-engine dedup", exc)
            if self._on_error:
                self._on_error("dedup")
            return [False] * len(items)
        return out

    def close(self) -> None:
        """Release the Redis connections."""
        self._redis.close()
