"""Builds the Faust app: agents, the state table, the tick timer and the registry reader.

Nothing happens at import time: ``create_app`` builds everything from a Settings and a rule pack,
so tests and the CLI choose the configuration. Faust choices follow ../shared/FAUST-NOTES.md:
agents with concurrency 1, ``take_events`` batches acknowledged only after their sends are
delivered, a plain changelog-backed Table used as storage (no windowed tables, no joins), ticks as
messages through the agent (tables cannot be changed from timers), at-least-once delivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import faust

from hub.adapters.dedup_store import RedisDedupStore
from hub.adapters.range_reader import RangeReader, as_events
from hub.adapters.topic_specs import load_topic_specs
from hub.codec import load_codec
from hub.core.dedup import DEFAULT_RETENTION_MS
from hub.core.lanes import lanes_of
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rules import RulePack
from hub.observability.metrics import HubMetrics, create
from hub.runtime import faust_consumer
from hub.runtime.continuity import Continuity
from hub.runtime.correlator import Correlator, StateTable
from hub.runtime.ingest import KIND_OF_TOPIC, Ingestor
from hub.runtime.liveness import Progress, tails_to_reread, view_of
from hub.runtime.outbox import Outbox
from hub.runtime.registry_reader import RegistryReader
from hub.runtime.supervise import EXIT_RESTARTABLE
from hub.settings import CORRELATE_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS, Settings

log = logging.getLogger(__name__)

CORRELATE_PARTITIONS = 4
#: Largest record the worker writes (producer request and state changelog topic). One engine key's
#: state can pass Kafka's 1 MB default while a slow source holds a rule back (events wait in the
#: key's buffer for that source's watermark), and a state write that fails must not stop the hub.
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: A source partition with unprocessed messages whose commit has not moved this long is stalled.
WATCHDOG_SECONDS = 60.0
#: A source partition whose commit has not moved this long, with offsets after the last one its
#: agent saw, is fetched again from there (the tail of what Faust fetched was dropped).
REREAD_SECONDS = 10.0
#: How often the watchdog asks the broker for the end of a partition Faust has not fetched yet.
ENDS_SECONDS = 5.0
#: A hole longer than this is not read again in-process: the worker restarts from its commit.
MAX_REFETCH = 100_000


def _fail_stop(agent: str, exc: BaseException) -> None:
    """A batch failed after it changed state or sent part of its output: end the process now.

    Faust's ``take_events`` acknowledges a batch in a ``finally`` block, so letting the exception
    crash the agent (Faust then restarts it) would commit the offsets of a batch whose incidents,
    forwards or state writes were never delivered: silent loss. Exiting at once, like a SIGKILL,
    commits nothing; the restarted worker (systemd, Kubernetes, ``hub worker`` in a loop) resumes
    from the last commit and the changelog, which is the at-least-once path the crash tests prove.
    """
    log.critical("%s batch failed; exiting without committing it (restart the worker): %r",
                 agent, exc, exc_info=exc)
    logging.shutdown()
    os._exit(EXIT_RESTARTABLE)


@dataclass
class HubApp:
    app: faust.App
    metrics: HubMetrics
    correlator: Correlator
    ingestor: Ingestor
    registry_reader: RegistryReader


def create_app(settings: Settings, pack: RulePack, *, worker_id: str,
               metrics: HubMetrics | None = None) -> HubApp:
    metrics = metrics or create()
    codec = load_codec(settings.schemas_dir)
    registry = MemoryBuildingRegistry()
    datadir = settings.state_dir / "worker" / worker_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=CORRELATE_PARTITIONS,
        web_enabled=False,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_tables_enabled=False,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=4096,
        broker_max_poll_records=1000,
        producer_acks=-1,
        table_standby_replicas=0,
        # A killed worker's partitions move to the survivors within ~10 s, not Faust's 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        topic_replication_factor=1,
        producer_max_request_size=MAX_RECORD_BYTES,
        # Batches are awaited as a whole (outbox.py): let the producer pack each batch's sends
        # into few requests instead of one request per forward, incident or state entry.
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
    )
    source_topic = app.topic(*SOURCE_TOPICS.values(), key_serializer="raw",
                             value_serializer="raw")
    correlate_topic = app.topic(CORRELATE_TOPIC, key_serializer="raw", value_serializer="raw",
                                partitions=CORRELATE_PARTITIONS)
    raw: faust.Schema = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    # key_type/value_type too: Faust picks the changelog's serializers from them, not from the
    # schema (tables/base.py::_serializer_from_type falls back to json), and a json key decoder
    # fails on "0|offset" during recovery, which then never completes.
    table = app.Table("engine-state", schema=raw, key_type=bytes, value_type=bytes,
                      partitions=CORRELATE_PARTITIONS,
                      extra_topic_configs={"max.message.bytes": str(MAX_RECORD_BYTES)})
    reader = RegistryReader(
        settings.bootstrap, REGISTRY_TOPIC, codec, registry, redis_url=settings.redis_url,
        on_change=metrics.registry_buildings.set,
    )
    dedup = RedisDedupStore(
        settings.redis_url, DEFAULT_RETENTION_MS,
        on_error=lambda op: metrics.redis_errors.labels(op).inc(),
        prefix=f"hub:dedup:{settings.app_id}:",
    )
    ingestor = Ingestor(codec=codec, lanes=lanes_of(pack), registry=registry, dedup=dedup,
                        metrics=metrics, pseudonym_key=settings.pseudonym_key)
    partitions = {s.name: s.partitions for s in load_topic_specs(settings.topics_file)}
    origins = {
        kind: [f"{topic}/{p}" for p in range(partitions.get(topic, CORRELATE_PARTITIONS))]
        for kind, topic in SOURCE_TOPICS.items()
    }
    correlator = Correlator(pack=pack, codec=codec, registry=registry, table=StateTable(table),
                            metrics=metrics, origins=origins)

    range_reader = RangeReader(settings.bootstrap)

    async def read_range(topic: str, partition: int, start: int, end: int) -> list[Any]:
        if end - start > MAX_REFETCH:
            raise RuntimeError(f"{topic}/{partition} skipped {end - start} offsets from {start}; "
                               f"more than {MAX_REFETCH} are read from the commit by a restart")
        return as_events(await range_reader.aread(topic, partition, start, end))

    def continuity(agent: str) -> Continuity:
        return Continuity(
            agent=agent,
            starts=lambda tps: range_reader.astarts(settings.app_id, tps),
            owned=lambda: faust_consumer.assigned(app),
            read_range=read_range,
            mark_acked=lambda tp, offsets: faust_consumer.mark_acked(app, tp, offsets),
            on_refetched=metrics.refetched_messages.labels(agent).inc,
            on_left_out=lambda why, n: metrics.left_out_messages.labels(agent, why).inc(n),
        )

    guards = {"ingest": continuity("ingest"), "correlate": continuity("correlate")}

    async def run_batches(stream: Any, agent: str, size: int, handle: Any) -> AsyncIterator[Any]:
        """Each batch: registry barrier, holes filled, handle, await every send; yield it once
        delivered."""
        guard = guards[agent]
        async for events in stream.take_events(size, within=0.1):
            await reader.sync()
            started = time.perf_counter()
            outbox = Outbox(app, codec, worker_id)
            try:
                admitted = await guard.admit(events)
                await handle(admitted, outbox)
                await outbox.flush()
                guard.settle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _fail_stop(agent, exc)
            metrics.batch_seconds.labels(agent).observe(time.perf_counter() - started)
            yield admitted

    @app.agent(source_topic, concurrency=1)
    async def ingest(stream: Any) -> None:
        async for events in run_batches(stream, "ingest", 1000, ingestor.handle_batch):
            for ev in events:  # delivered downstream: ticks may now vouch for these offsets
                msg = ev.message
                delivered[(msg.topic, msg.partition)] = msg.offset

    @app.agent(correlate_topic, concurrency=1)
    async def correlate(stream: Any) -> None:
        async for _ in run_batches(stream, "correlate", 2000, correlator.handle_batch):
            pass

    delivered: dict[tuple[str, int], int] = {}  # source (topic, partition) -> last forwarded

    def caught_up() -> list[str]:
        """Source partitions of this worker whose every message has been forwarded."""
        consumer: Any = app.consumer
        committed = consumer._committed_offset  # Faust commits only processed offsets
        done = []
        for tp in consumer.assignment():
            if tp.topic not in KIND_OF_TOPIC:
                continue
            end = consumer.highwater(tp)
            if end is None:
                continue
            last = delivered.get((tp.topic, tp.partition))
            forwarded = last is not None and last + 1 >= end
            if end == 0 or forwarded or (committed.get(tp) or 0) >= end:
                done.append(f"{tp.topic}/{tp.partition}")
        return sorted(done)

    commit_moved: dict[Any, tuple[Any, float]] = {}  # source tp -> (committed offset, since)
    resumed: set[Any] = set()  # source tps the watchdog resumed since their commit last moved
    reread: set[Any] = set()  # source tps fetched again since their commit last moved

    broker_ends: dict[tuple[str, int], tuple[int, float]] = {}  # -> (end offset, read at)

    async def ends_of(tps: list[Any], now: float) -> dict[Any, int | None]:
        """End offsets of source partitions: Faust's highwater, else the broker's.

        Faust knows a partition's highwater only once it has fetched from it; a partition it
        never fetches (seen: a worker that took partitions after a restart and received nothing
        for 5 minutes) would otherwise look idle to the watchdog forever. The broker is asked at
        most every ENDS_SECONDS, and a failure (broker down) only leaves the end unknown.
        """
        consumer: Any = app.consumer
        out: dict[Any, int | None] = {tp: consumer.highwater(tp) for tp in tps}
        stale = [(tp.topic, tp.partition) for tp, end in out.items() if end is None and
                 now - broker_ends.get((tp.topic, tp.partition), (0, -ENDS_SECONDS))[1]
                 >= ENDS_SECONDS]
        if stale:
            try:
                fresh = await asyncio.wait_for(range_reader.aends(stale), timeout=10.0)
            except Exception as exc:  # the watchdog must keep running; try again later
                log.warning("cannot read end offsets of %s: %r", stale, exc)
                fresh = {}
            broker_ends.update({tp: (end, now) for tp, end in fresh.items()})
        for tp, end in out.items():
            if end is None and (tp.topic, tp.partition) in broker_ends:
                out[tp] = broker_ends[(tp.topic, tp.partition)][0]
        return out

    async def reread_tails(now: float, ends: dict[Any, int | None]) -> None:
        """Fetch again a source partition whose last fetched messages Faust dropped.

        The continuity guard sees a hole when a later message arrives; when none does (the
        dropped messages were the last ones fetched), nothing reaches the agent and the commit
        stays put. Seeking Faust's consumer back to the next offset the agent expects makes it
        fetch them again; anything still queued comes twice and the guard leaves the copy out.
        """
        consumer: Any = app.consumer
        if app.in_recovery or not consumer.flow_active:
            return
        progress = {
            tp: Progress(committed=done, since=since, end=ends.get(tp),
                         position=guards["ingest"].position((tp.topic, tp.partition)))
            for tp in consumer.assignment()
            if tp.topic in KIND_OF_TOPIC and tp not in reread
            for done, since in [commit_moved.get(tp, (None, now))]
        }
        for tp, position in tails_to_reread(progress, now, REREAD_SECONDS).items():
            log.warning("%s/%d: no progress for %.0fs with offsets [%d, %s) not seen; fetching "
                        "them again", tp.topic, tp.partition, now - progress[tp].since, position,
                        progress[tp].end)
            reread.add(tp)
            metrics.partitions_reread.inc()
            # seek_wait runs in Faust's consumer thread and resets Faust's read offset too.
            await asyncio.wait_for(consumer.seek_wait({tp: position}), timeout=10.0)

    async def check_liveness() -> None:
        """Exit (for the supervisor to restart us) if a source partition stopped moving.

        Seen in CI: after a rebalance a worker kept its source partitions but stopped consuming
        or committing some of them, with nothing logged. A partition with unprocessed messages
        whose committed offset has not moved for WATCHDOG_SECONDS is such a stall; exiting
        commits nothing, and the restart resumes from the last commit and the changelog.
        """
        consumer: Any = app.consumer
        committed = consumer._committed_offset
        now = time.monotonic()
        stuck: dict[Any, str] = {}
        ends = await ends_of([tp for tp in consumer.assignment() if tp.topic in KIND_OF_TOPIC], now)
        for tp, end in ends.items():
            done = committed.get(tp)
            seen = commit_moved.get(tp)
            if seen is None or seen[0] != done:
                commit_moved[tp] = (done, now)
                resumed.discard(tp)
                reread.discard(tp)
            elif end is not None and (done or 0) < end and now - seen[1] > WATCHDOG_SECONDS:
                stuck[tp] = f"{tp.topic}/{tp.partition} at {done} of {end}"
        await reread_tails(now, ends)
        if not stuck:
            return
        views = {tp: view_of(app, tp) for tp in stuck}
        report = "; ".join(f"{stuck[tp]} ({views[tp]})" for tp in sorted(stuck))
        if all(v.resumable and tp not in resumed for tp, v in views.items()):
            log.warning("source partitions stalled for %.0fs with Faust holding them paused; "
                        "resuming them once: %s", WATCHDOG_SECONDS, report)
            consumer.resume_partitions(list(stuck))
            for tp in stuck:
                resumed.add(tp)
                commit_moved[tp] = (committed.get(tp), now)
            metrics.partitions_resumed.inc(len(stuck))
            return
        _fail_stop("liveness", RuntimeError(
            f"no progress for {WATCHDOG_SECONDS:.0f}s on {report}"))

    @app.timer(interval=settings.tick_seconds)
    async def tick() -> None:
        await check_liveness()
        # A tick vouches only for source partitions this worker has fully forwarded, so a stalled
        # ingest (rebalance, broker outage, CPU starvation) never looks like a silent source.
        origins = caught_up()
        if not origins:
            return
        wall = str(int(time.time() * 1000)).encode()
        for p in range(CORRELATE_PARTITIONS):
            await correlate_topic.send(key=None, value=b"", partition=p, headers=[
                ("hub-tick", wall), ("hub-tick-origins", ",".join(origins).encode()),
            ])

    @app.task
    async def load_registry() -> None:
        await reader.run()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        correlator.forget(tp.partition for tp in revoked if tp.topic == CORRELATE_TOPIC)
        for tp in revoked:  # a new owner forwards them from its commit
            delivered.pop((tp.topic, tp.partition), None)
        for guard in guards.values():
            guard.reset()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        for guard in guards.values():
            guard.reset()

    return HubApp(app, metrics, correlator, ingestor, reader)


def run_worker(hub_app: HubApp, *, loglevel: str = "info") -> int:
    """Run the Faust worker in this process until it is stopped (blocks)."""
    worker = faust.Worker(hub_app.app, loglevel=loglevel, quiet=True)
    # At --loglevel warning or above, Faust's terminal spinner sets the ROOT logger to DEBUG (and
    # feeds every record to a spinner handler; faust/worker.py _setup_spinner_handler), so every
    # aiokafka/Faust debug call builds a LogRecord: ~4 % of a busy worker's time in py-spy.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
