"""The confluent-kafka client types and the factories of the worker's own clients.

Every Kafka client of the hub is made in this package (the worker's transactional producer and
group consumer, the registry and state readers, the tools' consumers and producers in io.py, the
AdminClient in admin.py); nothing else in hub/ imports confluent_kafka (tests/unit/
test_architecture.py). The names the rest of the code needs are re-exported from hub.adapters.kafka.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from hub.settings import Settings

__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "Clients",
    "Consumer",
    "KafkaError",
    "KafkaException",
    "Message",
    "Producer",
    "TopicPartition",
    "make_ends_probe",
    "make_offsets_consumer",
    "make_registry_consumer",
    "make_restore_consumer",
    "make_viewer_consumer",
    "make_worker_consumer",
    "make_worker_producer",
    "worker_clients",
]


@dataclass
class Clients:
    """The worker's Kafka clients and how to build them (tests pass their own configs)."""

    consumer_config: dict[str, Any]
    producer_config: dict[str, Any]


def worker_clients(bootstrap: str, app_id: str, worker_id: str, *, max_record_bytes: int,
                   logger: Any = None) -> Clients:
    """The worker's group consumer and transactional producer configs (hub/runtime/pipeline.py)."""
    common: dict[str, Any] = {"bootstrap.servers": bootstrap, "log.connection.close": False}
    if logger is not None:
        common["logger"] = logger
    consumer = {
        **common,
        "client.id": f"{app_id}-{worker_id}",
        "group.id": app_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        # A killed worker's partitions move to the survivors within ~10 s.
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 3_000,
        # Range: every member gets the same share of each topic (partitions [0, 1] of all six
        # and [2, 3] for two members), so a second worker takes half of the correlation too,
        # and most forwards stay in the process (the site lane of source partition k is on
        # correlation partition k). cooperative-sticky moved fewer partitions at a join, but
        # topic-blind: a worker joining a running one got three whole source topics and the
        # first kept every correlation partition, so two processes did worse than one
        # (BENCHMARKS.md §3, run AE). The price: a rebalance revokes everything, and each
        # member checkpoints and reads its correlation state again (~2 s for 10,000 states).
        "partition.assignment.strategy": "range",
        # How long the broker holds a fetch that finds nothing new (data arriving, a commit
        # marker included, answers it at once). Every answered fetch costs the broker CPU on
        # the cores the worker shares with it: 50 ms made an idle worker cost the broker ~0.07
        # cores more than 500 (benchmarks/idle_bench.py).
        "fetch.wait.max.ms": 500,
        "queued.max.messages.kbytes": 32 * 1024,
        # librdkafka prefetches up to 100,000 messages per partition by default: a flood on one
        # key (one partition) then sat in the client's queue as ~100k small messages beside the
        # engine's state. The loop takes batches of at most BATCH_MAX (5,000).
        "queued.min.messages": 10_000,
        # Above those thresholds librdkafka postpones the partition's next fetch by this much
        # (default 1,000 ms). With 10,000 messages a partition and batches of 5,000, a replayed
        # backlog crossed them every few batches, and the loop then polled an empty queue for
        # 0.15-0.45 s each time: 47 empty polls in a 200,000-event worker_bench run, 14 % of
        # its busy time (BENCHMARKS.md §3, run U).
        "fetch.queue.backoff.ms": 10,
    }
    producer = {
        **common,
        "client.id": f"{app_id}-{worker_id}",
        # One transactional id per worker process name: a restarted worker of the same name
        # fences its predecessor's open transaction at once; zombies of other names are fenced
        # by the group generation (KIP-447) when they try to commit offsets.
        "transactional.id": f"{app_id}-{worker_id}",
        "transaction.timeout.ms": 15_000,
        "acks": "all",
        "enable.idempotence": True,
        # Same partition as the Java client (and Faust) for the same key.
        "partitioner": "murmur2_random",
        "linger.ms": 2,
        "batch.size": 512 * 1024,
        "message.max.bytes": max_record_bytes,
        "compression.type": "lz4",
    }
    return Clients(consumer, producer)


def make_worker_producer(clients: Clients) -> Producer:
    """The worker's transactional producer (call ``init_transactions`` before use)."""
    return Producer(clients.producer_config)


def make_worker_consumer(clients: Clients) -> Consumer:
    """The worker's group consumer (subscribe it; offsets go through the transaction)."""
    return Consumer(clients.consumer_config)


def _with_logger(config: dict[str, Any], logger: Any) -> dict[str, Any]:
    if logger is not None:
        config["logger"] = logger
    return config


def make_registry_consumer(bootstrap: str, *, logger: Any = None) -> Consumer:
    """The building registry's reader (hub/runtime/registry_reader.py): assigns every partition
    itself, never joins its group, reports end of partition."""
    return Consumer(_with_logger({
        "bootstrap.servers": bootstrap,
        "group.id": "hub-registry-reader",  # never joined: partitions are assigned
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        # The registry changes rarely; a write answers the waiting fetch at once. 10 ms here
        # was 100 fetches a second for ever: ~0.11 of a core of the broker's, worker idle or
        # busy (BENCHMARKS.md §3, run AE).
        "fetch.wait.max.ms": 500,
        "log.connection.close": False,
    }, logger))


def make_ends_probe(bootstrap: str, *, logger: Any = None) -> Consumer:
    """A consumer that never fetches, for asking where partitions end (``offsets_for_times``
    with OFFSET_END: one ListOffsets request for all of them).

    Asked through a reader that is fetching, the question waits behind its long-poll fetch on
    the same broker connection (the broker answers a connection's requests in order): 10 ms a
    request here, 45 ms for the registry's four partitions before every batch. Through an idle
    client it takes ~0.3 ms. Read-committed like the readers it serves, so the end it reports
    is the one they can reach.
    """
    return Consumer(_with_logger({
        "bootstrap.servers": bootstrap,
        "group.id": "hub-ends-probe",  # never joined: nothing is assigned or subscribed
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "log.connection.close": False,
        # It never polls, so its lines reached the log only when it was closed, minutes late
        # ("Connection refused (repeated 1546 times)" after a broker outage, an outside
        # probe). What fails here raises from its one call; the worker's clients say the rest.
        "log_level": 0,
    }, logger))


def make_restore_consumer(bootstrap: str, topic: str, *, logger: Any = None) -> Consumer:
    """The state changelog's restore reader (hub/runtime/state_store.py): committed records
    only, large fetches, end of partition reported."""
    return Consumer(_with_logger({
        "bootstrap.servers": bootstrap,
        "group.id": f"restore-{topic}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "fetch.wait.max.ms": 10,
        "log.connection.close": False,
    }, logger))


def make_offsets_consumer(settings: Settings) -> Consumer:
    """A consumer in the worker group that only reads its committed offsets (``hub flush
    --wait``'s lag); it never subscribes, so the group is not rebalanced."""
    return Consumer({"bootstrap.servers": settings.bootstrap, "group.id": settings.app_id,
                     "enable.auto.commit": False})


def make_viewer_consumer(settings: Settings, group_id: str,
                         extra: Mapping[str, Any] | None = None) -> Consumer:
    """A consumer that reads a topic from the start in its own group (``hub demo``'s viewer)."""
    return Consumer({"bootstrap.servers": settings.bootstrap, "group.id": group_id,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     **(extra or {})})
