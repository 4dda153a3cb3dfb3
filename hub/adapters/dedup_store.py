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
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

Item = tuple[str, str, str]  # (kind, event_id, "topic/partition/offset")


class Claim(Protocol):
    """Items sent to the store, answered later (``DedupStore.claim``)."""

    def flags(self) -> list[bool]:
        """As ``DedupStore.duplicates`` for the claim's items."""
        ...


#: How often a Redis outage is said again while it lasts
STILL_DOWN_EVERY_S = 60.0


class DedupStore(Protocol):
    """What ingest needs to drop exact duplicates; Redis in the worker, memory in tests."""

    def duplicates(self, items: Sequence[Item]) -> list[bool]:
        """Per item, in order: True when another message already claimed its (kind, event_id);
        the same coordinates again (a redelivery) are not a duplicate."""
        ...

    def claim(self, items: Sequence[Item]) -> Claim:
        """``duplicates``, sent now and answered by the claim's ``flags()``: ingest claims a
        batch's events a chunk at a time while it decodes the rest, so the store works beside
        it. Claims take effect in the order they were made."""
        ...


class Answered:
    """A claim answered at once (the memory twin; Redis while its breaker is open)."""

    __slots__ = ("_flags",)

    def __init__(self, flags: list[bool]) -> None:
        self._flags = flags

    def flags(self) -> list[bool]:
        """The answers."""
        return self._flags


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

    def claim(self, items: Sequence[Item]) -> Answered:
        """As :meth:`DedupStore.claim`: answered at once."""
        return Answered(self.duplicates(items))

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
#: with the same coordinates (a redelivery). One character per key: "0" not a duplicate, "1" a
#: duplicate (one string to parse, not a thousand integers). Both scripts below end with it.
_CLAIM_LOOP = """
local out = {}
for i, key in ipairs(keys) do
  if redis.call('SET', key, coords[i], 'NX', 'PX', ttl) or redis.call('GET', key) == coords[i] then
    out[i] = '0'
  else
    out[i] = '1'
  end
end
return table.concat(out)
"""
#: The keys as KEYS, their coordinates and then the retention as ARGV.
_CLAIM = "local keys, coords, ttl = KEYS, ARGV, ARGV[#ARGV]" + _CLAIM_LOOP
#: The same claim with the chunk's keys in one argument and their coordinates in another, each
#: joined by newlines: redis-py packs every argument in Python (~1 us each, two per key), so a
#: chunk of 1,000 keys cost ~2.9 us of the worker's CPU per key; as two arguments, ~0.9 us. Used
#: when no key or coordinate holds a newline (ingest's never do: ids refuse control
#: characters); Redis Cluster would want the keys declared, and the hub runs a single Redis.
_CLAIM_JOINED = """local keys, coords = {}, {}
for k in string.gmatch(ARGV[1], '[^\\n]+') do keys[#keys + 1] = k end
for c in string.gmatch(ARGV[2], '[^\\n]+') do coords[#coords + 1] = c end
if #keys ~= #coords then return redis.error_reply('keys and coordinates differ in number') end
local ttl = ARGV[3]""" + _CLAIM_LOOP
#: Keys per script call: a script holds Redis for its whole run (4.4 ms for 1,000 new keys here,
#: SLOWLOG), so a batch is claimed in chunks and other clients get their turn between them.
CLAIM_CHUNK = 1000


class RedisDedupStore:
    """``SET key coords NX PX retention`` per item, in a server-side script per chunk.

    A pipeline of one SET per item (and a GET per held key) cost ~10 µs of the worker's CPU per
    event in redis-py's command objects and reply parsing, most of ingest's Redis cost; the
    script's one call per chunk costs ~2.5 µs (benchmarks/hotpath.py --redis, BENCHMARKS.md §3).

    A claim is written to the connection at once and its answer read when asked for
    (``Claim.flags``): waiting for each chunk's answer in turn cost the worker 1.6 s of a 15 s
    run (worker_bench, 200,000 events), ~10 % of its handling time, with Redis's own work in it.
    Answers come back in the order the claims were sent, so they are read in that order.
    ``EVAL`` with the script's text, not ``EVALSHA``: nothing to reload when a restarted Redis
    has forgotten it.
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
        self._conn: Any = None  # one connection of the pool, held while the store lives
        self._connection_error = redis.ConnectionError
        #: claims sent and not yet answered, oldest first
        self._unanswered: deque[_RedisClaim] = deque()
        self.retention_ms = retention_ms
        self.prefix = prefix
        self._on_error = on_error
        self._breaker_seconds = breaker_seconds
        self._down_until = 0.0
        #: when Redis failed first since it last answered (None: it answers): "back" is said once
        self._down_since: float | None = None
        self._said_at = 0.0  # when the outage was last said (a warning a minute, not each retry)

    def duplicates(self, items: Sequence[Item]) -> list[bool]:
        """As :meth:`DedupStore.duplicates`; all False (and ``on_error``) while Redis fails,
        and for ``breaker_seconds`` after, so a Redis outage never stops the stream."""
        return self.claim(items).flags()

    def claim(self, items: Sequence[Item]) -> Answered | _RedisClaim:
        """As :meth:`DedupStore.claim`; its items' answers are all False if Redis fails before
        they are read (see ``duplicates``)."""
        if not items:
            return Answered([])
        if time.monotonic() < self._down_until:
            return Answered([False] * len(items))
        prefix = self.prefix
        commands: list[tuple[Any, ...]] = []
        sizes: list[int] = []
        for start in range(0, len(items), CLAIM_CHUNK):
            chunk = items[start:start + CLAIM_CHUNK]
            keys = [f"{prefix}{kind}:{event_id}" for kind, event_id, _ in chunk]
            coords = [where for _, _, where in chunk]
            joined_keys, joined_coords = "\n".join(keys), "\n".join(coords)
            if (joined_keys.count("\n") == joined_coords.count("\n") == len(chunk) - 1
                    and all(coords)):
                commands.append(("EVAL", _CLAIM_JOINED, 0, joined_keys, joined_coords,
                                 self.retention_ms))
            else:  # a newline or an empty coordinate in the chunk: one argument per item
                commands.append(("EVAL", _CLAIM, len(chunk), *keys, *coords, self.retention_ms))
            sizes.append(len(chunk))
        claim = _RedisClaim(self, commands, sizes)
        self._unanswered.append(claim)
        try:
            try:
                conn = self._connection()
                for command in commands:
                    conn.send_command(*command)
            except self._connection_error:
                self._resend()
        except Exception as exc:  # any failure: the breaker, never the stream
            self._failed(exc)
        return claim

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._redis.connection_pool.get_connection()
        return self._conn

    def _resend(self) -> None:
        """After a connection error (Redis restarted, or closed an idle connection): connect
        again and send every claim not answered yet again, once. A claim whose script ran
        already answers the same the second time: its keys hold its own coordinates."""
        conn = self._connection()
        conn.disconnect()
        conn.connect()
        for claim in self._unanswered:
            for command in claim.commands:
                conn.send_command(*command)

    def _answers(self, claim: _RedisClaim) -> list[bool]:
        out: list[bool] = []
        for size in claim.sizes:
            reply = self._conn.read_response()
            if not isinstance(reply, str) or len(reply) != size:
                raise ValueError(f"unexpected reply to a claim of {size}: {reply!r:.80}")
            out.extend(map("1".__eq__, reply))
        return out

    def _read(self, claim: _RedisClaim) -> None:
        """Read the answers of every claim up to ``claim``, in the order they were sent."""
        while claim.answers is None:
            oldest = self._unanswered[0]
            try:
                try:
                    out = self._answers(oldest)
                except self._connection_error:
                    self._resend()
                    out = self._answers(oldest)
            except Exception as exc:  # as in claim
                self._failed(exc)
                return
            self._unanswered.popleft()
            oldest.answers = out
            if self._down_since is not None:
                log.info("redis dedup is back after %.0f s; deduplicating across workers again",
                         time.monotonic() - self._down_since)
                self._down_since = None

    def _failed(self, exc: BaseException) -> None:
        """Redis down, a timeout, a protocol error: every claim not read yet is answered "not
        a duplicate" (the engine's own buffer still drops repeats within the allowed lateness),
        the connection is dropped, and Redis is not asked again for ``breaker_seconds``."""
        for claim in self._unanswered:
            claim.answers = [False] * sum(claim.sizes)
        self._unanswered.clear()
        self._drop_connection()
        now = time.monotonic()
        self._down_until = now + self._breaker_seconds
        if self._down_since is None:
            self._down_since = self._said_at = now
            log.warning("redis dedup unavailable (%s); falling back to in-engine dedup", exc)
        elif now - self._said_at >= STILL_DOWN_EVERY_S:  # not at every breaker retry (5 s)
            self._said_at = now
            log.warning("redis dedup still unavailable after %.0f s (%s)", now - self._down_since,
                        exc)
        if self._on_error:
            self._on_error("dedup")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._redis.connection_pool.release(conn)

    def close(self) -> None:
        """Release the Redis connections."""
        self._drop_connection()
        self._redis.close()


class _RedisClaim:
    __slots__ = ("answers", "commands", "sizes", "store")

    def __init__(self, store: RedisDedupStore, commands: list[tuple[Any, ...]],
                 sizes: list[int]) -> None:
        self.store, self.commands, self.sizes = store, commands, sizes
        self.answers: list[bool] | None = None

    def flags(self) -> list[bool]:
        """As :meth:`Claim.flags`."""
        if self.answers is None:
            self.store._read(self)
        assert self.answers is not None
        return self.answers
