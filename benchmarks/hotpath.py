"""The worker's own per-event cost, without Kafka: ingest and correlation over in-memory batches.

    python -m benchmarks.hotpath --in preload.jsonl            # a worker_bench preload, or any file
    python -m benchmarks.hotpath --in preload.jsonl --profile 25

worker_bench (§3 of BENCHMARKS.md) measures the worker through a real broker on a shared 2-core
machine, where the broker's CPU and the transaction round trips blur what the worker's own Python
costs. This runs the same Ingestor and Correlator code the worker runs (hub/runtime), batch by
batch as the pipeline does, with the Kafka client replaced by in-memory lists: source messages are
Avro single-object values exactly as `hub produce` writes them; what the outbox sends to the
correlation topic becomes the next batches' input, with a tick to every correlation partition
after each batch (wall time = the newest event time); changelog, incidents and dead letters are only
counted. Dedup uses the memory twin of the Redis store (``--redis URL`` uses Redis itself).
Batches of ``--batch`` messages, a checkpoint every ``--checkpoint-every`` batches.

It prints CPU µs per source event for ingest and correlation apart, the messages each sent, and
(``--profile N``) cProfile's top N by own time. A guide for work on the hot path, not the goal's
judge: the goal is judged through the broker by worker_bench.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from hub.adapters.dedup_store import DedupStore, MemoryDedupStore, RedisDedupStore
from hub.codec import load_codec
from hub.codec.interchange import read_jsonl, to_building
from hub.core.lanes import lanes_of
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.gc_policy import tune_for_throughput
from hub.observability.metrics import create
from hub.runtime.correlator import Correlator
from hub.runtime.handoff import EventHandoff
from hub.runtime.ingest import Ingestor
from hub.runtime.outbox import Outbox
from hub.runtime.state_store import ChangelogStore
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS, Settings

PARTITIONS = 4


class Message:
    """The part of confluent_kafka.Message the worker reads."""

    __slots__ = ("_headers", "_key", "_offset", "_partition", "_topic", "_value")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes | None, headers: list[tuple[str, bytes]] | None) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._headers = key, value, headers

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)

    def error(self) -> None:
        return None


class Producer:
    """Keeps what goes to the correlation topic (as messages to read next); counts the rest."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.forwards: list[Message] = []
        self._offsets = [0] * PARTITIONS

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None,
                headers: list[tuple[str, bytes]] | None = None,
                partition: int | None = None) -> None:
        self.sent[topic] += 1
        if topic != CORRELATE_TOPIC:
            return
        p = partition if partition is not None else zlib.crc32(key or b"") % PARTITIONS
        self.forwards.append(Message(topic, p, self._offsets[p], key, value, headers))
        self._offsets[p] += 1

    def poll(self, timeout: float = 0) -> int:
        return 0


class MemoryStore(ChangelogStore):
    """Nothing to restore: every partition starts empty."""

    def _restore(self, partitions: list[int]) -> dict[int, dict[bytes, bytes]]:
        return {p: {} for p in partitions}


def send_ticks(producer: Producer, ingestor: Ingestor) -> None:
    """A tick to every correlation partition after a batch, as the worker sends once a second:
    without them a correlation partition's engines wait for source partitions that forward
    nothing to it, and release (and evaluate) nothing. Wall time is the newest event time, every
    source partition vouched quiet: the events are all there is."""
    progress = dict(ingestor.progress)
    wall = max(progress.values(), default=0)
    origins = ",".join(f"{t}/{p}" for t in SOURCE_TOPICS.values() for p in range(PARTITIONS))
    headers = [("hub-tick", str(wall).encode()), ("hub-tick-origins", origins.encode()),
               ("hub-tick-progress", json.dumps(progress).encode())]
    for p in range(PARTITIONS):
        producer.produce(CORRELATE_TOPIC, None, None, headers, partition=p)


def source_messages(path: Path, key: str) -> tuple[list[Message], MemoryBuildingRegistry]:
    codec = load_codec()
    registry = MemoryBuildingRegistry()
    offsets: Counter[tuple[str, int]] = Counter()
    out = []
    for line in read_jsonl(path, pseudonym_key=key, codec=codec):
        if line.kind is None or line.record is None:
            continue
        if line.kind not in SOURCE_TOPICS:
            registry.put(to_building(line.record))
            continue
        topic = SOURCE_TOPICS[line.kind]
        site = str(line.record.get("site_id", "")).encode()
        p = zlib.crc32(site) % PARTITIONS
        out.append(Message(topic, p, offsets[(topic, p)], site, codec.encode(line.kind,
                                                                               line.record),
                           [("kind", line.kind.encode())]))
        offsets[(topic, p)] += 1
    return out, registry


def run(messages: list[Message], registry: MemoryBuildingRegistry, dedup: DedupStore,
        batch: int, checkpoint_every: int, early: bool = True,
        handoff: bool = True) -> dict[str, Any]:
    settings = Settings.from_env()
    codec = load_codec()
    pack = load_rules(settings.rules_dir)
    metrics = create()
    handed = EventHandoff() if handoff else None
    ingestor = Ingestor(codec=codec, lanes=lanes_of(pack), registry=registry, dedup=dedup,
                        metrics=metrics, pseudonym_key=settings.pseudonym_key, handoff=handed)
    origins = {kind: [f"{topic}/{p}" for p in range(PARTITIONS)]
               for kind, topic in SOURCE_TOPICS.items()}
    correlator = Correlator(pack=pack, codec=codec, registry=registry,
                            store=MemoryStore("", "changelog"), metrics=metrics,
                            origins=origins, early=early, handoff=handed)
    producer = Producer()
    ingest_s = correlate_s = 0.0
    n = 0
    for start in range(0, len(messages), batch):
        outbox = Outbox(producer, codec, "hotpath")
        t0 = time.process_time()
        ingestor.handle_batch(messages[start:start + batch], outbox, PARTITIONS)
        send_ticks(producer, ingestor)
        t1 = time.process_time()
        forwards, producer.forwards = producer.forwards, []
        for f in range(0, len(forwards), batch):
            correlator.handle_batch(forwards[f:f + batch], outbox)
        n += 1
        if n % checkpoint_every == 0:
            correlator.persist(outbox)
        t2 = time.process_time()
        ingest_s += t1 - t0
        correlate_s += t2 - t1
    t0 = time.process_time()
    correlator.persist(Outbox(producer, codec, "hotpath"))
    correlate_s += time.process_time() - t0
    return {"ingest_s": ingest_s, "correlate_s": correlate_s, "sent": dict(producer.sent)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--in", dest="path", type=Path, required=True, help="interchange JSON lines")
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--checkpoint-every", type=int, default=3)
    p.add_argument("--redis", default=None, help="dedup in this Redis (default: memory twin)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", type=int, default=0, metavar="N")
    p.add_argument("--no-early", dest="early", action="store_false",
                   help="without the eager engine (HUB_EARLY_ALERTS=false); default: as the "
                   "worker runs, with it")
    p.add_argument("--no-handoff", dest="handoff", action="store_false",
                   help="the correlator decodes every frame entry (no events handed over by "
                   "ingest, hub/runtime/handoff.py); default: as the worker runs, with it")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    messages, registry = source_messages(args.path, settings.pseudonym_key)
    tune_for_throughput()  # the collector settings of `hub worker` (hub/gc_policy.py)
    print(f"{len(messages):,} source messages, {len(registry)} buildings")
    best = None
    for i in range(args.repeat):
        dedup: DedupStore = (RedisDedupStore(args.redis, 3_600_000,
                                             prefix=f"hub:hotpath:{time.time_ns()}:")
                             if args.redis else MemoryDedupStore())
        prof = cProfile.Profile() if args.profile and i == args.repeat - 1 else None
        if prof:
            prof.enable()
        got = run(messages, registry, dedup, args.batch, args.checkpoint_every, args.early,
                  args.handoff)
        if prof:
            prof.disable()
        ingest, correlate = (got["ingest_s"] * 1e6 / len(messages),
                             got["correlate_s"] * 1e6 / len(messages))
        print(f"run {i + 1}: ingest {ingest:6.1f} µs/event  correlate {correlate:6.1f} µs/event"
              f"  total {ingest + correlate:6.1f}{'  (profiled)' if prof else ''}")
        if not prof and (best is None or ingest + correlate < best[0] + best[1]):
            best = (ingest, correlate)
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
    print("sent:", ", ".join(f"{t} {c:,}" for t, c in sorted(got["sent"].items())))
    if best:
        print(f"best: ingest {best[0]:.1f} + correlate {best[1]:.1f} = {sum(best):.1f} µs/event"
              f" ({1e6 / sum(best):,.0f} events/s of worker CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
