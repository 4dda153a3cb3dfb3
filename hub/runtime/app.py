"""Builds the worker from a Settings and a rule pack, and runs it until it is told to stop.

Nothing happens at import time: ``create_app`` builds everything, so tests and the CLI choose the
configuration. The work itself is hub/runtime/pipeline.py (one transactional batch loop); this
module wires it: the codec, the registry reader, Redis dedup, the ingest and correlation stages,
the state changelog, Kafka's own log routed through Python logging, and signals.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from hub.adapters.dedup_store import RedisDedupStore
from hub.adapters.kafka import KafkaException, worker_clients
from hub.adapters.kafka.admin import KafkaAdminError, admin_client, ensure_topic, partition_count
from hub.adapters.topic_specs import load_topic_specs, partitions_of
from hub.codec import load_codec
from hub.core.dedup import DEFAULT_RETENTION_MS
from hub.core.lanes import lanes_of
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rules import RulePack
from hub.observability.kafka_log import kafka_logger
from hub.observability.metrics import HubMetrics, create
from hub.runtime.correlator import Correlator
from hub.runtime.handoff import EventHandoff
from hub.runtime.ingest import Ingestor
from hub.runtime.pipeline import Abandon, FatalKafkaError, Pipeline, Throttled
from hub.runtime.registry_check import RegistryCheck
from hub.runtime.registry_reader import RegistryReader
from hub.runtime.state_store import ChangelogStore, changelog_topic
from hub.runtime.stop_signals import StopSignals
from hub.runtime.supervise import EXIT_RESTARTABLE
from hub.settings import CORRELATE_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS, Settings

log = logging.getLogger(__name__)

#: Largest record the worker writes (producer request and state changelog topic). One engine key's
#: state can pass Kafka's 1 MB default while a slow source holds a rule back (events wait in the
#: key's buffer for that source's watermark), and a state write that fails must not stop the hub.
MAX_RECORD_BYTES = 16 * 1024 * 1024


@dataclass
class HubApp:
    """The worker ``create_app`` built: what ``run_worker`` runs, with its stages and metrics
    kept reachable for the CLI and tests."""

    settings: Settings
    pipeline: Pipeline
    metrics: HubMetrics
    correlator: Correlator
    ingestor: Ingestor
    registry_reader: RegistryReader


def _wait_for_topics(settings: Settings, stop: threading.Event, say: Throttled) -> int:
    """The correlation topic's partition count, once Kafka answers; creates the changelog."""
    admin = admin_client(settings.bootstrap, logger=logging.getLogger("hub.kafka"))
    attempt = 0
    while True:
        try:
            partitions = partition_count(admin, CORRELATE_TOPIC)
            if partitions is None:
                say("topics", logging.WARNING, "topic %s does not exist yet; run `hub topics "
                    "apply` (waiting for it)", CORRELATE_TOPIC)
            else:
                ensure_topic(admin, changelog_topic(settings.app_id), partitions=partitions,
                             configs={"cleanup.policy": "compact",
                                      "max.message.bytes": str(MAX_RECORD_BYTES)})
                return partitions
        except (KafkaAdminError, KafkaException) as exc:
            say("broker", logging.WARNING, "waiting for Kafka at %s: %s", settings.bootstrap, exc)
        if stop.wait(min(5.0, 0.5 * 2 ** attempt)):
            raise Abandon("waiting for Kafka")
        attempt += 1


def create_app(settings: Settings, pack: RulePack, *, worker_id: str,
               metrics: HubMetrics | None = None, verbose: bool = False) -> HubApp:
    """Wire the worker for these settings and rules: codec, registry reader, Redis dedup,
    ingest, correlation and the pipeline; ``run_worker`` waits for the topics and starts it."""
    metrics = metrics or create()
    codec = load_codec(settings.schemas_dir)
    registry = MemoryBuildingRegistry()
    kafka_log = kafka_logger(verbose=verbose)
    reader = RegistryReader(
        settings.bootstrap, REGISTRY_TOPIC, codec, registry, redis_url=settings.redis_url,
        on_change=metrics.registry_buildings.set, on_reject=metrics.registry_rejected.inc,
        logger=kafka_log, pseudonym_key=settings.pseudonym_key,
    )
    dedup = RedisDedupStore(
        settings.redis_url, DEFAULT_RETENTION_MS,
        on_error=lambda op: metrics.redis_errors.labels(op).inc(),
        prefix=f"hub:dedup:{settings.app_id}:",
    )
    handoff = EventHandoff()
    ingestor = Ingestor(codec=codec, lanes=lanes_of(pack), registry=registry, dedup=dedup,
                        metrics=metrics, pseudonym_key=settings.pseudonym_key,
                        deadletter_key=settings.deadletter_key,
                        future=pack.future_ms, handoff=handoff, app_id=settings.app_id)
    specs = load_topic_specs(settings.topics_file)
    origins = {
        kind: [f"{topic}/{p}" for p in range(partitions_of(specs, topic))]
        for kind, topic in SOURCE_TOPICS.items()
    }
    store = ChangelogStore(settings.bootstrap, changelog_topic(settings.app_id), logger=kafka_log)
    correlator = Correlator(pack=pack, codec=codec, registry=registry, store=store,
                            metrics=metrics, origins=origins, early=settings.early_alerts,
                            handoff=handoff, app_id=settings.app_id,
                            deadletter_key=settings.deadletter_key,
                            pseudonym_key=settings.pseudonym_key)
    clients = worker_clients(settings.bootstrap, settings.app_id, worker_id,
                             max_record_bytes=MAX_RECORD_BYTES, logger=kafka_log)
    pipeline = Pipeline(clients=clients, ingestor=ingestor, correlator=correlator,
                        registry=reader, codec=codec, metrics=metrics, worker_id=worker_id,
                        tick_seconds=settings.tick_seconds,
                        checkpoint_seconds=settings.checkpoint_seconds,
                        correlate_partitions=partitions_of(specs, CORRELATE_TOPIC),
                        registry_check=RegistryCheck(codec, metrics, ingestor.kept_for_dead_letter,
                                                     settings.pseudonym_key))
    store.stop = pipeline.stop
    return HubApp(settings, pipeline, metrics, correlator, ingestor, reader)


def run_worker(hub_app: HubApp, signals: StopSignals) -> int:
    """Run the worker in this process until SIGTERM/SIGINT (blocks); the exit status.

    0 after a stop on request; EXIT_RESTARTABLE (70) when only a new process can go on (a fenced
    or fatally failed producer, a bug in a batch): the supervisor restarts it from the last
    commit. After a stop request the process is gone within
    ``hub.runtime.stop_signals.STOP_DEADLINE_S`` (4 s), even when Kafka does not answer (the
    open batch is then abandoned, uncommitted): ``signals`` (installed before any thread
    started) sees the request even while a librdkafka call blocks this thread.
    """
    pipeline = hub_app.pipeline
    signals.on_stop(pipeline.stop.set)
    try:
        pipeline.correlate_partitions = _wait_for_topics(hub_app.settings, pipeline.stop,
                                                         pipeline.say)
        pipeline.start()
        log.info("worker %s running", pipeline.worker_id)
        pipeline.run()
    except Abandon as exc:
        log.info("stopped while %s", exc)
    except FatalKafkaError as exc:
        # A librdkafka call may still hang in another thread: leave without waiting for it.
        log.critical("%s; exiting for a restart from the last commit", exc)
        logging.shutdown()
        os._exit(EXIT_RESTARTABLE)
    except Exception:
        log.critical("a batch failed; exiting without committing it (restart the worker)",
                     exc_info=True)
        return EXIT_RESTARTABLE
    finally:
        pipeline.close()
    return 0


