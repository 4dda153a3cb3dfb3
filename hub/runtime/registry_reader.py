"""Keeps the building registry (楼宇身份证) in memory from its compacted topic.

Every worker reads the whole topic (all partitions, no consumer group), so any worker can enrich
any event. Before each batch the worker calls ``sync``: the registry then holds every record that
was on the topic when the batch started (read-your-writes), so an event produced after its
building's record is enriched with it, online as offline, however fast the registry loaded.
Redis gets a best-effort mirror (``hub:building:<id>``) for other apps; a Redis outage never stops
the reader.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from hub.adapters.kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    KafkaError,
    KafkaException,
    TopicPartition,
    make_ends_probe,
    make_registry_consumer,
)
from hub.codec import Codec
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Building
from hub.runtime.registry_check import read_card

log = logging.getLogger(__name__)

#: seconds of one wait for the registry's records while behind its end
SLICE_S = 0.005

#: After a Redis error the mirror is skipped for this long (a down Redis must not slow ingest).
MIRROR_BREAKER_S = 5.0


class RegistryReader:
    """Keeps a MemoryBuildingRegistry equal to the registry topic (see the module doc); ``sync``
    before each batch."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        codec: Codec,
        registry: MemoryBuildingRegistry,
        *,
        redis_url: str | None = None,
        on_change: Callable[[int], None] | None = None,
        on_reject: Callable[[], None] | None = None,
        logger: Any = None,
        pseudonym_key: str | None = None,
    ) -> None:
        self.topic, self.codec, self.registry = topic, codec, registry
        #: the cards' free text is kept with personal numbers pseudonymized (read_card)
        self.pseudonym_key = pseudonym_key
        self._on_change, self._on_reject = on_change, on_reject
        self.rejected = 0
        self._consumer = make_registry_consumer(bootstrap, logger=logger)
        #: asks where the partitions end without queueing behind the reader's fetches
        self._probe = make_ends_probe(bootstrap, logger=logger)
        self._tps: list[TopicPartition] = []
        #: partition -> the offset read up to (end-of-partition events say where the end is,
        #: past offsets that compaction removed)
        self._reached: dict[int, int] = {}
        self._redis: Any = None
        self._redis_down_until = 0.0
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5,
                                               socket_connect_timeout=0.5)

    def _assign(self, timeout: float) -> bool:
        if self._tps:
            return True
        meta = self._consumer.list_topics(self.topic, timeout=timeout).topics.get(self.topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return False
        self._tps = [TopicPartition(self.topic, p, OFFSET_BEGINNING)
                     for p in sorted(meta.partitions)]
        self._consumer.assign(self._tps)
        return True

    def sync(self, timeout: float = 5.0) -> bool:
        """Apply every record already on the topic; False if that took longer than ``timeout``
        or the broker could not say where the topic ends (the batch goes on with what is
        loaded)."""
        deadline = time.monotonic() + timeout
        try:
            if not self._assign(timeout):
                return False
            ends = self._ends(timeout)
            reached = self._reached
            while True:
                if all(reached.get(p, 0) >= end for p, end in ends.items()):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                # consume() returns when it has num_messages or the timeout is over: slices of
                # 0.1 s made the batch after any registry write wait 100 ms; 5 ms slices
                # see the write 6-7 ms after it (benchmarks/idle_bench.py)
                for msg in self._consumer.consume(num_messages=1000, timeout=min(left, SLICE_S)):
                    err = msg.error()
                    p, offset = msg.partition() or 0, msg.offset() or 0
                    if err is None:
                        self._apply(msg.key(), msg.value())
                        reached[p] = max(reached.get(p, 0), offset + 1)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        reached[p] = max(reached.get(p, 0), offset)
        except KafkaException as exc:
            log.debug("registry sync failed: %s", exc)
            return False

    def _ends(self, timeout: float) -> dict[int, int]:
        """Where each partition ends now, in one request through the idle probe."""
        asked = [TopicPartition(self.topic, tp.partition, OFFSET_END) for tp in self._tps]
        ends = {}
        for tp in self._probe.offsets_for_times(asked, timeout=timeout):
            if tp.error is not None:
                raise KafkaException(tp.error)
            ends[tp.partition] = tp.offset
        return ends

    def close(self) -> None:
        """Close the consumer (nothing to commit: it has no group)."""
        self._consumer.close()
        self._probe.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        # A record that does not read is skipped and counted, never raised: the reader reads the
        # topic from the beginning before every batch, so one bad record raised would stop
        # every batch of every worker, for as long as compaction keeps it. The worker group
        # dead-letters it once (hub/runtime/registry_check.py).
        try:
            card = read_card(self.codec, key, value, self.pseudonym_key)
        except Exception as exc:  # RecordError mostly; whatever it is, this record's alone
            self._rejected()
            log.warning("registry record rejected (key %r; it goes to hub.deadletter): %s: %s",
                        (key or b"")[:64], type(exc).__name__, exc)
            return
        if isinstance(card, str):  # a tombstone: the building left the registry
            self.registry.remove(card)
            self._mirror_removal(card)
            return
        if not self.registry.put(card):
            return  # an older record than the one held: Redis keeps the newer card too
        if self._on_change:
            self._on_change(len(self.registry))
        self._mirror(card)

    def _rejected(self) -> None:
        self.rejected += 1
        if self._on_reject is not None:
            self._on_reject()

    def _mirror_removal(self, building_id: str) -> None:
        if self._redis is None or time.monotonic() < self._redis_down_until:
            return
        try:
            self._redis.delete(f"hub:building:{building_id}")
        except Exception as exc:  # best effort, like the mirror itself
            self._redis_down_until = time.monotonic() + MIRROR_BREAKER_S
            log.debug("registry mirror to redis failed: %s", exc)

    def _mirror(self, building: Building) -> None:
        if self._redis is None or time.monotonic() < self._redis_down_until:
            return
        try:
            self._redis.set(f"hub:building:{building.building_id}",
                            json.dumps(building.to_record(), ensure_ascii=False))
        except Exception as exc:  # the mirror is best effort
            self._redis_down_until = time.monotonic() + MIRROR_BREAKER_S
            log.debug("registry mirror to redis failed: %s", exc)
