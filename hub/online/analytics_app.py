"""The live area analytics as a Faust agent (``hub analytics --live``; docs/adr/0008).

A thin shell around :class:`hub.online.analytics.LiveFeed`: decode, feed, encode, send. One agent
(concurrency 1) reads hub.registry.building, hub.src.grid_report, hub.incidents and the app's own
clock topic, and publishes on hub.analytics.* (Avro values through hub.codec, keys from
``record_key``, the same bytes as ``hub analytics`` writes as JSON lines).

- **Every partition in one agent.** The aggregation is per area across all partitions, so the
  app's consumer group is new at every start (``<HUB_APP_ID>-analytics-<run id>``): this process
  is its only member and is assigned every input partition, read from the beginning
  (``consumer_auto_offset_reset="earliest"``, no committed offset). Nothing is kept between runs:
  the engines' state is rebuilt from the inputs, and the records published again are identical.
  Faust still commits offsets, to this run's group only, which no other run ever reads.
- **Barriers through the clock topic.** A timer reads each input partition's position and
  high-water mark (``app.consumer.position`` / ``highwater``, public Faust API) and sends a tick
  naming them to ``<HUB_APP_ID>-analytics-clock``. The tick is fetched after every message
  handed over before it was sent, and the agent takes messages in order, so when the agent
  takes the tick the barrier holds (:class:`hub.online.analytics.Barrier`). Ticks of other runs
  are skipped. A rebalance (a new generation) voids the barriers taken before it.
- **Published before the next input**: each input's records are acknowledged by Kafka before the
  agent takes the next message.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from faust.exceptions import ConsumerNotStarted

from hub.adapters.kafka.admin import admin_client, ensure_topic
from hub.codec import Codec
from hub.codec.deadletter import dead_letter_record
from hub.core.analytics import AnalyticsConfig
from hub.core.analytics.keys import record_key
from hub.model.errors import ConfigError, RecordError
from hub.online.analytics import INPUTS, Barrier, LiveFeed, Output, Where
from hub.settings import ANALYTICS_TOPICS, DEADLETTER_TOPIC, Settings

log = logging.getLogger(__name__)

#: seconds between two barriers (ticks): how soon a caught-up partition stops holding the
#: watermark back
TICK_SECONDS = 0.5
#: ticks sent and not yet taken by the agent: no more are sent while a backlog is read
MAX_PENDING_TICKS = 4


def clock_topic(app_id: str) -> str:
    """The live analytics' clock topic; one per ``HUB_APP_ID``, shared by its runs."""
    return f"{app_id}-analytics-clock"


def ensure_clock_topic(settings: Settings) -> str:
    """Create the clock topic if missing (one partition; ticks kept ten minutes); its name."""
    name = clock_topic(settings.app_id)
    ensure_topic(admin_client(settings.bootstrap), name, partitions=1,
                 configs={"retention.ms": "600000", "segment.ms": "600000"})
    return name


def check_inputs(settings: Settings) -> None:
    """The input and output topics exist (``hub topics apply``), or ConfigError naming them."""
    topics = admin_client(settings.bootstrap).list_topics(timeout=10).topics
    missing = [t for t in (*INPUTS, *ANALYTICS_TOPICS.values())
               if t not in topics or topics[t].error is not None or not topics[t].partitions]
    if missing:
        raise ConfigError(f"topics missing on {settings.bootstrap}: {', '.join(missing)}; "
                          "run `hub topics apply`")


class LiveAnalyticsApp:
    """The Faust app and what it counts; ``app`` runs it, ``published`` counts its records."""

    def __init__(self, settings: Settings, config: AnalyticsConfig, codec: Codec, *,
                 run_id: str | None = None, datadir: Path | None = None,
                 tick_seconds: float = TICK_SECONDS,
                 on_publish: Callable[[int], None] | None = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.codec = codec
        self.feed = LiveFeed(config)
        self.published = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.on_publish = on_publish
        self.clock = clock_topic(settings.app_id)
        self.generation = 0
        self.ticks_sent = 0
        self.ticks_taken = 0
        self.barriers: dict[int, tuple[int, Barrier]] = {}
        self.datadir = datadir or Path(tempfile.mkdtemp(prefix="hub-analytics-"))
        self.app = app = faust.App(
            f"{settings.app_id}-analytics-{self.run_id}",
            broker=f"kafka://{settings.bootstrap}",
            store="memory://",
            datadir=str(self.datadir),
            web_enabled=False,
            web_tables_enabled=False,
            consumer_auto_offset_reset="earliest",
            topic_disable_leader=True,  # no tables, no leader: no topic per run
            topic_allow_declare=False,
        )

        def raw(*names: str) -> Any:
            return app.topic(*names, key_serializer="raw", value_serializer="raw")

        self.inputs = raw(*INPUTS, self.clock)
        self.ticks = raw(self.clock)
        self.outputs = {kind: raw(topic) for kind, topic in ANALYTICS_TOPICS.items()}

        @app.on_partitions_revoked.connect
        async def _revoked(*_args: Any, **_kwargs: Any) -> None:
            self.new_generation()

        @app.on_partitions_assigned.connect
        async def _assigned(*_args: Any, **_kwargs: Any) -> None:
            self.new_generation()

        self.deadletter = raw(DEADLETTER_TOPIC)

        @app.agent(self.inputs, concurrency=1)
        async def analytics(stream: Any) -> None:
            async for event in stream.events():
                out = self.handle(event.message)
                if out:
                    await self.publish(out)
                late = self.feed.take_late()
                if late:
                    await self.dead_letter(late)

        async def _tick() -> None:
            await self.send_tick()

        app.timer(interval=tick_seconds)(_tick)

    def new_generation(self) -> None:
        """Partitions moved: a barrier taken before cannot be trusted."""
        self.generation += 1
        self.barriers.clear()
        self.ticks_taken = self.ticks_sent  # a tick in flight may have been dropped

    def handle(self, msg: Any) -> list[Output]:
        """One message off the agent's stream; the records to publish."""
        topic, partition, offset = str(msg.topic), int(msg.partition), int(msg.offset)
        value = msg.value or b""
        if topic == self.clock:
            return self.on_tick(value)
        if not value:
            return []
        where: Where = (topic, partition)
        try:
            kind, record = self.codec.decode(value)
            return self.feed.message(where, offset, kind, record)
        except RecordError as exc:  # the worker dead-letters such bytes on its inputs
            log.info("analytics: %s[%d]@%d skipped: %s", topic, partition, offset, exc)
        except Exception:  # a bug of ours: say so, keep the others' figures going
            log.exception("analytics: %s[%d]@%d failed", topic, partition, offset)
        self.skipped += 1
        return []

    def on_tick(self, value: bytes) -> list[Output]:
        """A tick back from the clock topic: release the barrier it carries, unless the tick is
        another run's or a rebalance came between (then nothing is published)."""
        run, _, seq = value.decode("ascii", "replace").partition(":")
        if run != self.run_id or not seq.isdigit():
            return []  # another run's, or an older one's
        self.ticks_taken = max(self.ticks_taken, int(seq))
        taken = self.barriers.pop(int(seq), None)
        if taken is None:
            return []
        generation, barrier = taken
        if generation != self.generation:
            return []
        return self.feed.barrier(barrier)

    async def send_tick(self) -> None:
        """Take a barrier and send the tick that carries it behind what was handed over."""
        if self.ticks_sent - self.ticks_taken >= MAX_PENDING_TICKS:
            return
        consumer = self.app.consumer
        generation = self.generation
        try:
            wanted = [tp for tp in consumer.assignment() if tp.topic in INPUTS]
            positions: dict[Where, int] = {}
            for tp in wanted:
                position = await consumer.position(tp)
                if position is None:
                    return
                positions[(tp.topic, tp.partition)] = int(position)
        except ConsumerNotStarted:
            return
        if not wanted:
            return
        ends = {(tp.topic, tp.partition): consumer.highwater(tp) for tp in wanted}
        if generation != self.generation:
            return
        self.ticks_sent += 1
        self.barriers[self.ticks_sent] = (generation, Barrier(positions, ends))
        await self.ticks.send(value=f"{self.run_id}:{self.ticks_sent}".encode("ascii"),
                              partition=0)

    async def publish(self, out: list[Output]) -> None:
        """Send the records; return when Kafka has acknowledged every one."""
        pending = []
        for kind, rec in out:
            record = rec.to_record()
            pending.append(await self.outputs[kind].send(
                key=record_key(kind, record).encode(), value=self.codec.encode(kind, record)))
        await asyncio.gather(*pending)
        self.published += len(out)
        if self.on_publish is not None:
            self.on_publish(self.published)

    async def dead_letter(self, late: list[tuple[Where, int, str, dict[str, Any], Any]]) -> None:
        """Each input refused as late (its period was published already) on hub.deadletter,
        reason LATE, with its topic, partition and offset and the record re-encoded; return
        when Kafka has acknowledged them. A late input was only logged at INFO before."""
        pending = []
        for (topic, partition), offset, kind, record, exc in late:
            letter = dead_letter_record(
                exc, topic=topic, partition=partition, offset=offset, key=None,
                value=self.codec.encode(kind, record), time_ms=int(time.time() * 1000),
                source_kind=kind, worker_id=self.app.conf.id)
            pending.append(await self.deadletter.send(
                key=None, value=self.codec.encode("dead_letter", letter)))
        await asyncio.gather(*pending)
        self.dead_lettered += len(late)

    def cleanup(self) -> None:
        """After the run: its data directory and its consumer group are of no further use."""
        shutil.rmtree(self.datadir, ignore_errors=True)


def run_live(settings: Settings, live: LiveAnalyticsApp, *, loglevel: str = "info") -> int:
    """Run the app in this process until SIGTERM/SIGINT; how many records it published."""
    try:
        faust.Worker(live.app, loglevel=loglevel, quiet=True).execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"the Faust worker exited with {exc.code}") from None
    finally:
        live.cleanup()
        _forget_group(settings, live.app.conf.id)
    return live.published


def _forget_group(settings: Settings, group: str) -> None:
    """Delete this run's consumer group (its offsets are never read again); best effort."""
    admin = admin_client(settings.bootstrap)  # held: a dropped client never answers
    try:
        for fut in admin.delete_consumer_groups([group], request_timeout=10).values():
            fut.result(timeout=10)
    except Exception as exc:  # the broker expires it anyway (offsets.retention.minutes)
        log.info("analytics: consumer group %s not deleted: %s", group, exc)
