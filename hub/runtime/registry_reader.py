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
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Event()

    async def sync(self, timeout: float = 5.0) -> bool:
        """Wait until every registry record already on the topic is applied (read-your-writes).

        Called before each batch, so an event produced after its building's record is enriched
        with it, online as offline. False (and a warning) if the reader could not catch up in time.
        """
        await self.ready.wait()
        consumer = self._consumer
        if consumer is None or not self._tps:
            return True
        try:
            targets = await consumer.end_offsets(self._tps)
        except Exception as exc:  # broker hiccup: go on with what is loaded
            log.warning("registry end offsets unavailable (%s); enriching with what is loaded", exc)
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(self._positions.get(tp, 0) < end for tp, end in targets.items()):
            self._progress.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("registry reader is behind the topic after %.0fs", timeout)
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                continue
        return True

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
            self._consumer, self._tps = consumer, tps
            targets = await consumer.end_offsets(tps)
            if all(v == 0 for v in targets.values()):
                self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for msg in records:
                        await self._apply(msg.key, msg.value, redis)
                positions = {tp: await consumer.position(tp) for tp in tps}
                self._positions = positions
                self._progress.set()
                if not self.ready.is_set():
                    if all(positions[tp] >= targets[tp] for tp in tps):
                        log.info("registry loaded: %d buildings", len(self.registry))
                        self.ready.set()
        finally:
            self._consumer = None
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
