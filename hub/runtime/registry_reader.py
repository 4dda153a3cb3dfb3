"""Keeps the building registry (楼宇身份证) in memory from its compacted topic.

Every worker reads the whole topic (all partitions, no consumer group), so any worker can enrich
any event; the agents wait until the registry has caught up with the topic's end offsets as they
were at start, so enrichment does not depend on how fast the registry loaded. Redis gets a mirror
(``hub:building:<id>``) for other apps; a Redis outage never stops the reader.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.codec import Codec
from hub.core.registry import MemoryBuildingRegistry
from hub.model.errors import RecordError
from hub.model.events import Building

log = logging.getLogger(__name__)


class RegistryReader:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        codec: Codec,
        registry: MemoryBuildingRegistry,
        *,
        redis_url: str | None = None,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.bootstrap, self.topic, self.codec, self.registry = bootstrap, topic, codec, registry
        self.ready = asyncio.Event()
        self._redis_url = redis_url
        self._on_change = on_change
        self.rejected = 0
        self._requested = 0  # sync() calls so far
        self._served = 0  # the newest sync() request known to be caught up
        self._progress = asyncio.Event()

    async def sync(self, timeout: float = 5.0) -> bool:
        """Wait until every registry record already on the topic is applied (read-your-writes).

        Called before each batch, so an event produced after its building's record is enriched
        with it, online as offline. The reader's own loop fetches the end offsets (the consumer
        is never used from two tasks); False, with a warning, if it could not catch up in time.
        """
        await self.ready.wait()
        self._requested += 1
        wanted = self._requested
        try:
            await asyncio.wait_for(self._wait_served(wanted), timeout)
        except TimeoutError:
            log.warning("registry reader did not catch up within %.0fs; enriching with what "
                        "is loaded", timeout)
            return False
        return True

    async def _wait_served(self, wanted: int) -> None:
        while self._served < wanted:
            self._progress.clear()
            await self._progress.wait()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        redis = None
        if self._redis_url:
            import redis.asyncio as aioredis

            redis = aioredis.Redis.from_url(self._redis_url, socket_timeout=1.0)
        try:
            parts = consumer.partitions_for_topic(self.topic)
            while not parts:
                await asyncio.sleep(0.5)
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(self.topic)
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            targets = await consumer.end_offsets(tps)
            if all(v == 0 for v in targets.values()):
                self.ready.set()
            positions = {tp: await consumer.position(tp) for tp in tps}
            while True:
                asked = self._requested
                ends = None
                if asked > self._served:  # someone waits: note where the topic ends now
                    try:
                        ends = await asyncio.wait_for(consumer.end_offsets(tps), 5.0)
                    except Exception as exc:  # a broker hiccup: the waiter times out and goes on
                        log.warning("registry end offsets unavailable: %s", exc)
                    if ends is not None and all(positions[tp] >= ends[tp] for tp in tps):
                        self._served = asked  # nothing new on the topic: no fetch needed
                        self._progress.set()
                        continue
                batches = await consumer.getmany(timeout_ms=100, max_records=1000)
                for records in batches.values():
                    for msg in records:
                        await self._apply(msg.key, msg.value, redis)
                positions = {tp: await consumer.position(tp) for tp in tps}
                if ends is not None and all(positions[tp] >= ends[tp] for tp in tps):
                    self._served = asked
                    self._progress.set()
                if not self.ready.is_set():
                    if all(positions[tp] >= targets[tp] for tp in tps):
                        log.info("registry loaded: %d buildings", len(self.registry))
                        self.ready.set()
        finally:
            await consumer.stop()
            if redis is not None:
                await redis.aclose()

    async def _apply(self, key: bytes | None, value: bytes | None, redis: object) -> None:
        if value is None:  # tombstone: the building left the registry
            if key:
                self.registry.remove(key.decode())
            return
        try:
            kind, record = self.codec.decode(value)
            if kind != "building_identity":
                raise RecordError(f"{kind} record on the registry topic", field="kind")
            building = Building.from_record(record)
        except (RecordError, KeyError, ValueError) as exc:
            self.rejected += 1
            log.warning("registry record rejected: %s", exc)
            return
        if self.registry.put(building) and self._on_change:
            self._on_change(len(self.registry))
        if redis is not None:
            try:
                await redis.set(  # type: ignore[attr-defined]
                    f"hub:building:{building.building_id}",
                    json.dumps(building.to_record(), ensure_ascii=False),
                )
            except Exception as exc:  # the mirror is best effort
                log.debug("registry mirror to redis failed: %s", exc)
