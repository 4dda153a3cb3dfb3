"""The floor of worker_bench: a plain confluent-kafka loop, no Faust, no engine.

    HUB_APP_ID=hubbench-raw-x python -m benchmarks.raw_loop --out-topic hubbench-raw-out

It consumes the five source topics in its own consumer group (``HUB_APP_ID``, from the earliest
offset) in batches of up to 1,000 messages, decodes every value with the hub's codec (Avro
single-object, resolved to the reader schema), produces one message per event to ``--out-topic``
(the original value, same key, its kind as a header; the hub's producer settings: murmur2,
acks=all, idempotence, linger 5 ms), flushes the producer and then commits the batch's offsets
synchronously. At-least-once like the hub, with none of its work: no validation beyond the decode,
no dedup, no registry, no correlation, no state. Stops on SIGTERM/SIGINT after the batch at hand.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from hub.adapters.kafka import Consumer, KafkaException
from hub.adapters.kafka.io import make_producer, produce
from hub.codec import load_codec
from hub.model.errors import RecordError
from hub.settings import SOURCE_TOPICS, Settings

BATCH = 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker-id", default="raw")
    p.add_argument("--out-topic", required=True, help="a benchmark-only topic that exists")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    codec = load_codec(settings.schemas_dir)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer = Consumer({
        "bootstrap.servers": settings.bootstrap,
        "group.id": settings.app_id,
        "client.id": f"hubbench-{args.worker_id}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "log.connection.close": False,
    })
    producer = make_producer(settings, **{"client.id": f"hubbench-{args.worker_id}"})
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    consumer.subscribe(list(SOURCE_TOPICS.values()))
    undecodable = 0
    try:
        while not stopping:
            batch = consumer.consume(num_messages=BATCH, timeout=1.0)
            if not batch:
                continue
            for msg in batch:
                if msg.error():
                    continue
                value = msg.value() or b""
                try:
                    kind, _record = codec.decode(value)
                except RecordError:
                    kind = "undecodable"
                    undecodable += 1
                produce(producer, args.out_topic, value, key=msg.key(),
                        headers={"kind": kind.encode()}, on_delivery=delivered)
            if producer.flush(60) or failed:
                print(f"raw_loop: sends not delivered ({failed[:3]}); exiting without commit",
                      file=sys.stderr)
                return 70
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:  # a rebalance: the new owner reads the batch again
                print(f"raw_loop: commit failed: {exc}", file=sys.stderr)
    finally:
        consumer.close()
    if undecodable:
        print(f"raw_loop: {undecodable} undecodable values", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
